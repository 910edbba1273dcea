"""XTTS-v2 rows: upstream ``Xtts.inference`` / ``inference_stream`` vs ``XttsAccelerator``.

Random weights would stop at random points, so both sides get the same forced length
(``min_new_tokens = max_new_tokens = N``: HF's MinNewTokensLengthLogitsProcessor on the
upstream side, the same rule on ours). Sampling settings are the XTTS-v2 config.json
ones (temperature 0.75, repetition_penalty 5.0, top_k 50, top_p 0.85).
"""

from __future__ import annotations

import logging
import time

import torch

from engines.xtts.accel.xtts import XttsAccelerator

from ..kit.inputs import TEXTS
from ..kit.timing import sync, timed

logger = logging.getLogger(__name__)

SAMPLING = dict(temperature=0.75, repetition_penalty=5.0, top_k=50, top_p=0.85)
OUT_SR = 24000


def conditioning(model, ref24k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Conditioning latents and speaker embedding from tensors (no file IO), timed."""
    sync()
    t0 = time.perf_counter()
    with torch.inference_mode():
        latent = model.get_gpt_cond_latents(ref24k, 24000, length=30, chunk_length=4)
        speaker = model.get_speaker_embedding(ref24k, 24000)
    sync()
    return latent, speaker, time.perf_counter() - t0


def upstream_tokens(model, text, latent, speaker, n, **kw):
    return model.inference(text, "en", latent, speaker, min_new_tokens=n, max_new_tokens=n, **SAMPLING, **kw)


def first_chunk_time(stream_factory) -> float:
    sync()
    t0 = time.perf_counter()
    gen = stream_factory()
    first = next(gen)
    _ = first.shape
    sync()
    dt = time.perf_counter() - t0
    gen.close()
    return dt


def bench_xtts(model, device, ref24k, repeats, token_counts=(200, 500), dtype=torch.float16) -> dict:
    text = TEXTS[300][:240]  # under en's 250-character limit: one call, no splitting
    latent, speaker, cond_s = conditioning(model, ref24k)
    _, _, cond_s_warm = conditioning(model, ref24k)
    out = {"text_chars": len(text), "conditioning_s": cond_s_warm, "conditioning_first_s": cond_s, "rows": []}
    t0 = time.perf_counter()
    acc = XttsAccelerator(model, device, dtype=dtype)
    out["accelerator_init_s"] = time.perf_counter() - t0
    out["warmup_s"] = acc.warmup()
    for n in token_counts:
        up_t, up = timed(lambda: upstream_tokens(model, text, latent, speaker, n), repeats)
        our_t, ours = timed(lambda: acc.inference(text, "en", latent, speaker, min_new_tokens=n,
                                                  max_new_tokens=n, **SAMPLING), repeats)
        assert len(up["gpt_latents"][0]) == n and ours["timings"]["tokens"] == n, "forced length not honoured"
        audio_s = len(ours["wav"]) / OUT_SR
        row = {
            "tokens": n, "audio_s": audio_s, "upstream": up_t.as_dict(), "ours": our_t.as_dict(),
            "upstream_ms_per_token": 1000 * up_t.median / n, "ours_ms_per_token": 1000 * our_t.median / n,
            "ours_decode_ms_per_token": 1000 * ours["timings"]["decode_s"] / n,
            "ours_prefill_ms": 1000 * ours["timings"]["prefill_s"],
            "ours_vocoder_ms": 1000 * ours["timings"]["vocoder_s"],
            "upstream_rtf": up_t.median / (len(up["wav"]) / OUT_SR), "ours_rtf": our_t.median / audio_s,
            "ratio": our_t.median / up_t.median,
        }
        out["rows"].append(row)
        logger.info("xtts row", extra=row)
    # streaming: time to the first chunk (upstream default chunk of 20 tokens)
    n = max(token_counts)
    up_ttfc = [first_chunk_time(lambda: model.inference_stream(text, "en", latent, speaker, stream_chunk_size=20,
                                                               min_new_tokens=n, max_new_tokens=n, **SAMPLING))
               for _ in range(repeats + 1)][1:]
    our_ttfc = [first_chunk_time(lambda: acc.inference_stream(text, "en", latent, speaker, stream_chunk_size=20,
                                                              min_new_tokens=n, max_new_tokens=n, **SAMPLING))
                for _ in range(repeats + 1)][1:]
    sync()
    t0 = time.perf_counter()
    chunks = list(acc.inference_stream(text, "en", latent, speaker, stream_chunk_size=20, min_new_tokens=n,
                                       max_new_tokens=n, **SAMPLING))
    sync()
    out["stream"] = {"upstream_ttfc_s": sorted(up_ttfc)[len(up_ttfc) // 2],
                     "ours_ttfc_s": sorted(our_ttfc)[len(our_ttfc) // 2],
                     "ours_full_stream_s": time.perf_counter() - t0, "ours_chunks": len(chunks), "tokens": n}
    out["greedy"] = greedy_check(model, acc, text, latent, speaker, device)
    del acc
    return out


def greedy_check(model, acc_half, text, latent, speaker, device, n=200) -> dict:
    """Greedy tokens: upstream (fp32, HF generate) vs ours in fp32 (same arithmetic) and in half."""
    tokens = acc_half.text_tokens(text, "en")
    with torch.inference_mode():
        up_codes = model.gpt.generate(cond_latents=latent, text_inputs=tokens, do_sample=False,
                                      repetition_penalty=5.0, max_new_tokens=n)[0].tolist()
    acc32 = XttsAccelerator(model, device, dtype=torch.float32)
    ours32 = acc32.inference(text, "en", latent, speaker, greedy=True, repetition_penalty=5.0,
                             max_new_tokens=n)["gpt_codes"].tolist()
    ours16 = acc_half.inference(text, "en", latent, speaker, greedy=True, repetition_penalty=5.0,
                                max_new_tokens=n)["gpt_codes"].tolist()

    def prefix(a, b):
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        return k

    del acc32
    return {"tokens_upstream": len(up_codes), "fp32_identical": ours32 == up_codes,
            "fp32_common_prefix": prefix(ours32, up_codes), "half_identical": ours16 == up_codes,
            "half_common_prefix": prefix(ours16, up_codes)}
