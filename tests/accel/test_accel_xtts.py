"""XttsAccelerator computes upstream's function: tiny random XTTS-v2 on CPU.

Greedy decoding must give exactly upstream's tokens (``Xtts.inference`` through HF
``generate``, same model object); latents and audio must match upstream's second
forward and HiFi-GAN call.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch

os.environ.setdefault("COQUI_TOS_AGREED", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest.importorskip("TTS")

from engines.xtts.accel.xtts import XttsAccelerator  # noqa: E402
from devtools.tiny_models import spread_gpt_weights, tiny_xtts_model  # noqa: E402
from engines.xtts.accel.xtts_sampling import SamplingParams  # noqa: E402

TEXT = "hello world, this is a test of the tiny model."


@pytest.fixture(scope="module")
def tiny_xtts(tmp_path_factory):
    model = tiny_xtts_model(tmp_path_factory.mktemp("xtts"), TEXT, layers=2, max_audio_tokens=60)
    spread_gpt_weights(model)
    model.eval()
    return model


def _conditioning(model):
    torch.manual_seed(1)
    latent = torch.randn(1, 32, model.gpt.model_dim) * 0.5
    speaker = torch.randn(1, 512, 1)
    return latent, speaker


@pytest.mark.parametrize("penalty", [5.0, 1.0])
def test_greedy_tokens_match_upstream_generate(tiny_xtts, penalty):
    model = tiny_xtts
    latent, _speaker = _conditioning(model)
    acc = XttsAccelerator(model, "cpu")
    tokens = acc.text_tokens(TEXT, "en")
    with torch.inference_mode():
        up_codes = model.gpt.generate(cond_latents=latent, text_inputs=tokens, do_sample=False,
                                      repetition_penalty=penalty, max_new_tokens=20)[0]
    ours = acc.decode(tokens, latent, SamplingParams(greedy=True, repetition_penalty=penalty), max_new_tokens=20)
    assert ours.codes.tolist() == up_codes.tolist()


def test_latents_and_audio_match_upstream_inference(tiny_xtts):
    model = tiny_xtts
    latent, speaker = _conditioning(model)
    up = model.inference(TEXT, "en", latent, speaker, do_sample=False, repetition_penalty=5.0, max_new_tokens=8)
    ours = XttsAccelerator(model, "cpu").inference(TEXT, "en", latent, speaker, greedy=True, repetition_penalty=5.0,
                                                   max_new_tokens=8)
    assert ours["gpt_latents"].shape == up["gpt_latents"].shape
    np.testing.assert_allclose(ours["gpt_latents"], up["gpt_latents"], rtol=1e-3, atol=1e-3)
    assert ours["wav"].shape == up["wav"].shape
    np.testing.assert_allclose(ours["wav"], up["wav"], rtol=1e-3, atol=1e-3)


def test_forced_length_and_sampling_runs(tiny_xtts):
    """min_new_tokens bars the stop token like HF's MinNewTokensLengthLogitsProcessor."""
    model = tiny_xtts
    latent, speaker = _conditioning(model)
    acc = XttsAccelerator(model, "cpu")
    torch.manual_seed(0)
    out = acc.inference(TEXT, "en", latent, speaker, temperature=0.75, top_k=50, top_p=0.85,
                        repetition_penalty=5.0, min_new_tokens=8, max_new_tokens=8)
    codes = out["gpt_codes"].tolist()
    assert len(codes) == 8 and model.gpt.stop_audio_token not in codes
    assert np.isfinite(out["wav"]).all() and out["wav"].dtype == np.float32


def test_stream_chunks_join_to_the_full_output(tiny_xtts):
    model = tiny_xtts
    latent, speaker = _conditioning(model)
    acc = XttsAccelerator(model, "cpu")
    full = acc.inference(TEXT, "en", latent, speaker, greedy=True, min_new_tokens=12, max_new_tokens=12)
    chunks = list(acc.inference_stream(TEXT, "en", latent, speaker, greedy=True, stream_chunk_size=6,
                                       min_new_tokens=12, max_new_tokens=12))
    assert len(chunks) >= 2
    joined = torch.cat([c.reshape(-1) for c in chunks]).numpy()
    assert abs(len(joined) - len(full["wav"])) <= 1024
    assert np.isfinite(joined).all()


def test_decoding_never_asks_for_cudnn_attention(tiny_xtts, monkeypatch):
    """On an H100, cuDNN's attention over the masked KV cache does not repeat (a greedy decode
    diverged from run to run, bench/xtts/repeat.py), so the prefill and every decode step run
    with cuDNN attention switched off; a CUDA graph keeps the kernel picked while it is captured."""
    model = tiny_xtts
    latent, _speaker = _conditioning(model)
    acc = XttsAccelerator(model, "cpu")
    tokens = acc.text_tokens(TEXT, "en")
    cudnn_allowed = []
    real = torch.nn.functional.scaled_dot_product_attention
    me = threading.get_ident()

    def observed(*args, **kwargs):
        if threading.get_ident() == me:  # another test's worker may attend meanwhile: only this decode counts
            cudnn_allowed.append(torch.backends.cuda.cudnn_sdp_enabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", observed)
    torch.backends.cuda.enable_cudnn_sdp(True)  # PyTorch's default, whatever ran in this process before
    out = acc.decode(tokens, latent, SamplingParams(greedy=True), min_new_tokens=10, max_new_tokens=10)
    assert out.n_tokens == 10
    layers = len(acc.packed.layers)
    assert len(cudnn_allowed) == layers * 10, "the prefill and 9 decode steps, every layer"
    assert not any(cudnn_allowed)
    assert torch.backends.cuda.cudnn_sdp_enabled(), "switched off only while XTTS attends"


def test_cache_attention_reads_only_the_filled_positions():
    """The decode step's attention over a fixed-length cache equals plain attention over its
    first ``filled`` positions, whatever the rest of the cache holds."""
    from engines.xtts.accel.xtts_attention import CacheAttention

    torch.manual_seed(3)
    heads, dim, max_len, filled = 4, 16, 50, 21
    attention = CacheAttention(torch.device("cpu"), torch.float32, max_len)
    assert attention.kernel == "sdpa", "FlashAttention is a CUDA kernel"
    q = torch.randn(1, heads, 1, dim)
    k, v = torch.randn(heads, max_len, dim), torch.randn(heads, max_len, dim)
    got = attention.over(torch.tensor([filled]))(q, k, v)
    want = torch.nn.functional.scaled_dot_product_attention(q, k[None, :, :filled], v[None, :, :filled])
    torch.testing.assert_close(got, want.transpose(1, 2).reshape(1, 1, -1))
    k[:, filled:], v[:, filled:] = 1e4, -1e4  # what an earlier, longer request left there
    torch.testing.assert_close(attention.over(torch.tensor([filled]))(q, k, v), got)
