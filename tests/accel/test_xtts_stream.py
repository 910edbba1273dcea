"""A streamed XTTS clip is the unstreamed clip, at about the unstreamed cost (tiny random XTTS-v2, CPU).

``XttsAccelerator.inference_stream`` vocodes only the newest HiFi-GAN frames with a little
left context, on the frame grid of one whole call. Greedy decoding makes the tokens of both
paths identical, so the joined chunks must equal ``inference``'s audio, and the frames the
vocoder is given must add up to about one call's. Upstream's ``Xtts.inference_stream``
vocodes every latent so far at each chunk: its count is there for comparison. Counting
frames, not seconds: two shared CPU cores time too unevenly to bound a ratio of seconds,
and on a GPU (``bench/serving/ttfb.py``) decoding, which both paths do once, dominates anyway.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("COQUI_TOS_AGREED", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest.importorskip("TTS")
from TTS.tts.layers.xtts.hifigan_decoder import HifiDecoder  # noqa: E402

from engines.xtts.accel.xtts import XttsAccelerator  # noqa: E402
from devtools.tiny_models import tiny_xtts_model  # noqa: E402

TEXT = "hello world, this is a longer test of the tiny model streaming."
TOKENS = 100  # forced length: five chunks of 20, the engine's own chunk size


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    xtts = tiny_xtts_model(tmp_path_factory.mktemp("xtts_stream"), TEXT, layers=1, max_audio_tokens=TOKENS + 8)
    a = xtts.args
    # XTTS's own HiFi-GAN decoder class with its real upsampling, kernels and dilations (so the same
    # reach and the same 256 samples per frame), 16x narrower than 512 channels: seconds on a CPU.
    xtts.hifigan_decoder = HifiDecoder(input_sample_rate=a.input_sample_rate, output_sample_rate=a.output_sample_rate,
                                       output_hop_length=a.output_hop_length,
                                       ar_mel_length_compression=a.gpt_code_stride_len,
                                       decoder_input_dim=a.decoder_input_dim, d_vector_dim=a.d_vector_dim,
                                       upsample_initial_channel_decoder=32)
    xtts.eval()
    return xtts


@pytest.fixture
def frames_vocoded(model, monkeypatch):
    """HiFi-GAN input frames per call, recorded on the way through (the call itself runs as is)."""
    counts: list[int] = []
    generator = model.hifigan_decoder.waveform_decoder
    real_forward = generator.forward

    def counting_forward(z, *args, **kwargs):
        counts.append(int(z.shape[-1]))
        return real_forward(z, *args, **kwargs)

    monkeypatch.setattr(generator, "forward", counting_forward)
    return counts


def conditioning(model):
    torch.manual_seed(1)
    return torch.randn(1, 32, model.gpt.model_dim) * 0.5, torch.randn(1, 512, 1)


@pytest.mark.parametrize("speed, first_chunk", [(1.0, None), (1.3, None), (1.0, 8)])
def test_joined_stream_is_the_unstreamed_clip_at_about_its_cost(model, frames_vocoded, speed, first_chunk):
    latent, speaker = conditioning(model)
    acc = XttsAccelerator(model, "cpu")
    kwargs = dict(greedy=True, speed=speed, min_new_tokens=TOKENS, max_new_tokens=TOKENS)
    whole = acc.inference(TEXT, "en", latent, speaker, **kwargs)["wav"]
    whole_frames = sum(frames_vocoded)
    frames_vocoded.clear()
    chunks = [c.numpy() for c in acc.inference_stream(TEXT, "en", latent, speaker, stream_chunk_size=20,
                                                      first_chunk_size=first_chunk, **kwargs)]
    stream_frames = sum(frames_vocoded)

    assert len(chunks) >= (5 if first_chunk else 4)
    if first_chunk:  # the short first chunk: (8 - 2) latents' samples, less the held-back overlap
        assert len(chunks[0]) < 6 * 1024 * 24000 / 22050
    joined = np.concatenate(chunks)
    assert joined.shape == whole.shape
    assert np.abs(joined - whole).max() <= 1e-3 * max(1e-3, np.abs(whole).max())
    assert stream_frames <= 1.35 * whole_frames, (stream_frames, whole_frames)
    print(f"speed {speed}: frames vocoded, stream {stream_frames} / whole {whole_frames}")


def test_upstream_stream_vocodes_every_latent_again(model, frames_vocoded):
    """What the accelerator avoids: upstream's stream of the same length vocodes several times over."""
    latent, speaker = conditioning(model)
    with torch.inference_mode():
        whole = model.inference(TEXT, "en", latent, speaker, do_sample=False, min_new_tokens=TOKENS,
                                max_new_tokens=TOKENS)
        whole_frames = sum(frames_vocoded)
        frames_vocoded.clear()
        chunks = list(model.inference_stream(TEXT, "en", latent, speaker, stream_chunk_size=20, do_sample=False,
                                             min_new_tokens=TOKENS, max_new_tokens=TOKENS))
    assert len(chunks) >= 4 and whole["wav"].size > 0
    assert sum(frames_vocoded) >= 2.5 * whole_frames
