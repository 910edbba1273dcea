"""Saved voices through the manager on the real engines (tiny checkpoints).

A voice saved once is used by id on F5-TTS and XTTS; after a restart (a new manager and
new engine objects) XTTS takes its latents from the voice's cache; the cache follows the
model; deleting a voice mid-request breaks nothing; the presets are voices too, and the
metadata says where a preset's F5 reference came from.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pytest
import soundfile as sf

from engines import EngineManager, NoEngineAvailableError, Settings, SynthesisRequest
from engines.voices.library import FolderVoiceCache, VoiceLibrary, VoiceLibraryError
from engines.xtts.engine import XttsEngine

pytestmark = pytest.mark.slow

TEXT = "Hello there, this is a short test."
TRANSCRIPT = "This is my voice, recorded for a test."


@pytest.fixture(scope="module")
def settings(tiny_env):
    return Settings.from_env({**os.environ, **tiny_env})


@pytest.fixture
def library(tmp_path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "voices")


@pytest.fixture
def clip(reference_wav, tmp_path):
    """The test clip at a level of this test's own: the session's XTTS engine keeps latents in
    memory by the clip's content, so each test needs a clip no other test has used."""
    import zlib

    samples, rate = sf.read(reference_wav, dtype="float32")
    level = 0.5 + (zlib.crc32(tmp_path.name.encode()) % 1000) / 2000
    path = tmp_path / "clip.wav"
    sf.write(path, samples * level, rate)
    return path


def with_library(manager, library, settings=None, engines=None) -> EngineManager:
    """A manager on ``library`` that shares the session's loaded engines (unless given others)."""
    return EngineManager(settings or manager.settings, engines=engines or manager.engines, library=library)


def restarted(manager, library, settings) -> EngineManager:
    """As after a restart: a new manager and a new XTTS engine object (nothing in memory)."""
    xtts = XttsEngine(settings.xtts, settings.device, accel=settings.accel)
    return with_library(manager, library, settings, engines={"f5tts": manager.engines["f5tts"], "xtts": xtts})


def dub(manager, voice, engine, **kw):
    request = SynthesisRequest(text=TEXT, language="en", engine=engine, voice_preset=voice, seed=5,
                               quality_profile=f"{engine}_fast", **kw)
    return manager.synthesize(request)


def assert_spoken(result, engine, voice="maria"):
    meta = result.metadata
    assert meta["tts_engine_used"] == engine and meta["engine_fallback"] is False, meta.get("fallback_reason")
    assert meta["voice"] == voice and meta["voice_kind"] == "saved"
    assert result.sample_rate == 24000 and np.isfinite(result.audio).all() and result.duration_s > 0.2


def test_saved_voice_on_both_engines_then_after_a_restart_from_its_cache(manager, library, settings, clip):
    saved = library.add("Maria", clip, TRANSCRIPT, "en", notes="for the test", consent="recorded by me")
    assert saved["id"] == "maria" and saved["kind"] == "saved" and saved["engines"] == ["f5tts", "xtts"]
    first = with_library(manager, library)
    listed = first.voices.list()
    assert [(v["id"], v["kind"]) for v in listed] == [("female_generic", "preset"), ("male_generic", "preset"),
                                                      ("maria", "saved")]

    assert_spoken(dub(first, "maria", "f5tts"), "f5tts")
    computed = dub(first, "maria", "xtts")
    assert_spoken(computed, "xtts")
    assert computed.metadata["latents_source"] == "computed"
    model_key = manager.engines["xtts"].model_key
    cache_file = library.root / "maria" / "cache" / f"xtts-{model_key}.safetensors"
    assert cache_file.is_file()

    after = restarted(manager, library, settings)
    assert [v["id"] for v in after.voices.list()][-1] == "maria"
    again = dub(after, "maria", "xtts")
    assert_spoken(again, "xtts")
    assert again.metadata["latents_source"] == "voice_cache"
    assert again.metadata["voice_name"] == "Maria"
    # Same seed, same latents: the cached voice speaks exactly as the computed one did.
    assert np.array_equal(again.audio, computed.audio)


def test_a_voice_loads_in_milliseconds_once_its_cache_exists(manager, library, clip):
    library.add("Maria", clip, TRANSCRIPT)
    dub(with_library(manager, library), "maria", "xtts")  # writes the cache
    fresh = VoiceLibrary(library.root)  # nothing decoded in memory yet
    start = time.perf_counter()
    voice = fresh.get("maria")
    latents = voice.cache.load("xtts", manager.engines["xtts"].model_key)
    elapsed = time.perf_counter() - start
    assert set(latents) == {"gpt_cond_latent", "speaker_embedding"}
    assert elapsed < 0.5, f"loading a saved voice took {elapsed * 1000:.0f} ms"
    start = time.perf_counter()
    assert fresh.get("maria").reference is voice.reference  # decoded once, then reused
    assert time.perf_counter() - start < 0.05


def test_the_stored_clip_is_normalised_and_the_transcript_cut_in_step(library, tmp_path):
    rate, seconds = 44100, 20.0  # stereo, 44.1 kHz, 20 s of "words" with pauses
    t = np.arange(int(seconds * rate)) / rate
    words = (np.sin(2 * np.pi * 1.0 * t) > -0.3).astype(np.float32)
    mono = 0.3 * np.sin(2 * np.pi * 200 * t) * words
    long_clip = tmp_path / "long.wav"
    sf.write(long_clip, np.stack([mono, mono], axis=1), rate)
    transcript = " ".join(f"Sentence number {n} is here." for n in range(1, 21))
    saved = library.add("Long One", long_clip, transcript)
    info = sf.info(str(library.root / "long-one" / "reference.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
    assert 6.0 <= info.duration <= 12.0 and saved["duration_s"] == pytest.approx(info.duration, abs=1e-3)
    assert transcript.startswith(saved["transcript"]) and len(saved["transcript"]) < len(transcript)
    assert library.record("long-one").transcript_trimmed is True


def test_without_transcript_a_saved_voice_serves_xtts_and_f5_says_why(manager, library, clip):
    library.add("No Words", clip, "")
    with_voices = with_library(manager, library)
    result = dub(with_voices, "no-words", "f5tts")
    meta = result.metadata
    assert meta["tts_engine_used"] == "xtts" and meta["engine_fallback"] is True
    # No speech recognition here (offline, no Whisper weights): the reason says both ways to fix it.
    reason = meta["fallback_reason"]
    assert reason.startswith("F5-TTS needs the reference transcript: saved voice no-words has none and ")
    assert "VOICE_STUDIO_ASR_MODEL" in reason and "save the voice again with the words of its clip" in reason
    with pytest.raises(NoEngineAvailableError, match="saved voice no-words has none"):
        dub(with_voices, "no-words", "f5tts", allow_fallback=False)


def test_deleting_a_voice_while_a_request_uses_it(manager, library, clip, caplog):
    library.add("Maria", clip, TRANSCRIPT)
    resolve = library.get

    def get_then_delete(voice_id):  # the voice is removed after the request resolved it
        voice = resolve(voice_id)
        library.remove(voice_id)
        return voice

    library.get = get_then_delete
    caplog.set_level(logging.INFO, logger="voice_studio.voices")
    result = dub(restarted(manager, library, manager.settings), "maria", "xtts")
    assert_spoken(result, "xtts")
    assert result.metadata["latents_source"] == "computed"
    assert not (library.root / "maria").exists(), "the cache write must not bring the voice folder back"
    assert any("voice removed during a request" in r.getMessage() for r in caplog.records)


def test_a_failed_cache_write_is_logged_and_the_request_succeeds(manager, library, clip, monkeypatch, caplog):
    library.add("Maria", clip, TRANSCRIPT)

    def disk_full(path, writer):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("engines.voices.library.cache.atomic_write", disk_full)
    caplog.set_level(logging.WARNING, logger="voice_studio.voices")
    result = dub(restarted(manager, library, manager.settings), "maria", "xtts")
    assert_spoken(result, "xtts")
    warnings = [r for r in caplog.records if r.getMessage() == "voice cache not written"]
    assert warnings and "No space left on device" in warnings[0].error
    assert not list((library.root / "maria").glob("cache/*"))


def test_the_cache_follows_the_model(tmp_path, caplog):
    import torch

    folder = tmp_path / "maria"
    folder.mkdir()
    (folder / "voice.json").write_text("{}")
    cache = FolderVoiceCache(folder)
    tensors = {"gpt_cond_latent": torch.ones(1, 4, 8), "speaker_embedding": torch.zeros(1, 16, 1)}
    cache.save("xtts", "model-a", tensors)
    assert torch.equal(cache.load("xtts", "model-a")["gpt_cond_latent"], tensors["gpt_cond_latent"])
    assert cache.load("xtts", "model-b") is None  # another model: computed again
    cache.save("xtts", "model-b", tensors)
    assert sorted(p.name for p in (folder / "cache").iterdir()) == ["xtts-model-b.safetensors"]
    assert cache.path("xtts", "../../etc") is None and cache.load("xtts", "../x") is None
    (folder / "cache" / "xtts-model-b.safetensors").write_bytes(b"corrupt")
    caplog.set_level(logging.WARNING, logger="voice_studio.voices")
    assert cache.load("xtts", "model-b") is None
    assert any("voice cache unreadable" in r.getMessage() for r in caplog.records)


def test_a_half_written_voice_is_never_listed(library, clip, monkeypatch):
    import engines.voices.library.store as store

    real_write = store.atomic_write_bytes

    def fail_on_record(path, data):
        if path.name == "voice.json":
            raise OSError(5, "Input/output error")
        return real_write(path, data)

    monkeypatch.setattr(store, "atomic_write_bytes", fail_on_record)
    with pytest.raises(VoiceLibraryError, match=r"could not be saved: the voice folder is not writable "
                                                r"\(Input/output error\); set VOICE_STUDIO_VOICES_DIR"):
        library.add("Maria", clip, TRANSCRIPT)
    assert library.list() == [] and list(library.root.iterdir()) == []
    (library.root / "half").mkdir()
    (library.root / "half" / "reference.wav").write_bytes(b"RIFF")  # a clip, no voice.json
    staged = library.root / ".staging-abc"
    staged.mkdir()
    monkeypatch.setattr(store, "atomic_write_bytes", real_write)
    library.add("Maria", clip, TRANSCRIPT)
    for name in ("voice.json", "reference.wav"):  # a complete voice still being staged
        (staged / name).write_bytes((library.root / "maria" / name).read_bytes())
    assert [v["id"] for v in library.list()] == ["maria"]


def test_presets_are_voices_and_say_where_their_f5_reference_came_from(manager, tiny_env, tmp_path, reference_wav):
    listed = manager.voices.list()
    assert {(v["id"], v["kind"]) for v in listed} >= {("female_generic", "preset"), ("male_generic", "preset")}
    result = manager.synthesize(SynthesisRequest(text=TEXT, language="en", engine="f5tts",
                                                 voice_preset="male_generic", seed=3, quality_profile="f5tts_fast"))
    assert result.metadata["tts_engine_used"] == "f5tts" and result.metadata["voice_kind"] == "preset"
    assert result.metadata["preset_reference"] == "rendered_by_xtts"

    presets_dir = tmp_path / "presets"
    presets_dir.mkdir()
    (presets_dir / "male_generic.wav").write_bytes(reference_wav.read_bytes())
    (presets_dir / "male_generic.txt").write_text(TRANSCRIPT)
    own = Settings.from_env({**os.environ, **tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir),
                             "VOICE_STUDIO_CACHE_DIR": str(tmp_path / "cache1")})
    result = EngineManager(own, engines=manager.engines).synthesize(
        SynthesisRequest(text=TEXT, language="en", engine="f5tts", voice_preset="male_generic", seed=3,
                         quality_profile="f5tts_fast"))
    assert result.metadata["preset_reference"] == "user_clip" and result.metadata["tts_engine_used"] == "f5tts"


def test_a_preset_render_goes_through_the_sanity_guard(manager, tiny_env, tmp_path, monkeypatch, caplog):
    """The XTTS render of a preset's F5 reference is an ordinary request: a render that fails the
    guard is not used, and the preset falls back to the clip packaged with f5-tts."""
    import engines.manager as manager_module
    from engines.voices.presets import PRESETS

    sentence = PRESETS["female_generic"].reference_text_for("en")[1]
    real_problem = manager_module.audio_problem

    def reject_the_render(audio, rate, text, *rest):
        return "forced by the test" if text == sentence else real_problem(audio, rate, text, *rest)

    monkeypatch.setattr(manager_module, "audio_problem", reject_the_render)
    fresh = Settings.from_env({**os.environ, **tiny_env, "VOICE_STUDIO_CACHE_DIR": str(tmp_path / "cache")})
    caplog.set_level(logging.WARNING)
    result = EngineManager(fresh, engines=manager.engines).synthesize(
        SynthesisRequest(text=TEXT, language="en", engine="f5tts", voice_preset="female_generic", seed=3,
                         quality_profile="f5tts_fast"))
    assert result.metadata["tts_engine_used"] == "f5tts"
    assert result.metadata["preset_reference"] == "packaged"
    refused = [r for r in caplog.records if r.getMessage() == "preset reference not rendered"]
    assert refused and "failed the sanity check: forced by the test" in refused[0].reason
