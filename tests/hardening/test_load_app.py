"""Many users at once: 16 gradio_client clients x 5 requests, mixed dub and clone, on tiny checkpoints.

Checks that every request completes or gets a clear queue-full error, that each client
gets its own audio (the text tags each request; the answer's metadata and file must
match it), that concurrent first requests load each engine exactly once, and that
neither Gradio's temp files, the process's temp files nor its memory keep growing.
Everything is bounded: each request, the whole run and the clean-up wait have deadlines.

The figures (requests done, p50/p95 latency, RSS before/after) go to the test's
properties and, when ``VOICE_STUDIO_LOAD_REPORT`` names a file, to that JSON file.
"""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.utils import QueueError

from history import OutputHistory
from devtools.app_process import AppProcess

pytestmark = [pytest.mark.app, pytest.mark.slow]

logger = logging.getLogger("voice_studio.tests.load")

CLIENTS = 16
REQUESTS_PER_CLIENT = 5
REQUEST_TIMEOUT_S = 300.0
RUN_DEADLINE_S = 900.0
CACHE_TTL_S = 45  # well above a round's queue wait, or a waiting upload could be swept
CLEANUP_WAIT_S = 90.0
RSS_GROWTH_LIMIT = 200 * 2**20  # over the last two rounds; measured -100 to +105 MB (allocator noise)
WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen").split()
# (mode, engine): one cycle per client, shifted by client, so both engines and modes run at once.
KINDS = (("dub", "f5tts"), ("clone", "f5tts"), ("dub", "xtts"), ("clone", "f5tts"), ("dub", "f5tts"))


def files_under(folder: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(folder)) if folder.exists() else 0


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def load_app(tiny_env, tmp_path):
    process_tmp = tmp_path / "process_tmp"
    process_tmp.mkdir()
    env = {**tiny_env, "VOICE_STUDIO_CACHE_TTL_S": str(CACHE_TTL_S), "TMPDIR": str(process_tmp)}
    with AppProcess(env, tmp_path, name="load_app") as app:
        app.process_tmp = process_tmp
        yield app


def one_request(client, client_no: int, request_no: int, reference: Path) -> dict:
    mode, engine = KINDS[(client_no + request_no) % len(KINDS)]
    text = f"client {WORDS[client_no]} request {WORDS[request_no]} says hello."
    common = dict(text=text, language="en", engine=engine, quality_profile=f"{engine}_fast",
                  seed=client_no * 100 + request_no)
    start = time.monotonic()
    try:
        if mode == "dub":
            job = client.submit(voice_preset="male_generic" if client_no % 2 else "female_generic",
                                api_name="/dub", **common)
        else:
            job = client.submit(reference_audio=handle_file(str(reference)), reference_text="a short clip.",
                                api_name="/clone", **common)
        audio, badges, metadata = job.result(timeout=REQUEST_TIMEOUT_S)
    except QueueError as exc:
        return {"outcome": "queue full", "message": str(exc), "text": text}
    return {"outcome": "done", "text": text, "mode": mode, "engine": engine, "audio": audio, "metadata": metadata,
            "latency_s": time.monotonic() - start}


def run_client(app: AppProcess, client_no: int, reference: Path, barrier: threading.Barrier) -> list[dict]:
    """Rounds: every client sends its n-th request at the same moment (so the first ones race)."""
    try:
        client = app.client()
        results = []
        for request_no in range(REQUESTS_PER_CLIENT):
            barrier.wait(timeout=REQUEST_TIMEOUT_S)
            results.append(one_request(client, client_no, request_no, reference))
        barrier.wait(timeout=REQUEST_TIMEOUT_S)
    except BaseException:
        barrier.abort()  # the other clients stop at once instead of waiting out the timeout
        raise
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def test_sixteen_clients_five_requests_each(load_app, reference_wav, record_property):
    app = load_app
    rss_start = app.rss_bytes()
    rss_at_round: list[int] = []  # before each round, and after the last
    barrier = threading.Barrier(CLIENTS, action=lambda: rss_at_round.append(app.rss_bytes()))
    deadline = time.monotonic() + RUN_DEADLINE_S
    with futures.ThreadPoolExecutor(CLIENTS) as pool:
        jobs = [pool.submit(run_client, app, n, reference_wav, barrier) for n in range(CLIENTS)]
        done, pending = futures.wait(jobs, timeout=RUN_DEADLINE_S)
        assert not pending, f"load test did not finish within {RUN_DEADLINE_S:.0f} s"
    errors = [job.exception() for job in jobs if job.exception() is not None]
    root_causes = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if errors:
        raise (root_causes or errors)[0]
    outcomes = [outcome for job in jobs for outcome in job.result()]
    elapsed = RUN_DEADLINE_S - (deadline - time.monotonic())
    rss_warm, rss_end = rss_at_round[1], rss_at_round[-1]  # after round one (engines loaded), after all

    # Every request completed or was refused with a clear queue-full error.
    assert len(outcomes) == CLIENTS * REQUESTS_PER_CLIENT
    assert {o["outcome"] for o in outcomes} <= {"done", "queue full"}
    assert all("Queue is full" in o["message"] for o in outcomes if o["outcome"] == "queue full")
    completed = [o for o in outcomes if o["outcome"] == "done"]
    assert completed

    # Each client got its own audio: the answer names its text, and its file is that text's saved entry.
    history = OutputHistory(app.output_dir)
    for o in completed:
        metadata = o["metadata"]
        assert metadata["text"] == o["text"]
        assert metadata["mode"] == o["mode"] and metadata["tts_engine_requested"] == o["engine"]
        # Random tiny weights sometimes stop early; the sanity guard then falls back, and says so.
        assert metadata["tts_engine_used"] == o["engine"] or metadata["fallback_reason"]
        entry = history.get(metadata["history_id"])
        assert entry is not None and entry.text == o["text"]
        assert Path(o["audio"]).name == f"{entry.id}.wav" and sha256(o["audio"]) == sha256(entry.audio_path)
    assert len({o["metadata"]["history_id"] for o in completed}) == len(completed)

    # Concurrent first requests loaded each engine exactly once.
    log = app.log_tail(10_000_000)
    for engine in ("f5tts", "xtts"):
        assert log.count(f"engine loaded engine='{engine}'") == 1, engine

    # Temp files do not pile up: Gradio's cache is emptied by delete_cache, the process leaves none.
    gradio_files_after_run = files_under(app.temp_dir)
    cleanup_deadline = time.monotonic() + CLEANUP_WAIT_S
    while files_under(app.temp_dir) > 0 and time.monotonic() < cleanup_deadline:
        time.sleep(1)
    gradio_files_later = files_under(app.temp_dir)
    process_tmp_files = files_under(app.process_tmp)

    latencies = [o["latency_s"] for o in completed]
    report = {
        "clients": CLIENTS, "requests": len(outcomes), "completed": len(completed),
        "queue_full": len(outcomes) - len(completed), "wall_s": round(elapsed, 1),
        "fallbacks": sum(bool(o["metadata"]["engine_fallback"]) for o in completed),
        "p50_s": round(percentile(latencies, 0.50), 2), "p95_s": round(percentile(latencies, 0.95), 2),
        "rss_start_mb": round(rss_start / 2**20), "rss_after_first_round_mb": round(rss_warm / 2**20),
        "rss_end_mb": round(rss_end / 2**20), "rss_by_round_mb": [round(r / 2**20) for r in rss_at_round],
        "gradio_temp_files_after_run": gradio_files_after_run, "gradio_temp_files_after_ttl": gradio_files_later,
        "process_temp_files": process_tmp_files,
    }
    for key, value in report.items():
        record_property(key, value)
    logger.info("load test", extra=report)
    if os.environ.get("VOICE_STUDIO_LOAD_REPORT"):
        Path(os.environ["VOICE_STUDIO_LOAD_REPORT"]).write_text(json.dumps(report, indent=1))

    assert gradio_files_later == 0, report
    assert process_tmp_files == 0, report
    # Memory settles: the last two rounds (32 requests) add less than the limit.
    assert rss_at_round[-1] - rss_at_round[-3] < RSS_GROWTH_LIMIT, report
