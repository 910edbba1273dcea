"""Knobs reach the real engines (tiny checkpoints): what runs changes, and the metadata says so."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch

from devtools.tiny_models import build_f5_model, ema_state_dict, write_f5_variant
from engines import EngineManager, Settings, SynthesisRequest
from engines.audio.silences import remove_silences
from engines.f5.engine import F5Engine

EN_TEXT = "Hello there, this is a short test."


def _clone(reference, **kw) -> SynthesisRequest:
    base = dict(text=EN_TEXT, language="en", engine="f5tts", reference_audio=str(reference),
                reference_text="This is my voice, recorded for a test.", seed=7, allow_fallback=False)
    return SynthesisRequest(**{**base, **kw})


@pytest.fixture(scope="module")
def live_f5(manager, tiny_env, tmp_path_factory):
    """A manager whose tiny F5 moves its ODE state: the session's DiT keeps upstream's zero init of its
    output layers (its velocity is 0, so every knob would give the same audio). XTTS is the session's."""
    model = build_f5_model(tiny_env["F5TTS_VOCAB"])
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for param in model.transformer.parameters():
            if not param.any():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
    path = write_f5_variant(ema_state_dict(model), tmp_path_factory.mktemp("live_f5") / "model.safetensors",
                            "ema_model")
    settings = Settings.from_env({**os.environ, **tiny_env, "F5TTS_CKPT": str(path)})
    f5 = F5Engine(settings.f5, "cpu", cache_dir=settings.cache_dir)
    return EngineManager(settings, engines={"f5tts": f5, "xtts": manager.engines["xtts"]})


def _ode_steps(manager, request) -> tuple[int, object]:
    """How many ODE steps ran: F5's progress ticks once per step when there are fewer than 16."""
    sampled: list[str] = []
    result = manager.synthesize(request, progress=lambda _f, message: sampled.append(message)
                                if message.endswith("sampled") else None)
    return len(sampled), result


def test_nfe_steps_sets_how_many_ode_steps_run(live_f5, reference_wav):
    manager = live_f5
    steps_4, four = _ode_steps(manager, _clone(reference_wav, knobs={"nfe_step": 4}))
    steps_6, six = _ode_steps(manager, _clone(reference_wav, knobs={"nfe_step": 6}))
    assert (steps_4, steps_6) == (4, 6)
    assert four.metadata["knobs_changed"] == {"nfe_step": 4, "seed": 7}
    assert six.metadata["quality_profile_used"] == "f5tts_balanced"
    assert not np.array_equal(four.audio, six.audio)


def test_f5_guidance_and_sway_change_the_audio_and_same_values_repeat(live_f5, reference_wav):
    manager = live_f5
    base = manager.synthesize(_clone(reference_wav, knobs={"nfe_step": 4}))
    again = manager.synthesize(_clone(reference_wav, knobs={"nfe_step": 4}))
    np.testing.assert_array_equal(base.audio, again.audio)
    for knob, value in (("cfg_strength", 0.0), ("sway_sampling_coef", 0.5)):
        other = manager.synthesize(_clone(reference_wav, knobs={"nfe_step": 4, knob: value}))
        assert not np.array_equal(base.audio, other.audio), knob
        assert other.metadata["knobs_changed"][knob] == value


def test_cross_fade_changes_the_join_of_a_long_texts_chunks(live_f5, reference_wav):
    manager = live_f5
    text = " ".join(["This sentence is one of several that make a long text."] * 6)
    short = manager.synthesize(_clone(reference_wav, text=text, knobs={"nfe_step": 4, "cross_fade_duration": 0.0}))
    long = manager.synthesize(_clone(reference_wav, text=text, knobs={"nfe_step": 4, "cross_fade_duration": 0.5}))
    assert short.metadata["chunks"] == long.metadata["chunks"] > 1
    joins = short.metadata["chunks"] - 1
    assert len(short.audio) - len(long.audio) == pytest.approx(joins * 0.5 * 24000, abs=joins)


def test_remove_silences_cuts_a_long_pause_and_keeps_half_a_second_each_side():
    rate = 24000
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    pause = np.zeros(3 * rate, dtype=np.float32)
    cut = remove_silences(np.concatenate([tone, pause, tone]), rate)
    assert len(cut) / rate == pytest.approx(2 + 2 * 0.5, abs=0.05)
    np.testing.assert_array_equal(remove_silences(tone, rate), tone)  # nothing to cut: untouched


def test_remove_silences_on_f5_is_reported(live_f5, reference_wav):
    result = live_f5.synthesize(_clone(reference_wav, knobs={"nfe_step": 4, "remove_silence": True}))
    assert result.metadata["knobs_changed"] == {"nfe_step": 4, "remove_silence": True, "seed": 7}
    assert result.duration_s > 0.2


def test_xtts_top_k_1_takes_the_likeliest_token_whatever_the_seed(manager, reference_wav):
    def xtts(seed, **knobs):
        return manager.synthesize(_clone(reference_wav, engine="xtts", seed=seed, knobs=knobs))

    greedy_a, greedy_b = xtts(1, top_k=1), xtts(2, top_k=1)
    np.testing.assert_array_equal(greedy_a.audio, greedy_b.audio)
    assert xtts(1).metadata["knobs_changed"] == {"seed": 1}
    assert not np.array_equal(xtts(1).audio, xtts(2).audio)  # sampling: the seed matters
    assert greedy_a.metadata["knobs_changed"] == {"top_k": 1, "seed": 1}


def test_xtts_temperature_reaches_sampling(manager, reference_wav):
    def xtts(**knobs):
        return manager.synthesize(_clone(reference_wav, engine="xtts", seed=5, knobs=knobs))

    base, again, hot = xtts(), xtts(), xtts(temperature=1.9, top_k=1024, top_p=1.0)
    np.testing.assert_array_equal(base.audio, again.audio)
    assert not np.array_equal(base.audio, hot.audio)
    assert hot.metadata["knobs_changed"] == {"temperature": 1.9, "top_k": 1024, "top_p": 1.0, "seed": 5}


def test_rows_with_different_knobs_decode_together_as_they_do_alone(manager, reference_wav):
    settings = [{"temperature": 0.3}, {"top_k": 1}, {"repetition_penalty": 12.0, "top_p": 0.5}, {}]
    alone = [manager.synthesize(_clone(reference_wav, engine="xtts", seed=3, knobs=k)) for k in settings]
    together: list = [None] * len(settings)
    start = threading.Barrier(len(settings))

    def run(index: int) -> None:
        start.wait()
        request = _clone(reference_wav, engine="xtts", seed=3, knobs=settings[index])
        together[index] = manager.synthesize(request)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(settings))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(r.metadata.get("decode_batch_peak", 1) for r in together) > 1, "the rows never shared a step"
    for index, result in enumerate(together):
        # The same tokens (so the same length); the vocoded floats may differ in the last bits, as kernels
        # picked for a batch of b rows round differently from those for one (engines/xtts/accel/xtts_rows.py).
        assert result.metadata["decode_tokens"] == alone[index].metadata["decode_tokens"], settings[index]
        np.testing.assert_allclose(result.audio, alone[index].audio, atol=1e-5, err_msg=str(settings[index]))


def test_knobs_of_the_engine_that_did_not_serve_are_listed_as_ignored(manager, reference_wav):
    request = _clone(reference_wav, engine="xtts", knobs={"nfe_step": 8, "temperature": 0.5})
    meta = manager.synthesize(request).metadata
    assert meta["knobs_changed"] == {"temperature": 0.5, "seed": 7}
    assert meta["knobs_ignored"] == ["nfe_step"]
