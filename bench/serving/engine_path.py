"""The product path on a GPU: ``EngineManager`` with full-size random weights, cold start included.

``bench.run`` compares the accelerators with upstream on the same model objects. This
script measures what a user of the app gets, end to end through the manager, in one
process: the F5 checkpoint in the ``ema.`` key layout (which upstream's loader cannot
read) read, patched in memory, checked, loaded and warmed up, with the bytes written to
disk; ``manager.synthesize`` (cloning from a 6 s reference file, upstream's default
profile) against upstream's ``infer_batch_process`` with ``infer_process``'s chunking on
the very same model objects; an XTTS dub through the manager; peak GPU memory with both
engines resident. Random weights make noise: nothing here is about speech quality.

    python -m bench.serving.engine_path --out engine_path.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import soundfile as sf
import torch

from bench.f5.rows import upstream_call
from bench.kit.inputs import REF_TEXT, SAMPLE_RATE, TEXTS, reference_audio
from bench.kit.models import _dir_bytes, build_vocos, build_xtts, randomize_zero_inits, workdir
from bench.kit.timing import sync, timed

logger = logging.getLogger("bench.serving.engine_path")


def write_ema_prefixed_f5(path: Path) -> int:
    """A full-size random F5TTS_Base saved with ``ema.`` keys (a layout seen in the wild)."""
    from ema_pytorch import EMA
    from safetensors.torch import save_file

    from engines.weights.checkpoints import build_cfm
    from engines.settings import packaged_vocab, resolve_architecture

    torch.manual_seed(0)
    model, _ = build_cfm(resolve_architecture("F5TTS_Base").dit_kwargs, str(packaged_vocab()))
    randomize_zero_inits(model)
    state = EMA(model, include_online_model=False).state_dict()
    save_file({"ema." + k.removeprefix("ema_model."): v.contiguous() for k, v in state.items()
               if k.startswith("ema_model.")}, str(path))
    return path.stat().st_size


def add_studio_speakers(xtts_dir: Path) -> None:
    g = torch.Generator().manual_seed(3)
    voices = {name: {"gpt_cond_latent": torch.randn(1, 32, 1024, generator=g) * 0.1,
                     "speaker_embedding": torch.nn.functional.normalize(torch.randn(1, 512, 1, generator=g), dim=1)}
              for name in ("Ana Florence", "Damien Black")}
    torch.save(voices, xtts_dir / "speakers_xtts.pth")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="engine_path.json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--accel", default="auto", choices=("auto", "graphs", "compile", "off"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from engines import EngineManager, Settings, SynthesisRequest

    work = workdir()
    report: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "accel": args.accel}
    ckpt = work / "f5_ema_prefixed.safetensors"
    report["f5_checkpoint_bytes"] = write_ema_prefixed_f5(ckpt)
    voc, _ = build_vocos("cpu", work)
    del voc
    xtts_model, _ = build_xtts("cpu", work, list(TEXTS.values()))
    del xtts_model
    add_studio_speakers(work / "xtts")
    ref_path = work / "reference.wav"
    sf.write(ref_path, reference_audio()[0].numpy(), SAMPLE_RATE)

    env = {"F5TTS_CKPT": str(ckpt), "F5TTS_ARCH": "F5TTS_Base", "F5TTS_LANGUAGES": "en,pt-BR",
           "F5TTS_VOCODER": str(work / "vocos"), "XTTS_MODEL": str(work / "xtts"),
           "VOICE_STUDIO_CACHE_DIR": str(work / "cache"), "VOICE_STUDIO_DEVICE": "cuda",
           "VOICE_STUDIO_ACCEL": args.accel}
    manager = EngineManager(Settings.from_env(env))
    before = _dir_bytes(work)
    torch.cuda.reset_peak_memory_stats()
    for name in ("f5tts", "xtts"):
        start = time.perf_counter()
        health = manager.load(name)
        report[f"{name}_load"] = {"wall_s": round(time.perf_counter() - start, 2), "status": health["status"],
                                  "error": health["error"], **health["details"]}
    report["bytes_written_by_loads"] = _dir_bytes(work) - before
    report["gpu_memory_both_loaded_gib"] = torch.cuda.memory_allocated() / 2**30

    f5 = manager.engines["f5tts"]
    ref = reference_audio()
    rows = []
    for chars, text in TEXTS.items():
        request = SynthesisRequest(text=text, language="en", engine="f5tts", reference_audio=str(ref_path),
                                   reference_text=REF_TEXT, quality_profile="f5tts_balanced", seed=1,
                                   allow_fallback=False)
        ours, result = timed(lambda: manager.synthesize(request), args.repeats)
        from engines.f5.accel.f5_upstream import upstream_chunks

        chunks = upstream_chunks(ref.shape[-1] / SAMPLE_RATE, REF_TEXT, text)
        upstream, wave = timed(lambda: upstream_call(f5.model, f5.vocoder, ref, chunks, "cuda"), args.repeats)
        rows.append({"chars": chars, "chunks_ours": result.metadata["chunks"], "chunks_upstream": len(chunks),
                     "audio_s_ours": result.duration_s, "audio_s_upstream": len(wave) / SAMPLE_RATE,
                     "ours": ours.as_dict(), "upstream": upstream.as_dict(),
                     "rtf_ours": ours.median / result.duration_s,
                     "rtf_upstream": upstream.median / (len(wave) / SAMPLE_RATE),
                     "speedup": upstream.median / ours.median, "accelerated": result.metadata["accelerated"]})
    report["f5_rows"] = rows

    dub = SynthesisRequest(text=TEXTS[100], language="en", engine="xtts", voice_preset="female_generic", seed=2,
                           allow_fallback=False)
    try:
        xt, xres = timed(lambda: manager.synthesize(dub), args.repeats)
        report["xtts_dub"] = {**xt.as_dict(), "audio_s": xres.duration_s, "rtf": xt.median / xres.duration_s,
                              "accelerated": xres.metadata["accelerated"]}
    except Exception as exc:  # random weights may stop early and trip the sanity guard: record, do not hide
        report["xtts_dub"] = {"error": f"{type(exc).__name__}: {exc}"}
    sync()
    report["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print_table(report)
    return 0


def print_table(r: dict) -> None:
    out = sys.stdout
    out.write(f"\nEngine path on {r['gpu']} (VOICE_STUDIO_ACCEL={r['accel']})\n")
    f5 = r["f5tts_load"]
    out.write(f"F5 load via manager: {f5['wall_s']} s (read {f5.get('read_s')} s, patch+check {f5.get('patch_s')} s, "
              f"warm-up {f5.get('warmup_s')} s), layout {f5.get('checkpoint_layout')}, "
              f"bytes written by loads: {r['bytes_written_by_loads']}\n")
    out.write(f"XTTS load via manager: {r['xtts_load']['wall_s']} s (warm-up {r['xtts_load'].get('warmup_s')} s)\n")
    out.write("| chars | chunks | audio s | upstream s | ours (manager) s | speed-up | RTF ours |\n|---|---|---|---|---|---|---|\n")
    for row in r["f5_rows"]:
        out.write(f"| {row['chars']} | {row['chunks_ours']} | {row['audio_s_ours']:.1f} | {row['upstream']['median_s']:.3f} "
                  f"| {row['ours']['median_s']:.3f} | {row['speedup']:.2f}x | {row['rtf_ours']:.4f} |\n")
    out.write(f"XTTS dub via manager: {json.dumps(r['xtts_dub'])}\n")
    out.write(f"GPU memory, both engines loaded: {r['gpu_memory_both_loaded_gib']:.2f} GiB; peak {r['peak_gpu_gib']:.2f} GiB\n")


if __name__ == "__main__":
    raise SystemExit(main())
