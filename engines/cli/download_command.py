"""``python -m engines download [--engine f5tts|xtts|all]``: fetch every weight file now.

For images, Spaces and machines that will run offline later. Each engine's sources (F5-TTS:
checkpoint, vocab, Vocos vocoder; XTTS-v2: its model directory) are resolved exactly as a
load resolves them, into huggingface_hub's cache (resumable); no model is loaded. Progress
goes to stderr, one JSON object to stdout; exit 1 when an engine's weights could not be had.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..weights.downloads import MB, download_progress
from ..errors import EngineUnavailableError
from ..types import ENGINE_NAMES

# At most one progress line per engine this often on stderr (and one per new file).
PRINT_EVERY_S = 2.0


def add_parsers(sub) -> None:
    p = sub.add_parser("download", help="fetch the engines' weights ahead of time (nothing is loaded)")
    p.add_argument("--engine", choices=("all", *ENGINE_NAMES), default="all",
                   help="whose weights: f5tts, xtts or all (default)")
    p.set_defaults(run=run_download)


def run_download(args: argparse.Namespace, stdout) -> int:
    from ..settings import Settings

    settings = Settings.from_env()
    names = ENGINE_NAMES if args.engine == "all" else (args.engine,)
    report: dict[str, dict] = {}
    for name in names:
        report[name] = _fetch_engine(name, settings.weight_sources(name))
    downloaded = round(sum(s["mb"] for e in report.values() for s in e["sources"] if s["status"] == "downloaded"), 1)
    json.dump({"engines": report, "downloaded_mb": downloaded,
               "ready": all(e["status"] == "ready" for e in report.values())}, stdout)
    stdout.write("\n")
    failed = {name: entry["error"] for name, entry in report.items() if entry["status"] != "ready"}
    if failed:
        raise EngineUnavailableError("weights missing for " + "; ".join(f"{n}: {why}" for n, why in failed.items()))
    return 0


def _fetch_engine(name: str, sources) -> dict:
    entries = []
    progress = download_progress(name)
    with progress.reporting(_stderr_printer(name), name):
        for source in sources:
            present = source.cached_path() is not None
            try:
                path = source.resolve()
            except EngineUnavailableError as exc:
                return {"status": "unavailable", "sources": entries, "error": str(exc)}
            entries.append({"variable": source.env_var, "source": source.spec,
                            "status": "present" if present else "downloaded", "mb": round(_size(path) / MB, 1)})
    return {"status": "ready", "sources": entries}


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _stderr_printer(name: str):
    last = {"at": 0.0, "file": None}

    def show(fraction: float, message: str) -> None:
        file = download_progress(name).snapshot().get("file")
        now = time.monotonic()
        if file != last["file"] or now - last["at"] >= PRINT_EVERY_S:
            last.update(at=now, file=file)
            sys.stderr.write(f"{message}\n")

    return show
