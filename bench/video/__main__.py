"""Dubbing a 10-minute two-speaker video end to end on the GPU, against a straightforward pipeline.

Every stage runs on a full-size random-weight model built in code (``bench.video.models``;
F5-TTS F5TTS_Base and Vocos from ``bench.studio``), loaded by the app through the same
variables a user sets. The video is synthetic (``bench.video.source``). Our path is
``dubbing.video.VideoDubber.dub``: a first job loads every model (cold), a second job on
the same video (another seed, so nothing is reused) is the timed, warm figure, stage by
stage. The straightforward pipeline runs in the same process on the very same model
objects, the way a script would call each library: Silero's ``get_speech_timestamps``,
demucs' ``apply_model`` with its defaults (one segment at a time, one random shift, fp32),
the transformers ASR pipeline over the whole sound (30 s chunks, one at a time),
WavLM one cue at a time, translation one line at a time (the same inputs as ours: a
sentence over several cues whole), upstream F5-TTS ``infer_batch_process`` one line at a
time (the lines ours spoke); extracting and muxing are the same ffmpeg
work in both and are counted once each. Random weights make noise: speed only.

    python -m bench.video --out video.json            # CUDA (targets: <= 60 s on an H100, >= 3x)
    python -m bench.video --quick --out video_cpu.json  # tiny models, a 30 s video, CPU: checks it runs

On the lent GPU machine: ``source bench/gpu_setup.sh`` with the wheels of bench/README.md
("Video dubbing") installed, and imageio-ffmpeg for ffmpeg; ffprobe is stood in for by
``bench.video.ffprobe_standin`` where there is none.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("bench.video")
TARGET_S, TARGET_SPEEDUP = 60.0, 3.0


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn):
    sync()
    start = time.perf_counter()
    value = fn()
    sync()
    return value, round(time.perf_counter() - start, 3)


def straightforward(dubber, state, ref, ref_text: str, nfe: int, device: str) -> dict[str, float]:
    """Each stage as a plain script calls its library, on our loaded models and our job's inputs."""
    import soundfile as sf
    from demucs.apply import apply_model

    from bench.studio import upstream_loop
    from dubbing.video.steps.speech import vad_model as silero_model
    from dubbing.video.steps.speech import silero
    from dubbing.video.stages import read_mono16k
    from dubbing.video.state import Cue
    from dubbing.video.steps.translate import sentence_groups

    models = dubber.models
    speech16k = read_mono16k(state.file("speech16k.wav"))
    seconds: dict[str, float] = {"extract": state.result("extract")["seconds"]}
    _, seconds["speech"] = timed(lambda: silero().get_speech_timestamps(torch.from_numpy(speech16k), silero_model(),
                                                               sampling_rate=16000))
    model, sep_device = models.separator.ensure_loaded()
    mix, _ = sf.read(state.file("original.flac"), dtype="float32", always_2d=True)
    wav = torch.from_numpy(mix.T.copy())
    ref_mono = wav.mean(0)
    norm = (wav - ref_mono.mean()) / (ref_mono.std() + 1e-8)
    _, seconds["separate"] = timed(lambda: apply_model(model, norm[None], device=sep_device, shifts=1, split=True,
                                                       overlap=0.25))
    whisper = models.manager.asr.ensure_loaded()
    _, seconds["transcribe"] = timed(lambda: whisper.pipe(
        {"raw": speech16k, "sampling_rate": 16000}, chunk_length_s=30, batch_size=1, return_timestamps=False,
        generate_kwargs={"language": "en", "task": "transcribe"}, ignore_warning=True))
    cues = state.cues("transcribe")
    wavlm, extractor = models.speaker.ensure_loaded()

    def embed_one_by_one():
        from sklearn.cluster import AgglomerativeClustering

        vectors = []
        for cue in cues:
            clip = speech16k[int(cue.start_s * 16000): int(cue.end_s * 16000)]
            inputs = extractor(clip, sampling_rate=16000, return_tensors="pt")
            with torch.inference_mode():
                vectors.append(wavlm(**{k: v.to(wavlm.device) for k, v in inputs.items()}).embeddings[0].float().cpu())
        return AgglomerativeClustering(n_clusters=2, metric="cosine", linkage="average").fit_predict(
            torch.stack(vectors).numpy())

    _, seconds["speakers"] = timed(embed_one_by_one)
    seconds["voices"] = state.result("voices")["seconds"]            # the same clips saved the same way
    nllb, tokenizer = models.translator.ensure_loaded()
    target = tokenizer.convert_tokens_to_ids("por_Latn")

    # The same inputs ours translates (a sentence over several cues goes whole), one at a time.
    labelled = [Cue(c.start_s, c.end_s, c.text, label) for c, label in zip(cues, state.result("speakers")["labels"])]
    inputs = [" ".join(labelled[i].text for i in group) for group in sentence_groups(labelled)]

    def translate_one_by_one():
        out = []
        tokenizer.src_lang = "eng_Latn"
        for text in inputs:
            batch = tokenizer(text, return_tensors="pt").to(nllb.device)
            with torch.inference_mode():
                ids = nllb.generate(**batch, forced_bos_token_id=target)
            out.append(tokenizer.decode(ids[0], skip_special_tokens=True))
        return out

    _, seconds["translate"] = timed(translate_one_by_one)
    f5 = models.manager.engines["f5tts"]
    texts = [text for text in state.result("translate")["texts"] if text.strip()]
    seconds["render"], _ = upstream_loop(f5.model, f5.vocoder, ref, ref_text, texts, f5.device, nfe)
    seconds["render"] = round(seconds["render"], 3)
    seconds["mix"] = state.result("mix")["seconds"]
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="video.json")
    parser.add_argument("--quick", action="store_true", help="tiny models, a 30 s video, the CPU")
    parser.add_argument("--minutes", type=float, default=None, help="the video's length (default 10; 0.5 quick)")
    parser.add_argument("--profile", default="f5tts_balanced")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    from bench.video.ffprobe_standin import install as install_ffprobe
    from bench.studio import build_models, ensure_ffmpeg, wait_for_warmup
    from bench.video.models import build_all
    from bench.video.source import make_video
    from dubbing import ProjectStore, Studio
    from dubbing.video import VideoDubber, VideoDubOptions
    from engines import EngineManager, Settings
    from engines.profiles import get_profile
    from engines.voices.library import VoiceLibrary

    seconds = (args.minutes or (0.5 if args.quick else 10.0)) * 60
    work = Path(tempfile.mkdtemp(prefix="voice-bench-video-"))
    tools = {"ffmpeg": ensure_ffmpeg(work), "ffprobe": install_ffprobe(work / "bin")}
    (env, ref, ref_text), build_f5_s = timed(lambda: build_models(args.quick, work))
    models_env, build_s = timed(lambda: build_all(work / "models", args.quick))
    env.update(models_env, VOICE_STUDIO_VOICES_DIR=str(work / "voices"), VOICE_STUDIO_ACCEL="auto")
    os.environ.update(env)                       # the helper models read their variables from the environment
    (video, said), source_s = timed(lambda: make_video(work / "source", seconds, (96, 64) if args.quick else (160, 120)))
    manager = EngineManager(Settings.from_env(env), library=VoiceLibrary(work / "voices"))
    studio = Studio(manager, ProjectStore(work / "outputs" / "projects"), threads=16)
    dubber = VideoDubber(studio, env)
    device = "cuda" if torch.cuda.is_available() and not args.quick else "cpu"
    report: dict = {"device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
                    "torch": torch.__version__, "quick": args.quick, "video_s": seconds, "sentences": len(said),
                    "speech_s": round(sum(b - a for a, b, _ in said), 1), "tools": tools,
                    "build_s": {"f5": build_f5_s, "other_models": build_s, "source": source_s}}
    manager.load("f5tts")
    report["f5_warmup"] = wait_for_warmup(manager.engines["f5tts"])

    def options(seed: int) -> VideoDubOptions:
        return VideoDubOptions(language="pt-BR", source_language="en", speakers=2, quality_profile=args.profile,
                               seed=seed, name=f"bench{seed}")

    cold, cold_s = timed(lambda: dubber.dub(video, options(1)))
    report["cold"] = {"seconds": cold_s, "stages": {s: r["seconds"] for s, r in cold.state.results.items()}}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    jobs = manager.worker.jobs_run, manager.worker.batches_run
    warm, warm_s = timed(lambda: dubber.dub(video, options(2)))
    totals = warm.report["totals"]
    report["ours"] = {"seconds": warm_s, "stages": {s: r["seconds"] for s, r in warm.state.results.items()},
                      "lines": totals["lines"], "failed": totals["failed"], "spoken_s": totals["spoken_s"],
                      "separation": warm.state.result("separate").get("status"),
                      "separation_fp16": warm.state.result("separate").get("fp16"),
                      "worker_jobs": manager.worker.jobs_run - jobs[0],
                      "worker_batches": manager.worker.batches_run - jobs[1], "rtf": round(warm_s / seconds, 4)}
    if device == "cuda":
        report["ours"]["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    if not args.no_baseline:
        nfe = get_profile(args.profile).nfe_step
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        stages, base_s = timed(lambda: straightforward(dubber, warm.state, ref, ref_text, nfe, device))
        report["straightforward"] = {"seconds": round(sum(stages.values()), 3), "stages": stages, "wall_s": base_s}
        if device == "cuda":
            report["straightforward"]["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        report["speedup"] = round(report["straightforward"]["seconds"] / warm_s, 2)
    if device == "cuda":
        report["peak_gpu_gib_process"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
    report["targets"] = {"seconds": TARGET_S, "speedup": TARGET_SPEEDUP,
                         "met": None if args.quick else bool(warm_s <= TARGET_S and report.get("speedup", 0) >= TARGET_SPEEDUP)}
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    ours = report["ours"]
    print(f"\nVideo dub on {report['device']}: {seconds / 60:.1f} min, {ours['lines']} lines; "
          f"ours {warm_s:.1f} s (cold {cold_s:.1f} s); stages " + ", ".join(f"{k} {v:.1f}" for k, v in ours["stages"].items()))
    if "straightforward" in report:
        base = report["straightforward"]
        print(f"Straightforward {base['seconds']:.1f} s; stages " + ", ".join(f"{k} {v:.1f}" for k, v in base["stages"].items())
              + f"\nSpeed-up {report['speedup']}x")
    return 0 if np.isfinite(warm_s) else 1


if __name__ == "__main__":
    raise SystemExit(main())
