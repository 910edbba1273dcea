"""The Engine status tab of an app on two devices (``VOICE_STUDIO_DEVICES=cpu,cpu``, F5-TTS placed
on the second) in headless Chromium: a row per device, which engines it holds and in what state;
Load on the XTTS card loads it on both; a dub then shows as F5-TTS's work on its device."""

from __future__ import annotations

import pytest

from devtools.app_process import AppProcess
from tests.browser.test_browser_app import WAIT_S
from tests.browser.test_ui_browser import open_tab, screenshot
from tests.browser_support import browser, needs_chromium, page_wait  # noqa: F401  (browser is a fixture)

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]


@pytest.fixture(scope="module")
def two_device_app(tiny_env, tmp_path_factory):
    env = {**tiny_env, "VOICE_STUDIO_ADMIN": "1", "VOICE_STUDIO_DEVICES": "cpu,cpu",
           "VOICE_STUDIO_PLACEMENT": "f5tts=cpu:1"}
    with AppProcess(env, tmp_path_factory.mktemp("devices_app"), name="devices_app") as proc:
        yield proc


def test_status_tab_shows_each_device_and_what_runs_there(two_device_app, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    wait = page_wait(browser, WAIT_S)
    browser.get(two_device_app.url)
    wait.until(lambda d: d.find_element(By.ID, "dub-button").is_enabled())
    open_tab(browser, wait, "Engine status")

    def row(device: str) -> list[str]:
        cells = browser.find_elements(By.CSS_SELECTOR, f"#status-devices tr[data-device='{device}'] td")
        return [cell.text for cell in cells]

    wait.until(lambda d: row("cpu:0") and row("cpu:1"))
    assert row("cpu:0")[1] == "xtts: not_loaded"                          # f5tts is placed on cpu:1 alone
    assert row("cpu:1")[1] == "f5tts: not_loaded, xtts: not_loaded"
    browser.find_element(By.ID, "status-load-xtts").click()
    wait.until(lambda d: "xtts: available" in row("cpu:0")[1] and "xtts: available" in row("cpu:1")[1])
    assert row("cpu:0")[5] == "working"
    screenshot(browser, tmp_path, "engine-status-devices")

    open_tab(browser, wait, "Dubbing")
    browser.find_element(By.ID, "dub-button").click()  # the defaults: F5-TTS (on cpu:1) in a preset voice
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dub-badges .vs-badge-engine"))
    open_tab(browser, wait, "Engine status")
    browser.find_element(By.ID, "status-refresh").click()
    wait.until(lambda d: "f5tts: available" in row("cpu:1")[1] and int(row("cpu:1")[4]) > 0)  # F5's work ran there
    assert two_device_app.health().json()["placement"] == {"f5tts": ["cpu:1"], "xtts": ["cpu:0", "cpu:1"]}
