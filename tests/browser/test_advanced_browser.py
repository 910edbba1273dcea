"""The Advanced accordion of Dubbing and Cloning in headless Chromium.

Opening it must not change the request: its empty Speed and Seed fields stay empty (the
profile's pace, a random seed), so a Dub and a Clone with Advanced open and untouched
succeed. Values typed there reach the result's metadata.
"""

from __future__ import annotations

import re

import pytest

from devtools.app_process import AppProcess
from tests.browser_support import browser, needs_chromium, page_wait  # noqa: F401  (browser is a fixture)
from tests.browser.test_browser_app import WAIT_S

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]

TRANSCRIPT = "Olá, esta é a minha voz de referência."


@pytest.fixture(scope="module")
def advanced_app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("advanced_app")
    with AppProcess(dict(tiny_env), workdir, name="advanced_app") as proc:
        yield proc


def open_tab(driver, wait, name: str) -> None:
    from selenium.webdriver.common.by import By

    tab = next(t for t in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']") if t.text.strip() == name)
    tab.click()
    wait.until(lambda d: tab.get_attribute("aria-selected") == "true")


def open_accordion(driver, wait, prefix: str, title: str, inside_id: str) -> None:
    """Click the visible accordion called ``title`` in the tab whose ids start with ``prefix``."""
    from selenium.webdriver.common.by import By

    if driver.find_elements(By.ID, inside_id) and driver.find_element(By.ID, inside_id).is_displayed():
        return
    label = next(e for e in driver.find_elements(By.CSS_SELECTOR, "button.label-wrap, .label-wrap")
                 if e.is_displayed() and e.text.strip().startswith(title))
    label.click()
    wait.until(lambda d: d.find_elements(By.ID, inside_id) and d.find_element(By.ID, inside_id).is_displayed())


def metadata_value(driver, wait, prefix: str, key: str) -> str:
    """The value shown for ``key`` in the result's metadata JSON."""
    from selenium.webdriver.common.by import By

    open_accordion(driver, wait, prefix, "Metadata", f"{prefix}-metadata")
    pattern = re.compile(rf'"?{key}"?\s*:\s*([^,\s]+)')

    def found(d):
        match = pattern.search(d.find_element(By.ID, f"{prefix}-metadata").text)
        return match.group(1).strip('"') if match else None

    return wait.until(found)


def number_field(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#{element_id} input, #{element_id} textarea")


def type_number(field, value: str) -> None:
    from selenium.webdriver.common.keys import Keys

    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(value)
    field.send_keys(Keys.TAB)


def wait_for_new_result(driver, wait, prefix: str, before_text: str) -> None:
    """The engine badge appears and the metadata differs from what it was before the click."""
    from selenium.webdriver.common.by import By

    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{prefix}-badges .vs-badge-engine"))
    wait.until(lambda d: d.find_element(By.ID, f"{prefix}-metadata").text.strip()
               and d.find_element(By.ID, f"{prefix}-metadata").text != before_text)


def run_and_check(driver, wait, prefix: str, button_id: str, speed: str | None, seed: str | None) -> None:
    from selenium.webdriver.common.by import By

    open_accordion(driver, wait, prefix, "Metadata", f"{prefix}-metadata")
    before = driver.find_element(By.ID, f"{prefix}-metadata").text
    driver.find_element(By.ID, button_id).click()
    wait_for_new_result(driver, wait, prefix, before)
    assert not driver.find_elements(By.CSS_SELECTOR, f"#{prefix}-error .vs-error"), \
        driver.find_element(By.ID, f"{prefix}-error").text
    shown_seed = metadata_value(driver, wait, prefix, "seed")
    shown_speed = metadata_value(driver, wait, prefix, "speed")
    if seed is None:
        assert shown_seed.isdigit()
    else:
        assert shown_seed == seed
    if speed is not None:
        assert float(shown_speed) == pytest.approx(float(speed))
    else:
        assert float(shown_speed) > 0


def check_advanced(driver, wait, prefix: str, button_id: str) -> None:
    """Advanced opened and left alone, then speed 1.2 and seed 7 typed in it."""
    open_accordion(driver, wait, prefix, "Advanced", f"{prefix}-speed")
    speed, seed = number_field(driver, f"{prefix}-speed"), number_field(driver, f"{prefix}-seed")
    assert speed.get_attribute("value") == "" and seed.get_attribute("value") == ""
    run_and_check(driver, wait, prefix, button_id, speed=None, seed=None)
    assert speed.get_attribute("value") == "" and seed.get_attribute("value") == ""

    type_number(speed, "1.2")
    type_number(seed, "7")
    run_and_check(driver, wait, prefix, button_id, speed="1.2", seed="7")


def test_dubbing_with_advanced_open_untouched_then_changed(advanced_app, browser):  # noqa: F811
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.common.by import By

    wait = page_wait(browser, WAIT_S)
    browser.get(advanced_app.url)
    wait.until(EC.element_to_be_clickable((By.ID, "dub-button")))
    check_advanced(browser, wait, "dub", "dub-button")


def test_cloning_with_advanced_open_untouched_then_changed(advanced_app, browser, reference_wav):  # noqa: F811

    wait = page_wait(browser, WAIT_S)
    fill_cloning(browser, wait, advanced_app.url, reference_wav)
    check_advanced(browser, wait, "clone", "clone-button")


def fill_cloning(browser, wait, url: str, reference_wav) -> None:
    """Open the page's Cloning tab and give it a reference clip, its transcript and a text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    browser.get(url)
    wait.until(EC.element_to_be_clickable((By.ID, "dub-button")))
    open_tab(browser, wait, "Cloning")
    wait.until(EC.element_to_be_clickable((By.ID, "clone-button")))
    browser.find_element(By.CSS_SELECTOR, "#clone-reference input[type='file']").send_keys(str(reference_wav))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clone-reference audio, #clone-reference #waveform"))
    browser.find_element(By.CSS_SELECTOR, "#clone-transcript textarea").send_keys(TRANSCRIPT)
    browser.find_element(By.CSS_SELECTOR, "#clone-text textarea").send_keys("Olá, esta é a voz clonada.")
