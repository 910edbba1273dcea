"""The page in headless Debian Chromium (Selenium + chromium-driver; no browser download).

The app runs on the tiny models with a corrupt F5-TTS checkpoint, so a dub on F5-TTS
falls back to XTTS: the test waits for the audio, checks the badges and the toast are
visible, and saves a screenshot. ``VOICE_STUDIO_SCREENSHOT=docs/dubbing-fallback.png``
writes it where the README expects it (that is how the docs image is made).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devtools.app_process import REPO, AppProcess, corrupt_f5_env
from tests.browser_support import browser, needs_chromium, page_wait  # noqa: F401  (browser is a fixture)

WAIT_S = 180

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]


@pytest.fixture(scope="module")
def fallback_app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("browser_app")
    with AppProcess(corrupt_f5_env(tiny_env, workdir), workdir, name="browser_app") as proc:
        yield proc




def test_dub_in_the_browser_shows_the_fallback_beside_the_audio(fallback_app, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    wait = page_wait(browser, WAIT_S)
    browser.get(fallback_app.url)
    wait.until(EC.element_to_be_clickable((By.ID, "dub-button")))
    text = browser.find_element(By.CSS_SELECTOR, "#dub-text textarea")
    text.clear()
    text.send_keys("Olá! Este áudio saiu do XTTS, porque o checkpoint do F5-TTS está corrompido.")
    browser.find_element(By.ID, "dub-button").click()

    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dub-badges .vs-badge-fallback"))
    # Gradio's player: a download link to the served wav and the waveform's duration.
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dub-audio a[data-testid='download-link'][href$='.wav']"))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#dub-audio #duration").text not in ("", "0:00"))
    badges = {b.get_attribute("data-badge"): b for b in browser.find_elements(By.CSS_SELECTOR, "#dub-badges .vs-badge")}
    assert all(b.is_displayed() for b in badges.values())
    assert badges["engine"].text == "Engine: XTTS"
    assert badges["fallback"].text.startswith("Fallback: F5-TTS → XTTS — checkpoint f5_corrupt.safetensors")
    assert badges["mapped"].text == "Profile: f5tts_balanced → xtts_balanced"
    toasts = browser.find_elements(By.CSS_SELECTOR, ".toast-body")
    assert any("Fallback: F5-TTS → XTTS" in t.text for t in toasts), [t.text for t in toasts]

    target = Path(os.environ.get("VOICE_STUDIO_SCREENSHOT") or tmp_path / "dubbing-fallback.png")
    if not target.is_absolute():
        target = REPO / target
    target.parent.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(target))
    assert target.stat().st_size > 10_000

    # The same result is in the History tab: newest first, with its badges, playable and downloadable.
    next(t for t in browser.find_elements(By.CSS_SELECTOR, "button[role='tab']") if t.text.strip() == "History").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".vs-history-head"))
    newest = browser.find_elements(By.CSS_SELECTOR, "[id^='history-20']")[0]
    assert "porque o checkpoint do F5-TTS" in newest.text
    assert newest.find_element(By.CSS_SELECTOR, ".vs-badge-fallback").is_displayed()
    # One player above the compact list: the newest entry's Play puts its clip there, downloadable.
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".vs-history-play").click() or True)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#history-player a[data-testid='download-link'][href$='.wav']"))
    assert "porque o checkpoint do F5-TTS" in browser.find_element(By.ID, "history-player").text
