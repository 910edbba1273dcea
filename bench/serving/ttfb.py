"""Time to the first audio byte through ``POST /v1/audio/speech``, measured with a real HTTP client.

``python app.py`` runs as a subprocess on loopback (the product, as a user starts it) on
full-size random-weight models (``bench.kit.models`` / ``bench.serving.engine_path`` builders: F5TTS_Base
in the ``ema.`` layout, Vocos, XTTS-v2 with two studio speakers), on CUDA with the app's
accelerators. After one request per engine (loads) and the F5 warm-up, each engine is asked
``--repeats`` times per format with httpx streaming; the figure is the time from sending the
request to the first body byte, warm. Targets (H100): XTTS <= 150 ms, F5 <= 400 ms.

Also: the XTTS full stream against the unstreamed call, through the API (same text and
seed: the same tokens) and directly on the accelerator with a forced length of
``--tokens`` (target <= 1.3x).

    python -m bench.serving.ttfb --out bench/results/h100/ttfb.json     # a CUDA machine
    python -m bench.serving.ttfb --quick                                 # tiny models on the CPU: does it run
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

logger = logging.getLogger("bench.serving.ttfb")

TEXTS = {
    "xtts": "Hello, and welcome. This sentence is read aloud by the XTTS engine, streamed as it is made.",
    "f5tts": "Hello, and welcome. This sentence is read aloud by the F5 engine, the first chunk first.",
}
WARM_STATES = ("pending", "compiling", "capturing")
BENCH_VOICE = "bench"


def full_size_env(work: Path, accel: str) -> dict[str, str]:
    import soundfile as sf

    from bench.serving.engine_path import add_studio_speakers, write_ema_prefixed_f5
    from bench.kit.inputs import SAMPLE_RATE, reference_audio
    from bench.kit.inputs import TEXTS as BENCH_TEXTS
    from bench.kit.models import build_vocos, build_xtts

    ckpt = work / "f5_ema_prefixed.safetensors"
    write_ema_prefixed_f5(ckpt)
    build_vocos("cpu", work)
    build_xtts("cpu", work, list(BENCH_TEXTS.values()) + list(TEXTS.values()))
    add_studio_speakers(work / "xtts")
    sf.write(work / "reference.wav", reference_audio()[0].numpy(), SAMPLE_RATE)
    # A saved voice from a clip and its transcript, not a preset: a preset's F5 reference is
    # spoken by XTTS, and random XTTS weights babble for half a minute, which F5 would copy.
    from bench.kit.inputs import REF_TEXT
    from engines.voices.library import VoiceLibrary

    VoiceLibrary(work / "voices").add(BENCH_VOICE, work / "reference.wav", REF_TEXT, language="en")
    return {"F5TTS_CKPT": str(ckpt), "F5TTS_ARCH": "F5TTS_Base", "F5TTS_LANGUAGES": "en,pt-BR",
            "F5TTS_VOCODER": str(work / "vocos"), "XTTS_MODEL": str(work / "xtts"),
            "VOICE_STUDIO_CACHE_DIR": str(work / "cache"), "VOICE_STUDIO_VOICES_DIR": str(work / "voices"),
            "VOICE_STUDIO_DEVICE": "cuda", "VOICE_STUDIO_ACCEL": accel}


def tiny_env(work: Path) -> dict[str, str]:
    from devtools.tiny_models import build_all

    return {**build_all(work / "tiny").env(), "VOICE_STUDIO_CACHE_DIR": str(work / "cache"),
            "VOICE_STUDIO_DEVICE": "cpu"}


def speak(http: httpx.Client, engine: str, fmt: str, seed: int, stream: bool = True,
          voice: str = "female_generic") -> dict:
    """One request: seconds to the headers, to the first body byte and to the end; bytes; headers."""
    body = {"model": engine, "voice": voice, "input": TEXTS[engine], "response_format": fmt,
            "language": "en", "seed": seed, "allow_fallback": False, "stream": stream}
    start = time.perf_counter()
    first = None
    size = 0
    with http.stream("POST", "v1/audio/speech", json=body) as response:
        headers_s = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"{engine}/{fmt}: HTTP {response.status_code}: {response.read()[:500]!r}")
        for data in response.iter_raw():
            if data and first is None:
                first = time.perf_counter() - start
            size += len(data)
        headers = dict(response.headers)
    return {"headers_s": headers_s, "first_byte_s": first, "total_s": time.perf_counter() - start, "bytes": size,
            "engine_used": headers.get("x-engine-used"), "history_id": headers.get("x-history-id")}


def wait_warm(app_url: str, limit_s: float) -> dict:
    """Wait until no engine's background warm-up (compile, graph capture) is still running."""
    deadline = time.monotonic() + limit_s
    while True:
        health = httpx.get(app_url + "health/engines", timeout=30).json()
        states = {name: (h.get("details") or {}).get("warmup", {}).get("state") for name, h in health["engines"].items()}
        if not any(s in WARM_STATES for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(2)


def median_row(runs: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in runs) for key in ("headers_s", "first_byte_s", "total_s")} | {
        "runs_first_byte_s": [round(r["first_byte_s"], 4) for r in runs], "bytes": runs[-1]["bytes"]}


def direct_stream_ratio(xtts_dir: str, device: str, tokens: int, repeats: int) -> dict:
    """Full stream / unstreamed on the accelerator, in this process, forced to ``tokens`` audio tokens."""
    import torch
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    from engines.xtts.accel.xtts import XttsAccelerator

    cfg = XttsConfig()
    cfg.load_json(str(Path(xtts_dir) / "config.json"))
    model = Xtts.init_from_config(cfg)
    model.load_checkpoint(cfg, checkpoint_dir=xtts_dir, eval=True, use_deepspeed=False)
    model.to(device)
    acc = XttsAccelerator(model, device)
    acc.warmup()
    tokens = min(tokens, acc.max_gen)
    latent = torch.randn(1, 32, model.gpt.model_dim, device=device) * 0.1
    speaker = torch.nn.functional.normalize(torch.randn(1, 512, 1, device=device), dim=1)
    kwargs = dict(min_new_tokens=tokens, max_new_tokens=tokens, seed=1)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def timed(fn) -> float:
        fn()  # warm
        runs = []
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            runs.append(time.perf_counter() - start)
        return statistics.median(runs)

    from engines.xtts.chunking import STREAM_CHUNK_TOKENS, STREAM_FIRST_CHUNK_TOKENS

    text = TEXTS["xtts"]
    stream = functools.partial(acc.inference_stream, text, "en", latent, speaker, stream_chunk_size=STREAM_CHUNK_TOKENS,
                               first_chunk_size=STREAM_FIRST_CHUNK_TOKENS, **kwargs)
    whole = timed(lambda: acc.inference(text, "en", latent, speaker, **kwargs))
    streamed = timed(lambda: list(stream()))
    first = {size: timed(lambda size=size: next(iter(stream(first_chunk_size=size))))  # the stream is dropped after it
             for size in (STREAM_FIRST_CHUNK_TOKENS, STREAM_CHUNK_TOKENS)}
    return {"tokens": tokens, "unstreamed_s": whole, "full_stream_s": streamed, "ratio": streamed / whole,
            "stream_context_latents": acc.options.stream_context,
            "first_chunk_s": {f"{size} tokens": seconds for size, seconds in first.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="ttfb.json")
    parser.add_argument("--quick", action="store_true", help="tiny models on the CPU (checks that it runs)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--accel", default="auto", choices=("auto", "graphs", "off"))
    parser.add_argument("--formats", default="pcm,mp3")
    parser.add_argument("--warm-limit-s", type=float, default=900)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from devtools.app_process import AppProcess

    formats = [f for f in args.formats.split(",") if f]
    if shutil.which("ffmpeg") is None:
        formats = [f for f in formats if f in ("pcm", "wav")] or ["pcm"]
        logger.warning("no ffmpeg here: only pcm/wav are measured")
    work = Path(tempfile.mkdtemp(prefix="ttfb-"))
    env = tiny_env(work) if args.quick else full_size_env(work, args.accel)
    device = env["VOICE_STUDIO_DEVICE"]
    repeats = 2 if args.quick else args.repeats
    voice = BENCH_VOICE if "VOICE_STUDIO_VOICES_DIR" in env else "female_generic"
    report: dict = {"quick": args.quick, "device": device, "accel": args.accel, "formats": formats, "voice": voice}
    speech = functools.partial(speak, voice=voice)

    if device == "cuda":
        import torch

        report["gpu"] = torch.cuda.get_device_name(0)
    with AppProcess(env, work / "app", name="ttfb_app") as app, httpx.Client(base_url=app.url, timeout=600) as http:
        for engine in ("xtts", "f5tts"):  # loads each engine (and, for F5, renders the preset's reference)
            report[f"{engine}_first_request"] = speech(http, engine, "pcm", seed=1, stream=False)
        report["warmup_states"] = wait_warm(app.url, args.warm_limit_s)
        rows = {}
        for engine in ("xtts", "f5tts"):
            for fmt in formats:
                speech(http, engine, fmt, seed=2)  # one untimed call per pair: encoder and shapes warm
                rows[f"{engine}/{fmt}"] = median_row([speech(http, engine, fmt, seed=3 + i) for i in range(repeats)])
        report["ttfb"] = rows
        streamed = [speech(http, "xtts", "pcm", seed=7) for _ in range(repeats)]
        whole = [speech(http, "xtts", "pcm", seed=7, stream=False) for _ in range(repeats)]
        report["xtts_api_stream_vs_unstreamed"] = {
            "full_stream_s": statistics.median(r["total_s"] for r in streamed),
            "unstreamed_s": statistics.median(r["total_s"] for r in whole),
            "same_length": streamed[-1]["bytes"] == whole[-1]["bytes"], "bytes": whole[-1]["bytes"]}
        api = report["xtts_api_stream_vs_unstreamed"]
        api["ratio"] = api["full_stream_s"] / api["unstreamed_s"]
    report["xtts_direct_stream_vs_unstreamed"] = direct_stream_ratio(env["XTTS_MODEL"], device, args.tokens, repeats)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print_table(report)
    return 0


def print_table(r: dict) -> None:
    out = sys.stdout
    out.write(f"\nTime to first audio byte through /v1/audio/speech ({r.get('gpu', r['device'])}, "
              f"accel {r['accel']}{', QUICK: tiny CPU models' if r['quick'] else ''}), warm, median\n")
    out.write("| engine/format | headers ms | first byte ms | total ms | runs (first byte s) |\n|---|---|---|---|---|\n")
    for key, row in r["ttfb"].items():
        out.write(f"| {key} | {1000 * row['headers_s']:.0f} | {1000 * row['first_byte_s']:.0f} | "
                  f"{1000 * row['total_s']:.0f} | {row['runs_first_byte_s']} |\n")
    api, direct = r["xtts_api_stream_vs_unstreamed"], r["xtts_direct_stream_vs_unstreamed"]
    out.write(f"XTTS through the API: full stream {api['full_stream_s']:.3f} s, unstreamed {api['unstreamed_s']:.3f} s "
              f"-> {api['ratio']:.2f}x (same length: {api['same_length']})\n")
    out.write(f"XTTS accelerator, {direct['tokens']} tokens: full stream {direct['full_stream_s']:.3f} s, unstreamed "
              f"{direct['unstreamed_s']:.3f} s -> {direct['ratio']:.2f}x; first chunk "
              + ", ".join(f"{k}: {1000 * v:.0f} ms" for k, v in direct.get("first_chunk_s", {}).items()) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
