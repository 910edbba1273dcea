"""The bad-input corpus: one table, each case with its exact outcome.

Every row runs through the manager (the API the UI and the Gradio API call) and every
refused row also through the command line, where it must exit 2 with exactly one
``error:`` line on stderr carrying the same message. Refusals happen in validation,
before any model loads; the rows that work run real synthesis on the tiny models
(F5-TTS cloning, about a second each; one XTTS row for its number expansion).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from engines import EngineManager, InputError, Settings, SynthesisRequest
from engines.__main__ import EXIT_BAD_INPUT, cli_wording, main as cli_main
from engines.audio.waveforms import MAX_UPLOAD_BYTES
from engines.f5.engine import F5Engine

REPO = Path(__file__).resolve().parents[2]
TEXT = "hello there, this is a short test."
TRANSCRIPT = "some call me nature, others call me mother nature."
LONG_REPEATS = 200  # the 10-minute clip is a 3 s phrase said 200 times


@dataclass(frozen=True)
class Case:
    id: str
    text: str = TEXT
    language: str = "en"
    engine: str = "f5tts"
    preset: str | None = None       # dubbing (used when reference is None)
    reference: str | None = "wav"   # a key of the corpus: cloning
    transcript: str = TRANSCRIPT
    profile: str | None = None
    speed: float | None = None
    allow_fallback: bool = True
    # The outcome: either refused with a message holding every one of these ...
    refused: tuple[str, ...] = ()
    # ... or served by this engine, with no fallback.
    served_by: str | None = None
    checks: dict = field(default_factory=dict)  # metadata key -> (op, value)

    def request(self, corpus: dict[str, Path]) -> SynthesisRequest:
        if self.reference is None:
            return SynthesisRequest(text=self.text, language=self.language, engine=self.engine,
                                    voice_preset=self.preset, quality_profile=self.profile, speed=self.speed,
                                    allow_fallback=self.allow_fallback, seed=7)
        return SynthesisRequest(text=self.text, language=self.language, engine=self.engine,
                                reference_audio=self.reference_path(corpus), reference_text=self.transcript,
                                quality_profile=self.profile, speed=self.speed, allow_fallback=self.allow_fallback,
                                seed=7)

    def argv(self, corpus: dict[str, Path], out: Path) -> list[str]:
        common = ["--text", self.text, "--language", self.language, "--engine", self.engine, "--out", str(out)]
        if self.profile is not None:
            common += ["--profile", self.profile]
        if self.speed is not None:
            common += ["--speed", str(self.speed)]
        if not self.allow_fallback:
            common.append("--no-fallback")
        if self.reference is None:
            return ["synth", *common] + (["--preset", self.preset] if self.preset is not None else [])
        return ["clone", *common, "--reference", self.reference_path(corpus), "--reference-text", self.transcript]

    def reference_path(self, corpus: dict[str, Path]) -> str:
        return "" if self.reference == "none" else str(corpus[self.reference])


LIMIT_MB = MAX_UPLOAD_BYTES // 2**20

# The corpus. Each case asserts its exact outcome.
CASES: tuple[Case, ...] = (
    # --- text -----------------------------------------------------------------------
    Case("text_empty", text="", refused=("text is empty: type something to speak",)),
    Case("text_whitespace_only", text=" \n\t\u3000  ", refused=("text is empty: type something to speak",)),
    Case("text_100k_chars", text="palavra " * 12_500,
         refused=("text is 100,000 characters; the limit is 5,000 characters",)),
    Case("text_control_chars_only", text="\x01\x02\x07\x1b\x7f",
         refused=("text holds only control or invisible characters: nothing to speak",)),
    Case("text_zero_width_only", text="\u200b\u200c\u200d\ufeff\u2060",
         refused=("text holds only control or invisible characters: nothing to speak",)),
    Case("text_emoji_only", text="😀🎉 👍🏽🔥",
         refused=("text holds no letters or digits (only symbols or emoji): nothing to speak",)),
    Case("text_control_zero_width_emoji_mix", text="\u200b😀\x07\u200d🎉",
         refused=("text holds no letters or digits (only symbols or emoji): nothing to speak",)),
    # Arabic with bidi marks; a manager whose F5 declares "ar" (production XTTS serves ar).
    Case("text_right_to_left_arabic", text="\u200fمرحبا بالعالم، هذا اختبار قصير.\u200f", language="ar",
         served_by="f5tts", checks={"text_chars": ("==", 31)}),
    Case("text_numbers_abbreviations_f5", text="Dr. Smith paid $1,234.56 on 3/4/2025, approx. 25% more.",
         served_by="f5tts"),
    # XTTS expands numbers and abbreviations in its tokenizer: that code path must not choke.
    Case("text_numbers_abbreviations_xtts", text="Dr. Smith paid $1,234.56 on 3/4/2025, approx. 25% more.",
         engine="xtts", reference=None, preset="female_generic", served_by="xtts"),
    # --- selectors (including values only a direct API call can send) ---------------------
    Case("language_unknown", language="klingon", refused=("unknown language 'klingon'; known languages: en,",)),
    Case("language_empty", language="", refused=("language is empty; choose one of: en,",)),
    Case("language_not_served_no_fallback", language="ja", allow_fallback=False,
         refused=("language ja cannot be served by F5-TTS (F5-TTS serves pt-BR, en)",)),
    Case("preset_unknown", reference=None, preset="robot_voice",
         refused=("unknown voice 'robot_voice'; available voices: female_generic, male_generic",)),
    Case("preset_path_like", reference=None, preset="../../etc/passwd",
         refused=("unknown voice '../../etc/passwd'; available voices: female_generic, male_generic",)),
    Case("profile_unknown", profile="f5tts_turbo",
         refused=("unknown quality profile 'f5tts_turbo'; valid profiles: f5tts_fast,",)),
    Case("engine_unknown", engine="bark", refused=("unknown engine 'bark'; valid engines: f5tts, xtts",)),
    Case("speed_out_of_range", speed=9.0, refused=("speed 9.0 is out of range; use 0.5 to 2.0",)),
    # --- reference audio ----------------------------------------------------------------
    Case("reference_not_given", reference="none",
         refused=("no reference audio: upload or record a clip of the voice to clone",)),
    Case("reference_missing", reference="missing",
         refused=("reference audio file was not found on the server (upload it again)",)),
    Case("reference_0_bytes", reference="empty", refused=("reference audio file is empty (0 bytes)",)),
    Case("reference_random_bytes_wav", reference="random",
         refused=("reference audio could not be decoded (not an audio file, or corrupt): it is not in an "
                  "accepted audio format",)),
    Case("reference_truncated_wav", reference="truncated",
         refused=("reference audio file is truncated (its header promises 3.0 s of audio, the file holds 1.5 s): "
                  "upload it again",)),
    Case("reference_truncated_in_header", reference="truncated_header",
         refused=("reference audio file is truncated (it ends inside its header, before any audio): upload it again",)),
    Case("reference_0_2_seconds", reference="short",
         refused=("reference audio has 0.2 s of sound; at least 1 s is needed (3-12 s works best)",)),
    Case("reference_10_minutes_cut", reference="long", transcript=" ".join([TRANSCRIPT] * LONG_REPEATS),
         served_by="f5tts", checks={"reference_seconds": ("<=", 12.0), "reference_transcript_trimmed": ("==", True)}),
    Case("reference_pure_silence", reference="silence",
         refused=("reference audio is silent: record or upload a clip with speech in it",)),
    Case("reference_8khz_mono", reference="8k_mono", served_by="f5tts"),
    Case("reference_96khz_6ch", reference="96k_6ch", served_by="f5tts"),
    Case("reference_mp3", reference="mp3", served_by="f5tts"),
    Case("reference_m4a", reference="m4a", served_by="f5tts"),
    Case("reference_ogg", reference="ogg", served_by="f5tts"),
    Case("reference_flac", reference="flac", served_by="f5tts"),
    Case("reference_float_wav_nan", reference="nan",
         refused=("reference audio holds NaN or infinite samples (a corrupt float wav)",)),
    Case("reference_over_upload_limit", reference="oversize",
         refused=(f"reference audio file is {LIMIT_MB}.1 MB, over the upload limit of {LIMIT_MB} MB",)),
)
REFUSED = [c for c in CASES if c.refused]
SERVED = [c for c in CASES if c.served_by]


def test_the_table_is_whole():
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(bool(c.refused) != bool(c.served_by) for c in CASES), "each case has exactly one outcome"
    assert len(CASES) >= 30


# --- the corpus files ---------------------------------------------------------------------
def voiced(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    """Harmonics under a syllable-rate envelope: 'sound' to the level checks (as conftest's clip)."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((140, 280, 420, 560)))
    mono = (0.3 * tone * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) / np.abs(tone).max()).astype(np.float32)
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1) if channels > 1 else mono


def _ffmpeg(src: Path, dst: Path, *codec: str) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *codec, str(dst)], check=True)
    return dst


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    import soundfile as sf

    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed: scripts/install.sh installs it (apt-get install ffmpeg)")
    d = tmp_path_factory.mktemp("bad_inputs")
    files: dict[str, Path] = {"missing": d / "never_uploaded.wav"}
    base = d / "base.wav"
    sf.write(base, voiced(3.0, 22050), 22050, subtype="PCM_16")
    files["wav"] = base
    (d / "empty.wav").write_bytes(b"")
    files["empty"] = d / "empty.wav"
    (d / "random.wav").write_bytes(np.random.default_rng(0).bytes(64 * 1024))
    files["random"] = d / "random.wav"
    raw = base.read_bytes()
    (d / "truncated.wav").write_bytes(raw[: 44 + (len(raw) - 44) // 2])
    files["truncated"] = d / "truncated.wav"
    (d / "truncated_header.wav").write_bytes(raw[:30])
    files["truncated_header"] = d / "truncated_header.wav"
    for key, name, audio, rate, subtype in (
        ("short", "short.wav", voiced(0.2, 24000), 24000, "PCM_16"),
        ("long", "ten_minutes.wav", np.tile(voiced(3.0, 16000), LONG_REPEATS), 16000, "PCM_16"),
        ("silence", "silence.wav", np.zeros(3 * 24000, np.float32), 24000, "PCM_16"),
        ("8k_mono", "8k_mono.wav", voiced(3.0, 8000), 8000, "PCM_16"),
        ("96k_6ch", "96k_6ch.wav", voiced(3.0, 96000, channels=6), 96000, "PCM_24"),
    ):
        sf.write(d / name, audio, rate, subtype=subtype)
        files[key] = d / name
    files["mp3"] = _ffmpeg(base, d / "ref.mp3", "-c:a", "libmp3lame", "-b:a", "64k")
    files["m4a"] = _ffmpeg(base, d / "ref.m4a", "-c:a", "aac", "-b:a", "64k")
    files["ogg"] = _ffmpeg(base, d / "ref.ogg", "-c:a", "libvorbis")
    files["flac"] = _ffmpeg(base, d / "ref.flac", "-c:a", "flac")
    nan = voiced(3.0, 24000)
    nan[1000:1100] = np.nan
    sf.write(d / "nan.wav", nan, 24000, subtype="FLOAT")
    files["nan"] = d / "nan.wav"
    oversize = d / "oversize.wav"
    shutil.copy(base, oversize)
    with open(oversize, "r+b") as handle:  # a sparse tail: over the limit without writing 50 MB
        handle.truncate(MAX_UPLOAD_BYTES + 1)
    files["oversize"] = oversize
    return files


@pytest.fixture(scope="session")
def arabic_manager(manager, tiny_env):
    """The session's models, with the tiny F5 declared to speak Arabic too (the real XTTS does)."""
    settings = Settings.from_env({**os.environ, **tiny_env, "F5TTS_LANGUAGES": "pt-BR,en,ar"})
    f5 = F5Engine(settings.f5, settings.device, cache_dir=settings.cache_dir)
    return EngineManager(settings, engines={"f5tts": f5, "xtts": manager.engines["xtts"]})


# --- through the manager --------------------------------------------------------------------
@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_refused_through_the_manager(case, manager, corpus):
    with pytest.raises(InputError) as caught:
        manager.synthesize(case.request(corpus))
    for expected in case.refused:
        assert expected in str(caught.value)
    # Refusals never reach a model, and never leak a server path.
    assert str(corpus["wav"].parent) not in str(caught.value)


_OPS = {"==": lambda a, b: a == b, "<=": lambda a, b: a <= b}


@pytest.mark.parametrize("case", SERVED, ids=lambda c: c.id)
def test_served_through_the_manager(case, manager, arabic_manager, corpus):
    chosen = arabic_manager if case.language == "ar" else manager
    result = chosen.synthesize(case.request(corpus))
    meta = result.metadata
    assert (meta["tts_engine_used"], meta["engine_fallback"], meta["fallback_reason"]) == (case.served_by, False, None)
    assert result.sample_rate == 24000 and result.audio.size > 0 and np.isfinite(result.audio).all()
    assert meta["mode"] == ("clone" if case.reference else "dub")
    for key, (op, value) in case.checks.items():
        assert _OPS[op](meta[key], value), f"{key}={meta[key]!r}, expected {op} {value!r}"


def test_still_serving_after_the_whole_corpus(manager, corpus):
    """Run last in this module: every refusal above left the manager fully usable."""
    for case in REFUSED:
        with pytest.raises(InputError):
            manager.validate(case.request(corpus))
    result = manager.synthesize(Case("after").request(corpus))
    assert result.metadata["tts_engine_used"] == "f5tts" and not result.metadata["engine_fallback"]


# --- through the command line ---------------------------------------------------------------
@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_refused_through_the_cli(case, corpus, use_env, capsys, tmp_path, manager):
    """``main(argv)`` in this process (fast); the two subprocess tests below prove the boundary."""
    out = tmp_path / "out.wav"
    code = cli_main(case.argv(corpus, out))
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert code == EXIT_BAD_INPUT == 2
    assert len(errors) == 1, captured.err
    # The very message the manager gives, worded for a command line (a file, not an upload).
    with pytest.raises(InputError) as caught:
        manager.validate(case.request(corpus))
    assert errors[0] == f"error: {cli_wording(str(caught.value))}"
    for expected in case.refused:
        assert cli_wording(expected) in errors[0]
    assert captured.out == "" and not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["text_emoji_only", "reference_random_bytes_wav"])
def test_refused_through_the_cli_process(case_id, corpus, tiny_env, tmp_path):
    case = next(c for c in CASES if c.id == case_id)
    out = tmp_path / "out.wav"
    proc = subprocess.run([sys.executable, "-m", "engines", *case.argv(corpus, out)], cwd=REPO,
                          env={**os.environ, **tiny_env}, capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, proc.stderr
    assert len(errors) == 1 and cli_wording(case.refused[0]) in errors[0], proc.stderr
    assert proc.stdout == "" and not out.exists()
