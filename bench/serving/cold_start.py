"""Cold-start figures that need no GPU: process start to UI ready, and checkpoint patching.

- UI ready: ``python app.py`` in a subprocess until its page answers HTTP 200 (start-up
  loads no model, so this is the same on any machine).
- Checkpoint patching: a full-size random F5TTS_Base checkpoint saved with ``ema.`` keys
  (the layout upstream's loader cannot read) loaded through ``F5Engine`` on the CPU, with
  the time spent normalising and checking it and the bytes written to disk.

    python -m bench.serving.cold_start --out cold_start.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_health(port: int) -> dict:
    """GET /health/engines; it answers 503 while no engine is usable, with the same JSON body."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/engines", timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def ui_ready_seconds(timeout: float = 120.0, log_path: Path | None = None) -> dict:
    port = free_port()
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "COQUI_TOS_AGREED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        while time.perf_counter() - start < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited with code {proc.returncode} before answering (see its log)")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        ready = time.perf_counter() - start
                        health = read_health(port)
                        statuses = {name: e["status"] for name, e in health["engines"].items()}
                        return {"ui_ready_s": round(ready, 2), "engine_status_at_ready": statuses}
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"app did not answer within {timeout} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if log_path:
            log.close()


def patching_figures(work: Path) -> dict:
    import torch

    from bench.serving.engine_path import write_ema_prefixed_f5
    from bench.kit.models import _dir_bytes, build_vocos
    from engines.f5.engine import F5Engine
    from engines.settings import Settings

    ckpt = work / "f5_ema_prefixed.safetensors"
    size = write_ema_prefixed_f5(ckpt)
    build_vocos("cpu", work)
    settings = Settings.from_env({"F5TTS_CKPT": str(ckpt), "F5TTS_ARCH": "F5TTS_Base",
                                  "F5TTS_VOCODER": str(work / "vocos"), "VOICE_STUDIO_CACHE_DIR": str(work / "cache")})
    engine = F5Engine(settings.f5, "cpu", cache_dir=settings.cache_dir, accel="off")
    before = _dir_bytes(work)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    engine.load()
    return {"checkpoint_bytes": size, "load_s": engine.load_s, "bytes_written": _dir_bytes(work) - before,
            **{k: engine.load_details[k] for k in ("checkpoint_layout", "read_s", "patch_s", "architecture")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="cold_start.json")
    parser.add_argument("--skip-patching", action="store_true")
    args = parser.parse_args(argv)
    report = {"ui": ui_ready_seconds(log_path=Path(args.out).with_suffix(".app.log"))}
    if not args.skip_patching:
        from bench.kit.models import workdir  # torch and f5-tts: only needed for this part

        report["patching"] = patching_figures(workdir())
    Path(args.out).write_text(json.dumps(report, indent=2))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
