"""Load / Unload as admin actions, on the running app (tiny models, gradio_client).

With ``VOICE_STUDIO_ADMIN=1``: eight clients dub on F5-TTS while an admin unloads and
loads it in a loop; no request fails and none falls back because the engine was unloaded.
With ``VOICE_STUDIO_ADMINS``: the API refuses a logged-in user who is not an admin.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from devtools.app_process import REQUEST_TIMEOUT_S, AppProcess, call
from webui.serving.admin import REFUSAL

pytestmark = pytest.mark.app

CLIENTS = 8
DUBS_PER_CLIENT = 3
MAX_ADMIN_CYCLES = 60  # the loop ends by itself even if the dubs never finish
# F5-TTS: the fast tiny engine, so the loop turns many times while the 24 dubs run.
DUB = dict(text="hello there, this is a short test.", language="en", voice_preset="female_generic",
           engine="f5tts", quality_profile="f5tts_fast", seed=7)



@pytest.fixture(scope="module")
def admin_app(tiny_env, tmp_path_factory):
    with AppProcess({**tiny_env, "VOICE_STUDIO_ADMIN": "1"}, tmp_path_factory.mktemp("admin_app"),
                    name="admin_app") as proc:
        yield proc


def test_dubs_survive_unload_and_load_in_a_loop(admin_app):
    admin = admin_app.client()
    # One dub first: it loads F5-TTS and renders the preset's reference clip once (through XTTS).
    assert call(admin, "/dub", **DUB)[2]["tts_engine_used"] == "f5tts"
    # The clients leave the audio on the server: the test is about requests, not files.
    clients = [Client(admin_app.url, verbose=False, download_files=False) for _ in range(CLIENTS)]
    dubs_done = threading.Event()
    cycles: list[float] = []
    results: list[dict] = []
    failures: list[str] = []

    def admin_loop() -> None:
        for _ in range(MAX_ADMIN_CYCLES):
            if dubs_done.is_set():
                return
            start = time.monotonic()
            # "loading": a dub queued behind the Unload is already loading it again
            assert call(admin, "/unload_engine", engine="f5tts")["engines"]["f5tts"]["status"] in ("not_loaded",
                                                                                                 "loading")
            call(admin, "/load_engine", engine="f5tts")
            cycles.append(start)

    def dubber(index: int, client: Client) -> None:
        for j in range(DUBS_PER_CLIENT):
            try:
                results.append(call(client, "/dub", **DUB)[2])
            except Exception as exc:  # every failure is collected and reported below
                failures.append(f"client {index} dub {j}: {type(exc).__name__}: {exc}")

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        looping = pool.submit(admin_loop)
        dubs = [pool.submit(dubber, i, c) for i, c in enumerate(clients)]
        for future in dubs:
            future.result(timeout=REQUEST_TIMEOUT_S * DUBS_PER_CLIENT)
        finished = time.monotonic()
        dubs_done.set()
        looping.result(timeout=REQUEST_TIMEOUT_S)

    assert failures == []
    assert len(results) == CLIENTS * DUBS_PER_CLIENT
    for metadata in results:
        assert metadata["tts_engine_used"] == "f5tts" and metadata["engine_fallback"] is False, metadata
        reasons = [metadata.get("fallback_reason") or "", *(metadata.get("attempts") or {}).values()]
        assert not any("not loaded" in reason.lower() for reason in reasons), metadata
    # F5-TTS really was unloaded again and again while the dubs ran.
    assert sum(started <= start <= finished for start in cycles) >= 3, (cycles, started, finished)


def test_every_api_output_has_a_name(admin_app):
    endpoints = admin_app.client().view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/dub", "/clone", "/engine_status", "/history", "/load_engine", "/unload_engine"} <= set(endpoints)
    for name, info in endpoints.items():
        for output in info["returns"]:
            label = output["label"]
            assert label and not re.fullmatch(r"value_\d+", label), (name, output)
    assert [r["label"] for r in endpoints["/dub"]["returns"]] == ["Output (the whole clip, saved to History)", "Badges", "Metadata"]
    assert [p["parameter_name"] for p in endpoints["/unload_engine"]["parameters"]] == ["engine"]


def test_unknown_engine_gets_the_managers_message(admin_app):
    with pytest.raises(AppError, match="unknown engine 'tortoise'; valid engines: f5tts, xtts"):
        call(admin_app.client(), "/unload_engine", engine="tortoise")


def test_only_the_named_admins_may_unload(tiny_env, tmp_path_factory):
    env = {**tiny_env, "VOICE_STUDIO_AUTH": "ana:first-password\nbob:second-password",
           "VOICE_STUDIO_ADMINS": "ana"}
    with AppProcess(env, tmp_path_factory.mktemp("admins_app"), name="admins_app") as app:
        bob = app.client(auth=("bob", "second-password"))
        for api_name in ("/unload_engine", "/load_engine"):
            with pytest.raises(AppError) as refused:
                call(bob, api_name, engine="xtts")
            assert REFUSAL in str(refused.value)
        health = call(app.client(auth=("ana", "first-password")), "/unload_engine", engine="xtts")
        assert health["engines"]["xtts"]["status"] == "not_loaded"
        assert "admin action refused" in app.log_tail(200_000)
