"""The Dubbing output starts playing before the synthesis ends (headless Debian Chromium).

The app runs on the tiny models with a corrupt F5-TTS checkpoint, so the default Dub
request falls back to XTTS, which streams by its tokens on the CPU too. A long text keeps
the synthesis going for several seconds; the page's live player must be playing before
the complete file (the end of the synthesis) shows up. The delays the page gives are
printed (and written to ``VOICE_STUDIO_STREAM_REPORT`` when set).
"""

from __future__ import annotations

import json
import os
import time

import pytest

from devtools.app_process import AppProcess, corrupt_f5_env
from tests.browser_support import chrome, needs_chromium, page_wait

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]

WAIT_S = 240
LONG_TEXT = " ".join(["Esta frase faz parte de um texto longo, lido em pedaços enquanto o áudio toca."] * 8)

PLAYING_JS = """
const audio = document.querySelector('#dub-live audio');
return audio ? {t: audio.currentTime, paused: audio.paused, src: !!(audio.src || audio.currentSrc)} : null;
"""


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("browser_stream")
    with AppProcess(corrupt_f5_env(tiny_env, workdir), workdir, name="browser_stream") as proc:
        yield proc


@pytest.fixture
def browser(tmp_path):
    with chrome(tmp_path / "profile", "--autoplay-policy=no-user-gesture-required", "--mute-audio") as driver:
        yield driver


def test_dubbing_output_plays_before_the_synthesis_ends(app, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    # XTTS loaded first (one short request through the public API), so the timings are the page's own.
    app.client().predict(text="aquecendo.", language="pt-BR", voice_preset="female_generic", engine="f5tts",
                         quality_profile=None, api_name="/dub")
    browser.get(app.url)
    page_wait(browser, WAIT_S).until(
        EC.element_to_be_clickable((By.ID, "dub-button")))
    text = browser.find_element(By.CSS_SELECTOR, "#dub-text textarea")
    text.clear()
    text.send_keys(LONG_TEXT)
    clicked = time.monotonic()
    browser.find_element(By.ID, "dub-button").click()

    final_link = "#dub-audio a[data-testid='download-link'][href$='.wav']"
    playing_at = finished_at = None
    deadline = clicked + WAIT_S
    while time.monotonic() < deadline and finished_at is None:
        state = browser.execute_script(PLAYING_JS)
        if playing_at is None and state and state["t"] > 0 and not state["paused"]:
            playing_at = time.monotonic()
        if browser.find_elements(By.CSS_SELECTOR, final_link):
            finished_at = time.monotonic()
        time.sleep(0.05)
    assert finished_at is not None, "the complete file never arrived"
    first_piece = [line for line in app.log_tail(1_000_000).splitlines() if "live audio: first piece" in line]
    report = {"click_to_playing_s": None if playing_at is None else round(playing_at - clicked, 2),
              "click_to_complete_file_s": round(finished_at - clicked, 2),
              "server_first_piece": first_piece[-1].split("after_s=")[-1] if first_piece else None}
    print("live playback:", report)
    if os.environ.get("VOICE_STUDIO_STREAM_REPORT"):
        with open(os.environ["VOICE_STUDIO_STREAM_REPORT"], "w") as handle:
            json.dump(report, handle)
    assert playing_at is not None and playing_at < finished_at, report
