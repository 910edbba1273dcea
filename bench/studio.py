"""The Dubbing Studio path on a GPU: 100 cues (about 10 min of speech) against a one-by-one upstream loop.

Full-size random-weight F5-TTS (F5TTS_Base, ``ema.`` key layout) and Vocos, built as
``bench.serving.engine_path`` builds them, loaded by an ``EngineManager`` through the same
variables a user sets. The Studio path is ``dubbing.Studio.dub``: parse the SRT, render
every line's natural take (16 threads; the device worker batches them into shared
forwards), fit the lines that overflow their slot (F5 target lengths, time-stretch),
place them and export track, stems, subtitles and report. The baseline, in the same
run on the very same model objects, is the loop a script would write: upstream's
``infer_batch_process`` once per line, with ``infer_process``'s chunking, natural pace,
no fitting and no export. Then one line is edited and re-rendered, as in the Studio tab.
Random weights make noise: nothing here is about speech quality.

    python -m bench.studio --out studio.json             # on the GPU (target: 100 cues <= 20 s on an H100)
    python -m bench.studio --quick --out studio_cpu.json # tiny models on the CPU: checks that it runs

On the lent GPU machine, carry ``pysubs2`` 1.8.1 and ``imageio-ffmpeg`` (a static ffmpeg in a
wheel; the image has no ffmpeg, which the time-stretch rung needs) with the other wheels in
``.whl/`` (bench/README.md) and start with ``source bench/gpu_setup.sh &&``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import soundfile as sf
import torch

from bench.kit.inputs import REF_TEXT, SAMPLE_RATE, _SENTENCES, reference_audio

logger = logging.getLogger("bench.studio")

CUE_CHARS = 80          # about 6 s of speech with the 6 s, 77-byte reference
FIT_FACTORS = (1.3, 1.1, 0.95, 0.85, 0.78, 1.2, 0.9, 0.72)   # slot / estimated natural length, cycled


def cue_texts(count: int, chars: int) -> list[str]:
    """``count`` different sentences of about ``chars`` characters (rotating the benchmark sentences)."""
    words = " ".join(_SENTENCES * 8).split()
    texts = []
    for i in range(count):
        out, start = "", (i * 7) % len(words)
        for word in words[start:]:
            if len(out) + len(word) + 2 > chars:
                break
            out = f"{out} {word}".strip()
        texts.append(out.rstrip(",.") + ".")
    return texts


def build_srt(texts: list[str], ref_seconds: float, ref_text: str) -> tuple[bytes, float]:
    """Cues one after another, slots sized from F5's length rule times a cycle of factors (some overflow)."""
    per_byte = ref_seconds / len(ref_text.encode("utf-8"))
    at, blocks = 0.5, []
    for i, text in enumerate(texts):
        natural = per_byte * len(text.encode("utf-8"))
        slot = natural * FIT_FACTORS[i % len(FIT_FACTORS)]
        blocks.append(f"{i + 1}\n{_stamp(at)} --> {_stamp(at + slot)}\n{'Ana' if i % 2 else 'Rui'}: {text}\n")
        at += slot + 0.3
    return "\n".join(blocks).encode("utf-8"), at


def _stamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def build_models(quick: bool, work: Path) -> tuple[dict[str, str], torch.Tensor, str]:
    """Environment variables for the manager, the reference tensor and its transcript."""
    ref_dir = work / "presets"
    ref_dir.mkdir(parents=True, exist_ok=True)
    if quick:
        from devtools.tiny_models import build_all

        env = build_all(work / "tiny").env()
        ref, ref_text = reference_audio(3.0), "a short reference clip for the test."
    else:
        from bench.serving.engine_path import write_ema_prefixed_f5
        from bench.kit.models import build_vocos

        ckpt = work / "f5_ema_prefixed.safetensors"
        write_ema_prefixed_f5(ckpt)
        build_vocos("cpu", work)
        env = {"F5TTS_CKPT": str(ckpt), "F5TTS_ARCH": "F5TTS_Base", "F5TTS_LANGUAGES": "en,pt-BR",
               "F5TTS_VOCODER": str(work / "vocos")}
        ref, ref_text = reference_audio(), REF_TEXT
    for name in ("female_generic", "male_generic"):  # the presets speak from the benchmark reference
        sf.write(ref_dir / f"{name}.wav", ref[0].numpy(), SAMPLE_RATE)
        (ref_dir / f"{name}.txt").write_text(ref_text, encoding="utf-8")
    env.update({"XTTS_MODEL": str(work / "no_xtts"), "VOICE_STUDIO_PRESETS_DIR": str(ref_dir),
                "VOICE_STUDIO_CACHE_DIR": str(work / "cache"),
                "VOICE_STUDIO_DEVICE": "cpu" if quick else "cuda"})
    return env, ref, ref_text


def ensure_ffmpeg(work: Path) -> str:
    """The system's ffmpeg, else the one in the ``imageio-ffmpeg`` wheel, put on PATH as ``ffmpeg``."""
    if shutil.which("ffmpeg"):
        return shutil.which("ffmpeg")
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise SystemExit("ffmpeg is needed (the time-stretch rung): install it, or carry the imageio-ffmpeg "
                         "wheel") from exc
    folder = work / "bin"
    folder.mkdir(exist_ok=True)
    (folder / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    return str(folder / "ffmpeg")


def wait_for_warmup(engine, limit_s: float = 1200.0) -> dict:
    deadline = time.monotonic() + limit_s
    while engine.warmup and engine.warmup.get("state") not in ("ready", "partial", "failed") \
            and time.monotonic() < deadline:
        time.sleep(1.0)
    return dict(engine.warmup)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def upstream_loop(model, vocoder, ref, ref_text: str, texts: list[str], device: str, nfe_step: int) -> tuple[float, float]:
    """One ``infer_batch_process`` call per line (upstream's chunking, default settings); (seconds, audio s)."""
    from f5_tts.infer.utils_infer import infer_batch_process

    from engines.f5.accel.f5_upstream import upstream_chunks

    audio_s = 0.0
    sync()
    start = time.perf_counter()
    for i, text in enumerate(texts):
        torch.manual_seed(i)
        chunks = upstream_chunks(ref.shape[-1] / SAMPLE_RATE, ref_text, text)
        wave, _, _ = next(infer_batch_process((ref, SAMPLE_RATE), ref_text, chunks, model, vocoder,
                                              progress=None, nfe_step=nfe_step, device=device))
        audio_s += len(wave) / SAMPLE_RATE
    sync()
    return time.perf_counter() - start, audio_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="studio.json")
    parser.add_argument("--cues", type=int, default=None, help="default 100 (8 with --quick)")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="tiny models on the CPU (checks that it runs)")
    parser.add_argument("--profile", default="f5tts_balanced")
    parser.add_argument("--cache-dir", default=None, help="VOICE_STUDIO_CACHE_DIR (default: a new folder); "
                                                          "give one folder to two runs to time a second start")
    parser.add_argument("--accel", default="auto", choices=("auto", "graphs", "compile"),
                        help="VOICE_STUDIO_ACCEL for the app's engines (compile: warm-up takes minutes)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from dubbing import DubOptions, ProjectStore, Studio
    from engines import EngineManager, Settings
    from engines.profiles import get_profile

    cues = args.cues or (8 if args.quick else 100)
    work = Path(tempfile.mkdtemp(prefix="voice-bench-studio-"))
    env, ref, ref_text = build_models(args.quick, work)
    env["VOICE_STUDIO_ACCEL"] = args.accel
    if args.cache_dir:
        env["VOICE_STUDIO_CACHE_DIR"] = args.cache_dir
    ffmpeg = ensure_ffmpeg(work)
    manager = EngineManager(Settings.from_env(env))
    report: dict = {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor()
                    or "cpu", "torch": torch.__version__, "quick": args.quick, "cues": cues, "threads": args.threads,
                    "profile": args.profile, "accel": args.accel, "ffmpeg": ffmpeg}
    start = time.perf_counter()
    health = manager.load("f5tts")
    f5 = manager.engines["f5tts"]
    report["f5_load_s"] = round(time.perf_counter() - start, 2)
    report["f5_load_status"] = health["status"]
    report["warmup"] = wait_for_warmup(f5)

    texts = cue_texts(cues, 40 if args.quick else CUE_CHARS)
    srt, timeline_s = build_srt(texts, ref.shape[-1] / SAMPLE_RATE, ref_text)
    studio = Studio(manager, ProjectStore(work / "outputs" / "projects"), threads=args.threads)
    options = DubOptions(language="en", voice="female_generic", engine="f5tts", quality_profile=args.profile,
                         speaker_voices={"Ana": "male_generic"}, seed=7)
    # A short project first, so the timed run pays no first-call costs (reference preparation, allocator).
    studio.dub(build_srt(texts[:2], ref.shape[-1] / SAMPLE_RATE, ref_text)[0], options)
    jobs_before = manager.worker.jobs_run, manager.worker.batches_run
    sync()
    start = time.perf_counter()
    project, exported, summary = studio.dub(srt, options, name="bench")
    sync()
    studio_s = time.perf_counter() - start
    totals = exported.report["totals"]
    renders = Counter("fitted" if "target_duration_s" in (studio.store.load_take(project, line.result["take_key"])[1])
                      else "natural" for line in project.lines)
    report["studio"] = {
        "seconds": round(studio_s, 3), "timeline_s": round(timeline_s, 1), "speech_s": totals["spoken_s"],
        "natural_speech_s": totals["natural_speech_s"], "fit_methods": totals["fit_methods"],
        "failed": totals["failed"], "lines_with_fitted_take": renders.get("fitted", 0),
        "render_s": round(summary.seconds, 3), "export_s": round(studio_s - summary.seconds, 3),
        "worker_jobs": manager.worker.jobs_run - jobs_before[0],
        "worker_batches": manager.worker.batches_run - jobs_before[1],
        "rtf": round(studio_s / max(totals["spoken_s"], 1e-9), 4),
    }
    edited = project.lines[len(project.lines) // 2]
    studio.update_lines(project, [{"index": edited.index, "text": edited.text.replace(".", ", again.")}])
    start = time.perf_counter()
    again = studio.render(project)
    studio.export(project, summary=again)
    report["one_line_edit"] = {"seconds": round(time.perf_counter() - start, 3), "rendered": again.rendered,
                               "unchanged": len(again.unchanged)}

    nfe = get_profile(args.profile).nfe_step
    upstream_s, upstream_audio = upstream_loop(f5.model, f5.vocoder, ref, ref_text, texts, f5.device, nfe)
    report["upstream_loop"] = {"seconds": round(upstream_s, 3), "audio_s": round(upstream_audio, 1),
                               "rtf": round(upstream_s / upstream_audio, 4)}
    report["speedup"] = round(upstream_s / studio_s, 2)
    report["target_s"] = 20.0
    report["meets_target"] = bool(studio_s <= 20.0) if not args.quick else None
    if torch.cuda.is_available():
        report["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    s, u = report["studio"], report["upstream_loop"]
    print(f"\nStudio path on {report['device']}: {cues} cues, {s['speech_s']:.0f} s of speech "
          f"({s['fit_methods']}), {s['seconds']:.2f} s (render {s['render_s']:.2f} s, export {s['export_s']:.2f} s; "
          f"{s['worker_jobs']} jobs in {s['worker_batches']} batches)\n"
          f"Upstream one-by-one loop (natural pace, no fitting): {u['seconds']:.2f} s for {u['audio_s']:.0f} s of audio\n"
          f"Speed-up {report['speedup']}x; one-line edit re-rendered in {report['one_line_edit']['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
