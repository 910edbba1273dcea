"""The engine knobs in Advanced, in headless Chromium: untouched they change nothing (the metadata's
``knobs_changed`` is empty), changed they are listed there; the XTTS knobs show when XTTS is picked."""

from __future__ import annotations

import json
import re

import pytest

from devtools.app_process import AppProcess
from tests.browser.test_advanced_browser import fill_cloning, open_accordion, type_number
from tests.browser.test_browser_app import WAIT_S
from tests.browser_support import browser, needs_chromium, page_wait  # noqa: F401  (browser is a fixture)

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]


@pytest.fixture(scope="module")
def knobs_app(tiny_env, tmp_path_factory):
    with AppProcess(dict(tiny_env), tmp_path_factory.mktemp("knobs_browser_app"), name="knobs_browser_app") as proc:
        yield proc


def knob_input(driver, prefix: str, name: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#{prefix}-knob-{name} input[type='number']")


def choose_engine(driver, wait, prefix: str, label: str) -> None:
    """Pick ``label`` in the engine dropdown the way a user does: open it, click the option."""
    from selenium.webdriver.common.by import By

    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{prefix}-engine input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(label)
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"#{prefix}-engine input").get_attribute("value")
               .startswith(label))


def run_and_read_metadata(driver, wait, prefix: str) -> dict:
    """Click the tab's button and return the new result's metadata (read from the JSON view's text)."""
    from selenium.webdriver.common.by import By

    open_accordion(driver, wait, prefix, "Metadata", f"{prefix}-metadata")
    before = driver.find_element(By.ID, f"{prefix}-metadata").text
    driver.find_element(By.ID, f"{prefix}-button").click()
    wait.until(lambda d: d.find_element(By.ID, f"{prefix}-metadata").text.strip()
               and d.find_element(By.ID, f"{prefix}-metadata").text != before)
    assert not driver.find_elements(By.CSS_SELECTOR, f"#{prefix}-error .vs-error"), \
        driver.find_element(By.ID, f"{prefix}-error").text
    text = driver.execute_script(
        "const el = document.querySelector(arguments[0]); return el ? el.innerText : '';", f"#{prefix}-metadata")
    return _changed_knobs(text)


def _changed_knobs(text: str) -> dict:
    """``knobs_changed`` out of the JSON view's text: the object after that key, up to its closing brace."""
    flat = " ".join(text.split())
    match = re.search(r'"?knobs_changed"?\s*:\s*(\{[^{}]*\})', flat)
    assert match, flat[:2000]
    body = re.sub(r'([{,]\s*)"?([a-z_]+)"?\s*:', r'\1"\2":', match.group(1))
    return json.loads(re.sub(r",\s*}", "}", body))


def shown(driver, element_id: str) -> bool:
    """Whether the element is on the page and visible (a hidden group is not rendered at all)."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.ID, element_id)
    return bool(found) and found[0].is_displayed()


def check_knobs(driver, wait, prefix: str) -> None:
    open_accordion(driver, wait, prefix, "Advanced", f"{prefix}-speed")
    assert knob_input(driver, prefix, "nfe_step").is_displayed()
    assert knob_input(driver, prefix, "nfe_step").get_attribute("value") == "32"  # f5tts_balanced
    assert not shown(driver, f"{prefix}-knobs-xtts")
    assert run_and_read_metadata(driver, wait, prefix) == {}

    type_number(knob_input(driver, prefix, "nfe_step"), "6")
    assert run_and_read_metadata(driver, wait, prefix) == {"nfe_step": 6}

    choose_engine(driver, wait, prefix, "XTTS")
    wait.until(lambda d: shown(d, f"{prefix}-knobs-xtts"))
    assert not shown(driver, f"{prefix}-knobs-f5tts")
    wait.until(lambda d: knob_input(d, prefix, "temperature").get_attribute("value") == "0.75")  # xtts_balanced
    type_number(knob_input(driver, prefix, "temperature"), "0.5")
    assert run_and_read_metadata(driver, wait, prefix) == {"temperature": 0.5}


def test_dubbing_knobs_untouched_then_changed(knobs_app, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    wait = page_wait(browser, WAIT_S)
    browser.get(knobs_app.url)
    wait.until(EC.element_to_be_clickable((By.ID, "dub-button")))
    check_knobs(browser, wait, "dub")


def test_cloning_knobs_untouched_then_changed(knobs_app, browser, reference_wav):  # noqa: F811

    wait = page_wait(browser, WAIT_S)
    fill_cloning(browser, wait, knobs_app.url, reference_wav)
    check_knobs(browser, wait, "clone")
