"""F5-TTS rows: upstream ``infer_batch_process`` vs ``F5Accelerator`` on one model object.

Upstream's entry point ``infer_process`` reads the reference with ``torchaudio.load``,
which needs torchcodec (absent on the GPU machine). It then only chunks the text and
calls ``infer_batch_process``; we do exactly that with the same chunking rule
(``upstream_chunks``) and upstream's default parameters, passing the tensor.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import torch

from engines.f5.accel.f5 import F5AccelOptions, F5Accelerator
from engines.f5.accel.f5_upstream import upstream_chunks
from engines.f5.accel.f5_warmup import F5Warmup

from ..kit.inputs import REF_TEXT, SAMPLE_RATE, TEXTS
from ..kit.timing import rel_error, sync, timed

logger = logging.getLogger(__name__)


def upstream_call(model, vocoder, ref, chunks, device, nfe_step=32):
    from f5_tts.infer.utils_infer import infer_batch_process

    wave, sr, _mel = next(infer_batch_process((ref, SAMPLE_RATE), REF_TEXT, chunks, model, vocoder,
                                              progress=None, nfe_step=nfe_step, device=device))
    return wave


def crossfade(waves, sr=SAMPLE_RATE, seconds=0.15):
    """Upstream's join of chunk waveforms (same arithmetic as infer_batch_process)."""
    import numpy as np

    out = waves[0]
    for nxt in waves[1:]:
        n = min(int(seconds * sr), len(out), len(nxt))
        if n <= 0:
            out = np.concatenate([out, nxt])
            continue
        mixed = out[-n:] * np.linspace(1, 0, n) + nxt[:n] * np.linspace(0, 1, n)
        out = np.concatenate([out[:-n], mixed, nxt[n:]])
    return out


def warm_up(acc, texts=None) -> float:
    """Compile (when the accelerator compiles) and capture the shapes ``texts`` need (default: all)."""
    if not acc.options.use_graphs:
        return 0.0
    shapes = None
    if texts is not None:
        ref = __import__("bench.kit.inputs", fromlist=["reference_audio"]).reference_audio()
        shapes = sorted({shape_of(acc, ref, upstream_chunks(ref.shape[-1] / SAMPLE_RATE, REF_TEXT, t)) for t in texts})
    mode = "compile" if acc.options.compile else "graphs"
    return F5Warmup(acc, None, mode, None, {}).run_inline(shapes)


def shape_of(acc, ref, chunks) -> tuple[int, int]:
    request = acc.prepare(ref, REF_TEXT, chunks)
    rows = request.rows[: acc.options.max_rows]
    return acc.bucket(len(rows), max(r.duration for r in rows))


def ours_call(acc, ref, chunks, nfe_step=32):
    return crossfade(acc.infer(ref, REF_TEXT, chunks, nfe_step=nfe_step))


def correctness(model, vocoder, acc, ref, device) -> dict:
    """Same seed, one chunk: our generated mel vs upstream's (rel. L2 over generated frames)."""
    from f5_tts.infer.utils_infer import infer_batch_process

    text = TEXTS[100]
    torch.manual_seed(1234)
    _w, _sr, up_mel = next(infer_batch_process((ref, SAMPLE_RATE), REF_TEXT, [text], model, vocoder,
                                               progress=None, device=device))
    mels, _ = acc.sample_mels(ref, REF_TEXT, [text], seed=1234)
    up = torch.from_numpy(up_mel).T
    ours = mels[0].float().cpu()
    # the same chunk alone vs inside a padded batch with two other chunks
    batch_mels, _ = acc.sample_mels(ref, REF_TEXT, [text, TEXTS[300][:150], TEXTS[300][150:]], seed=1234)
    return {
        "mel_rel_err_vs_upstream": rel_error(ours, up),
        "mel_rel_err_batched_vs_alone": rel_error(batch_mels[0].float().cpu(), ours),
        "frames": int(up.shape[0]),
        "ours_dtype": str(acc.dtype),
        "upstream_dtype": str(next(model.parameters()).dtype),
    }


def bench_model(arch, model, vocoder, device, repeats, texts=(100, 300, 1000), compile=True,
                variants=False) -> dict:
    """Rows for one F5 architecture; with ``variants`` also per-optimisation rows (300 chars)."""
    ref = __import__("bench.kit.inputs", fromlist=["reference_audio"]).reference_audio()
    out = {"arch": arch, "rows": [], "variants": []}
    t0 = time.perf_counter()
    acc = F5Accelerator(model, vocoder, device, compile=compile)
    out["accelerator_init_s"] = time.perf_counter() - t0
    out["warmup_s"] = warm_up(acc)
    out["compiled"] = acc.options.compile
    out["compile_scope"] = acc.options.compile_scope
    out["correctness"] = correctness(model, vocoder, acc, ref, device)
    for n in texts:
        text = TEXTS[n]
        chunks = upstream_chunks(ref.shape[-1] / SAMPLE_RATE, REF_TEXT, text)
        up_t, up_wave = timed(lambda: upstream_call(model, vocoder, ref, chunks, device), repeats)
        # first call at a new shape pays a graph capture: time it once, then steady state
        sync()
        t_first = time.perf_counter()
        ours_call(acc, ref, chunks)
        sync()
        first_s = time.perf_counter() - t_first
        our_t, our_wave = timed(lambda: ours_call(acc, ref, chunks), repeats, warmup=0)
        audio_s = len(our_wave) / SAMPLE_RATE
        out["rows"].append({
            "chars": len(text), "chunks": len(chunks), "audio_s": audio_s,
            "upstream": up_t.as_dict(), "ours": our_t.as_dict(), "ours_first_call_s": first_s,
            "upstream_rtf": up_t.median / (len(up_wave) / SAMPLE_RATE), "ours_rtf": our_t.median / audio_s,
            "ratio": our_t.median / up_t.median,
        })
        logger.info("f5 row", extra=out["rows"][-1])
    if variants:
        out["variants"] = variant_rows(model, vocoder, device, ref, repeats, compile)
    del acc
    return out


def variant_rows(model, vocoder, device, ref, repeats, compile) -> list[dict]:
    """Before/after per optimisation, 300 characters (2 chunks) and 100 (1 chunk)."""
    base = F5AccelOptions(use_graphs=False, compile=False, vocoder_half=False, batch_sizes=(1,))
    batched = dataclasses.replace(base, batch_sizes=F5AccelOptions().batch_sizes)
    graphs = dataclasses.replace(batched, use_graphs=True, vocoder_half=True)
    steps = [
        ("fp32 ODE + half DiT, eager, chunk by chunk", base),
        ("+ chunks batched in one forward", batched),
        ("+ CUDA graph per step", dataclasses.replace(batched, use_graphs=True)),
        ("+ vocoder backbone in half", graphs),
        ("graphs, eager, cuDNN attention forced", dataclasses.replace(graphs, attn_backend="cudnn")),
    ]
    if compile:  # the main rows are compile-per-block with PyTorch's SDPA choice
        steps.append(("compile per block + cuDNN attention forced",
                      dataclasses.replace(graphs, compile=True, attn_backend="cudnn")))
    rows = []
    for label, opts in steps:
        if opts.compile:
            torch._dynamo.reset()  # compiled code from the main rows picked its SDPA kernel already
        acc = F5Accelerator(model, vocoder, device, options=opts)
        warm_up(acc, [TEXTS[100], TEXTS[300]])
        for n in (100, 300):
            chunks = upstream_chunks(ref.shape[-1] / SAMPLE_RATE, REF_TEXT, TEXTS[n])
            try:
                t, wave = timed(lambda: ours_call(acc, ref, chunks), repeats, warmup=2 if opts.compile else 1)
            except RuntimeError as exc:  # e.g. a forced SDPA backend that refuses masks: recorded
                rows.append({"variant": label, "chars": len(TEXTS[n]), "error": str(exc).splitlines()[0][:200]})
                logger.exception("f5 variant failed", extra={"variant": label})
                continue
            rows.append({"variant": label, "chars": len(TEXTS[n]), "median_s": t.median,
                         "rtf": t.median / (len(wave) / SAMPLE_RATE), "peak_gib": t.peak_gib})
            if opts.attn_backend:
                mels, _ = acc.sample_mels(ref, REF_TEXT, chunks[:1], seed=1234)
                base_acc = F5Accelerator(model, vocoder, device, options=dataclasses.replace(opts, attn_backend=None,
                                                                                             compile=False))
                ref_mels, _ = base_acc.sample_mels(ref, REF_TEXT, chunks[:1], seed=1234)
                rows[-1]["mel_rel_err_vs_default_backend"] = rel_error(mels[0].cpu(), ref_mels[0].cpu())
                del base_acc
            logger.info("f5 variant", extra=rows[-1])
        del acc
    return rows


def vocoder_half_error(vocoder, acc, device) -> float:
    """Relative error of the half-precision Vocos backbone against fp32, on a random-model mel."""
    ref = __import__("bench.kit.inputs", fromlist=["reference_audio"]).reference_audio()
    mels, _ = acc.sample_mels(ref, REF_TEXT, [TEXTS[100]], seed=0)
    mel = mels[0].permute(1, 0).unsqueeze(0)
    with torch.inference_mode():
        full = vocoder.decode(mel)
        with torch.autocast("cuda", dtype=acc.dtype):
            x = vocoder.backbone(mel)
        half = vocoder.head(x.float())
    return rel_error(half.cpu(), full.cpu())
