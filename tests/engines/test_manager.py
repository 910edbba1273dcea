"""The manager on the real engines (tiny checkpoints): dubbing, cloning, fallback, health."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from engines import EngineManager, InputError, NoEngineAvailableError, Settings, SynthesisRequest
from engines.f5.engine import F5Engine
from engines.types import EngineOutput

PT_TEXT = "Olá, tudo bem? Isto é um teste curto."
EN_TEXT = "Hello there, this is a short test."


def _dub(**kw) -> SynthesisRequest:
    base = dict(text=PT_TEXT, language="pt-BR", engine="f5tts", voice_preset="female_generic", seed=7)
    return SynthesisRequest(**{**base, **kw})


def _clone(reference, **kw) -> SynthesisRequest:
    base = dict(text=EN_TEXT, language="en", engine="f5tts", reference_audio=str(reference),
                reference_text="This is my voice, recorded for a test.", seed=7)
    return SynthesisRequest(**{**base, **kw})


def _assert_audio(result, text):
    assert result.sample_rate == 24000
    assert result.audio.dtype == np.float32 and np.isfinite(result.audio).all()
    assert 0.2 < result.duration_s < len(text) / 15 * 4 + 15
    assert result.metadata["duration_s"] == pytest.approx(result.duration_s, abs=1e-3)
    for key in ("tts_engine_requested", "tts_engine_used", "engine_fallback", "fallback_reason",
                "quality_profile_requested", "quality_profile_used", "quality_profile_mapped", "language",
                "voice", "sample_rate", "duration_s", "load_s", "synth_s", "rtf"):
        assert key in result.metadata


@pytest.fixture(scope="module")
def corrupt_f5_manager(manager, tiny_env, tmp_path_factory):
    """F5 pointed at a truncated checkpoint; XTTS shared with the session manager (already real)."""
    bad = tmp_path_factory.mktemp("corrupt") / "model.safetensors"
    data = Path(tiny_env["F5TTS_CKPT"]).read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    settings = Settings.from_env({**tiny_env, "F5TTS_CKPT": str(bad)})
    f5 = F5Engine(settings.f5, "cpu", cache_dir=settings.cache_dir)
    return EngineManager(settings, engines={"f5tts": f5, "xtts": manager.engines["xtts"]})


def test_dub_on_f5(manager):
    result = manager.synthesize(_dub())
    _assert_audio(result, PT_TEXT)
    meta = result.metadata
    assert (meta["tts_engine_used"], meta["engine_fallback"], meta["fallback_reason"]) == ("f5tts", False, None)
    assert meta["quality_profile_used"] == "f5tts_balanced" and meta["quality_profile_mapped"] is False
    assert meta["voice"] == "female_generic" and meta["language"] == "pt-BR"


def test_dub_on_xtts_uses_the_studio_speaker(manager):
    result = manager.synthesize(_dub(engine="xtts", voice_preset="male_generic", quality_profile="xtts_fast"))
    _assert_audio(result, PT_TEXT)
    assert result.metadata["tts_engine_used"] == "xtts"
    assert result.metadata["xtts_speaker"] == "Damien Black"
    assert result.metadata["quality_profile_used"] == "xtts_fast"


@pytest.mark.slow
def test_clone_on_each_engine(manager, reference_wav):
    for engine in ("f5tts", "xtts"):
        result = manager.synthesize(_clone(reference_wav, engine=engine))
        _assert_audio(result, EN_TEXT)
        assert result.metadata["tts_engine_used"] == engine and not result.metadata["engine_fallback"]
        assert result.metadata["mode"] == "clone"


def test_same_seed_repeats_exactly(manager, reference_wav):
    first = manager.synthesize(_clone(reference_wav, seed=11))
    second = manager.synthesize(_clone(reference_wav, seed=11))
    np.testing.assert_array_equal(first.audio, second.audio)


@pytest.mark.slow
def test_clone_without_transcript_falls_back_to_xtts_and_says_so(manager, reference_wav):
    result = manager.synthesize(_clone(reference_wav, reference_text=""))
    meta = result.metadata
    assert meta["tts_engine_used"] == "xtts" and meta["engine_fallback"] is True
    assert "transcript" in meta["fallback_reason"]


@pytest.mark.slow
def test_language_f5_does_not_serve_falls_back(manager):
    result = manager.synthesize(_dub(text="Hola, esto es una prueba corta.", language="es"))
    assert result.metadata["tts_engine_used"] == "xtts"
    assert "does not serve language es" in result.metadata["fallback_reason"]


def test_language_no_engine_serves_is_input_error(manager):
    with pytest.raises(InputError, match="cannot be served"):
        manager.synthesize(_dub(language="ja", text="こんにちは"))
    with pytest.raises(InputError, match="cannot be served by F5-TTS"):
        manager.synthesize(_dub(language="es", allow_fallback=False))


@pytest.mark.slow
def test_corrupt_checkpoint_falls_back_with_reason_and_mapped_profile(corrupt_f5_manager, caplog):
    with caplog.at_level(logging.WARNING, logger="voice_studio.engines"):
        result = corrupt_f5_manager.synthesize(_dub(quality_profile="f5tts_ultra_natural"))
    meta = result.metadata
    assert meta["tts_engine_used"] == "xtts" and meta["engine_fallback"] is True
    assert "not a readable safetensors file" in meta["fallback_reason"]
    assert (meta["quality_profile_requested"], meta["quality_profile_used"], meta["quality_profile_mapped"]) == (
        "f5tts_ultra_natural", "xtts_expressive", True)
    fallbacks = [r for r in caplog.records if r.getMessage() == "engine fallback"]
    assert len(fallbacks) == 1
    assert fallbacks[0].engine_used == "xtts" and "safetensors" in fallbacks[0].reason


def test_no_fallback_turns_the_failure_into_an_error(corrupt_f5_manager):
    with pytest.raises(NoEngineAvailableError) as caught:
        corrupt_f5_manager.synthesize(_dub(allow_fallback=False))
    assert list(caught.value.reasons) == ["f5tts"]
    assert "safetensors" in caught.value.reasons["f5tts"]


def test_health_reports_each_engine(corrupt_f5_manager, manager):
    assert corrupt_f5_manager.engine_health("f5tts").status in ("not_loaded", "unavailable")  # health never loads
    corrupt_f5_manager.ensure_loaded("f5tts")
    corrupt_f5_manager.ensure_loaded("xtts")
    health = corrupt_f5_manager.health()
    assert health["status"] == "degraded"
    f5 = health["engines"]["f5tts"]
    assert f5["status"] == "unavailable" and "safetensors" in f5["error"]
    xtts = health["engines"]["xtts"]
    assert xtts["status"] == "available" and xtts["device"] == "cpu" and xtts["weights_present"]
    assert set(xtts) >= {"engine_name", "device", "sample_rate", "languages", "model", "weights_present",
                         "load_s", "error"}
    assert "timestamp" in health


@pytest.mark.slow
def test_synthesis_exception_falls_back(manager, monkeypatch, reference_wav):
    def explode(job):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(manager.engines["f5tts"], "synthesize", explode)
    result = manager.synthesize(_clone(reference_wav))
    assert result.metadata["tts_engine_used"] == "xtts"
    assert "failed during synthesis (RuntimeError: kernel exploded)" in result.metadata["fallback_reason"]


@pytest.mark.slow
def test_sanity_guard_rejects_silent_output(manager, monkeypatch, reference_wav):
    monkeypatch.setattr(manager.engines["f5tts"], "synthesize",
                        lambda job: EngineOutput(audio=np.zeros(24000 * 3, dtype=np.float32), chunks=1))
    result = manager.synthesize(_clone(reference_wav))
    assert result.metadata["tts_engine_used"] == "xtts"
    assert "sanity check: engine returned silence" in result.metadata["fallback_reason"]


@pytest.mark.slow
def test_long_text_is_chunked_with_progress(manager, reference_wav):
    text = " ".join(f"This is sentence number {i} of a longer text." for i in range(12))
    seen: list[float] = []
    result = manager.synthesize(_clone(reference_wav, text=text, engine="f5tts"),
                                progress=lambda fraction, message: seen.append(fraction))
    assert result.metadata["tts_engine_used"] == "f5tts" and result.metadata["chunks"] >= 2
    # Upstream inference reports per chunk; the accelerated path samples every chunk in one
    # batched forward and reports as its ODE steps advance.
    per_chunk = manager.engines["f5tts"].accelerator is None
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    assert len(seen) == result.metadata["chunks"] + 1 if per_chunk else len(seen) >= 8


@pytest.mark.slow
def test_xtts_splits_at_its_per_language_character_limit(manager, reference_wav, monkeypatch):
    assert manager.ensure_loaded("xtts") is None  # the model is patched below, so it must be there
    xtts = manager.engines["xtts"]
    monkeypatch.setitem(xtts.model.tokenizer.char_limits, "en", 40)
    seen_texts: list[str] = []
    # Whichever path tokenises each chunk: the accelerator (batched or not), else upstream's inference.
    runner, method = (xtts.accelerator, "text_ids") if xtts.accelerator is not None else (xtts.model, "inference")
    original = getattr(runner, method)
    monkeypatch.setattr(runner, method, lambda text, *a, **k: seen_texts.append(text) or original(text, *a, **k))
    text = "The first short sentence is here. The second one follows it. And a third."
    result = manager.synthesize(_clone(reference_wav, text=text, engine="xtts"))
    assert result.metadata["tts_engine_used"] == "xtts" and result.metadata["chunks"] == len(seen_texts) == 2
    assert seen_texts == ["The first short sentence is here.", "The second one follows it. And a third."]


@pytest.mark.slow
def test_reference_preprocessing_is_cached_and_leaves_no_temp_files(manager, reference_wav, monkeypatch, tmp_path):
    for name in manager.engines:
        assert manager.ensure_loaded(name) is None  # the model is patched below, so it must be there
    # A temp folder of this test's own: the global one is shared with every other program.
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(own_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    xtts = manager.engines["xtts"]
    calls = []
    original = xtts.model.get_gpt_cond_latents
    monkeypatch.setattr(xtts.model, "get_gpt_cond_latents", lambda *a, **k: calls.append(1) or original(*a, **k))
    import soundfile as sf

    samples, rate = sf.read(reference_wav)
    reference = tmp_path / "reference.wav"  # a clip of its own: no other test has cached its latents
    sf.write(reference, samples * 0.9, rate)
    for _ in range(2):
        manager.synthesize(_clone(reference, engine="xtts", text="Short one."))
        manager.synthesize(_clone(reference, engine="f5tts", text="Short one."))
    assert len(calls) == 1, "conditioning latents must be computed once per reference"
    assert os.listdir(own_tmp) == []


@pytest.mark.slow
def test_concurrent_first_requests_load_each_engine_once(tiny_env, reference_wav, monkeypatch):
    fresh = EngineManager(Settings.from_env(tiny_env))
    f5 = fresh.engines["f5tts"]
    loads = []
    original = f5._load
    monkeypatch.setattr(f5, "_load", lambda device: loads.append(threading.get_ident()) or original(device))
    results, errors = [], []

    def work(i):
        try:
            results.append(fresh.synthesize(_clone(reference_wav, text=f"Request number {i} here.")))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 4 and len(loads) == 1
    assert {r.metadata["tts_engine_used"] for r in results} == {"f5tts"}


def test_unknown_selectors_list_valid_values(manager):
    with pytest.raises(InputError, match="available voices: female_generic, male_generic"):
        manager.synthesize(_dub(voice_preset="robot"))
    with pytest.raises(InputError, match="valid engines"):
        manager.synthesize(_dub(engine="bark"))
    with pytest.raises(InputError, match="valid profiles"):
        manager.synthesize(_dub(quality_profile="max"))


def test_unload_and_explicit_load(tiny_env):
    fresh = EngineManager(Settings.from_env(tiny_env))
    assert fresh.engine_health("f5tts").status == "not_loaded"
    assert fresh.load("f5tts")["status"] == "available"
    assert fresh.unload("f5tts")["status"] == "not_loaded"


@pytest.mark.slow
def test_an_xtts_stream_hands_out_its_first_piece_before_the_next_is_made(tiny_env, monkeypatch):
    """The first audio leaves as soon as the engine has made it (only the cross-fade is held back).
    One decode at a time here (``VOICE_STUDIO_XTTS_BATCH=0``); tests/accel/test_xtts_batching.py checks the
    same of a stream decoded in the continuous batch."""
    manager = EngineManager(Settings.from_env({**tiny_env, "VOICE_STUDIO_XTTS_BATCH": "0"}))
    manager.load("xtts")
    loaded = manager.engines["xtts"]._loaded
    owner = loaded.accelerator if loaded.accelerator is not None else loaded.model
    real = owner.inference_stream
    made, release = [], threading.Event()

    def one_piece_then_wait(*args, **kwargs):
        tokens = min(45, manager.engines["xtts"]._loaded.model.gpt.max_gen_mel_tokens)
        for part in real(*args, **{**kwargs, "min_new_tokens": tokens, "max_new_tokens": tokens}):
            made.append(part)
            yield part
            assert release.wait(60), "the first piece never reached the caller"

    monkeypatch.setattr(owner, "inference_stream", one_piece_then_wait)
    stream = manager.stream(_dub(engine="xtts", language="en", text=EN_TEXT, voice_preset="male_generic",
                                 quality_profile="xtts_fast", allow_fallback=False))
    try:
        first = next(iter(stream))
        assert len(made) == 1 and len(first) > 0
    finally:
        release.set()
    rest = list(stream)
    assert len(made) >= 2 and sum(len(p) for p in rest) > 0
