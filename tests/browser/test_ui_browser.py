"""The page in headless Chromium (as tests/browser/test_browser_app.py): an error that stays beside the
output once its toast is gone, History's player and error badges, and Engine status cards with
Load / Unload inside them and a confirmation before unloading.

``VOICE_STUDIO_UI_SCREENSHOTS=DIR`` keeps the screenshots there (default: the test's tmp dir).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devtools.app_process import AppProcess
from tests.browser_support import browser, needs_chromium, page_wait  # noqa: F401  (browser is a fixture)
from tests.browser.test_browser_app import WAIT_S

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]

BORDER = ("const c = getComputedStyle(arguments[0]); "
          "return [c.borderTopWidth, c.borderTopStyle, c.borderTopColor, c.borderRadius];")


@pytest.fixture(scope="module")
def admin_app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ui_browser_app")
    with AppProcess({**tiny_env, "VOICE_STUDIO_ADMIN": "1"}, workdir, name="ui_browser_app") as proc:
        yield proc


def screenshot(driver, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("VOICE_STUDIO_UI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(folder / f"{name}.png"))


def open_tab(driver, wait, name: str) -> None:
    from selenium.webdriver.common.by import By

    tab = next(t for t in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']") if t.text.strip() == name)
    tab.click()
    wait.until(lambda d: tab.get_attribute("aria-selected") == "true")


def test_an_error_stays_beside_the_output_after_its_toast_is_gone(admin_app, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    wait = page_wait(browser, WAIT_S)
    browser.get(admin_app.url)
    wait.until(lambda d: d.find_element(By.ID, "dub-button").is_enabled())
    text = browser.find_element(By.CSS_SELECTOR, "#dub-text textarea")
    text.send_keys(Keys.CONTROL, "a")
    text.send_keys(Keys.DELETE)
    browser.find_element(By.ID, "dub-button").click()

    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".toast-body"))
    block = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#dub-error .vs-error"))
    for close in browser.find_elements(By.CSS_SELECTOR, ".toast-close"):
        close.click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".toast-body"))
    block = browser.find_element(By.CSS_SELECTOR, "#dub-error .vs-error")
    assert block.is_displayed() and block.get_attribute("data-error-kind") == "input"
    assert "Input mistake" in block.text and "text is empty: type something to speak" in block.text
    screenshot(browser, tmp_path, "dubbing-error")

    # The next result clears it.
    text.send_keys("Hello there, this is a short test.")
    browser.find_element(By.ID, "dub-button").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dub-badges .vs-badge-engine"))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#dub-error .vs-error"))
    output_border = browser.execute_script(BORDER, browser.find_element(By.ID, "dub-audio"))

    # History: the typo is marked as an input mistake; its player looks like the Output player.
    open_tab(browser, wait, "History")
    mistake = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".vs-history-entry [data-badge='input_error']"))
    assert mistake.is_displayed() and mistake.text == "Input mistake: text is empty: type something to speak"
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".vs-history-entry .vs-history-play").click() or True)
    player = wait.until(lambda d: d.find_element(By.CSS_SELECTOR,
                                                 "#history-player:has([data-testid^='waveform-'])"))
    assert browser.execute_script(BORDER, player) == output_border
    screenshot(browser, tmp_path, "history")


def test_engine_cards_hold_load_and_unload_and_unload_asks_first(admin_app, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    wait = page_wait(browser, WAIT_S)
    browser.get(admin_app.url)
    wait.until(lambda d: d.find_element(By.ID, "dub-button").is_enabled())
    open_tab(browser, wait, "Engine status")

    def status() -> str:
        return browser.find_element(By.CSS_SELECTOR, "#status-card-xtts [data-status]").get_attribute("data-status")

    card = browser.find_element(By.ID, "status-card-xtts")
    card.find_element(By.ID, "status-load-xtts").click()
    wait.until(lambda d: status() == "available")
    table = card.find_element(By.CSS_SELECTOR, "table.vs-engine-facts")
    assert table.size["width"] >= 0.9 * card.size["width"]  # the facts fill the card

    unload = card.find_element(By.ID, "status-unload-xtts")
    unload.click()
    alert = wait.until(EC.alert_is_present())
    assert alert.text.startswith("Unload XTTS?")
    alert.dismiss()
    # Admin actions run one at a time in order: once this Load is done, a cancelled Unload would be too.
    browser.find_element(By.ID, "status-load-f5tts").click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#status-card-f5tts [data-status]")
               .get_attribute("data-status") == "available")
    assert admin_app.health().json()["engines"]["xtts"]["status"] == "available"  # "Cancel" unloaded nothing
    assert status() == "available"
    screenshot(browser, tmp_path, "engine-status")

    unload.click()
    wait.until(EC.alert_is_present()).accept()
    wait.until(lambda d: status() == "not_loaded")
