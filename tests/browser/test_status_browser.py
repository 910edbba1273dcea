"""Setup problems a user can act on, in headless Chromium (tiny models, offline):

- as an admin, F5-TTS's model picker on the Engine status tab switches to a second tiny checkpoint,
  the card and the health JSON name it, and the next Dub's metadata says it ran; a known model whose
  weights are not here is refused with the command that fetches them, and the model stays;
- without an admin setting, the tab says why Load, Unload and the picker are missing and which
  variables enable them, shows the model F5-TTS runs, and the overall line names the optional parts
  that are missing with what to set;
- a fallback whose reason is long shows its fix (the variable to set) in the badge and the toast,
  wrapped, not cut.

``VOICE_STUDIO_UI_SCREENSHOTS=DIR`` keeps the screenshots there (default: the test's tmp dir).
"""

from __future__ import annotations

import pytest

from devtools.app_process import AppProcess
from devtools.tiny_models import build_f5_model, ema_state_dict, write_f5_variant
from tests.browser.test_advanced_browser import metadata_value, open_accordion
from tests.browser.test_browser_app import WAIT_S
from tests.browser.test_ui_browser import open_tab, screenshot
from tests.browser_support import browser, needs_chromium, page_wait  # noqa: F401  (browser is a fixture)

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]

ASR_FIX = "set VOICE_STUDIO_ASR_MODEL"


@pytest.fixture(scope="module")
def second_checkpoint(tiny, tmp_path_factory):
    model = build_f5_model(tiny.f5_vocab, seed=2)
    return write_f5_variant(ema_state_dict(model), tmp_path_factory.mktemp("picker") / "f5_second.safetensors", "bare")


@pytest.fixture(scope="module")
def admin_app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("status_admin_app")
    with AppProcess({**tiny_env, "VOICE_STUDIO_ADMIN": "1"}, workdir, name="status_admin_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def plain_app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("status_plain_app")
    with AppProcess(dict(tiny_env), workdir, name="status_plain_app") as proc:
        yield proc


def card_row(driver, engine: str, label: str) -> str | None:
    """The value of one row of an engine's card (None when the card has no such row)."""
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, f"#status-card-{engine} table.vs-engine-facts tr"):
        if row.find_element(By.TAG_NAME, "th").text.strip() == label:
            return row.find_element(By.TAG_NAME, "td").text.strip()
    return None


def open_status(driver, wait, app) -> None:
    from selenium.webdriver.common.by import By

    driver.get(app.url)
    wait.until(lambda d: d.find_element(By.ID, "dub-button").is_enabled())
    open_tab(driver, wait, "Engine status")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#status-card-f5tts [data-status]"))


def pick(driver, wait, elem_id: str, option: str) -> None:
    """Choose ``option`` in a Gradio dropdown."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input").click()
    item = wait.until(lambda d: next((li for li in d.find_elements(By.CSS_SELECTOR, "ul[role='listbox'] li")
                                      if li.is_displayed() and li.text.replace("✓", "").strip().startswith(option)),
                                     None))
    item.click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"#{elem_id} input").get_attribute("value")
               .startswith(option))


def test_an_admin_switches_f5_to_another_checkpoint(admin_app, browser, tiny, second_checkpoint,  # noqa: F811
                                                    tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    wait = page_wait(browser, WAIT_S)
    open_status(browser, wait, admin_app)
    assert card_row(browser, "f5tts", "Model") == f"custom checkpoint {tiny.f5_ckpt.name}"
    assert not any(note.is_displayed() for note in browser.find_elements(By.ID, "status-admin-note"))
    open_accordion(browser, wait, "status", "Switch F5-TTS's model", "status-model")

    # A known model whose weights are not here (the tests run offline): refused, with what fetches them.
    pick(browser, wait, "status-model", "SWivid/F5-TTS:")
    wait.until(lambda d: not any(e.is_displayed() for e in d.find_elements(By.ID, "status-model-custom")))
    browser.find_element(By.ID, "status-model-switch").click()
    toast = wait.until(lambda d: next((t for t in d.find_elements(By.CSS_SELECTOR, ".toast-body")
                                       if "python -m engines download" in t.text), None))
    assert "is not on this machine" in toast.text
    for close in browser.find_elements(By.CSS_SELECTOR, ".toast-close"):
        close.click()
    assert admin_app.health().json()["engines"]["f5tts"]["model"] == tiny.f5_ckpt.name

    # A custom checkpoint on the server, with the architecture the app was started with.
    pick(browser, wait, "status-model", "Custom")
    custom = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#status-model-checkpoint input, "
                                                                  "#status-model-checkpoint textarea"))
    wait.until(lambda d: custom.is_displayed())
    custom.send_keys(str(second_checkpoint), Keys.TAB)
    browser.find_element(By.ID, "status-model-switch").click()
    wait.until(lambda d: card_row(d, "f5tts", "Model") == f"custom checkpoint {second_checkpoint.name}")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#status-card-f5tts [data-status]")
               .get_attribute("data-status") == "available")
    assert card_row(browser, "f5tts", "Model source") == second_checkpoint.name
    wait.until(lambda d: any(f"F5-TTS now runs custom checkpoint {second_checkpoint.name}" in t.text
                             for t in d.find_elements(By.CSS_SELECTOR, ".toast-body")))
    open_accordion(browser, wait, "status", "Health JSON", "status-json")
    assert second_checkpoint.name in browser.find_element(By.ID, "status-json").text
    health = admin_app.health().json()["engines"]["f5tts"]
    assert health["model"] == second_checkpoint.name
    assert health["details"]["served_model"] == {"model": "custom", "checkpoint": second_checkpoint.name}
    screenshot(browser, tmp_path, "status-model-switched")

    # The next Dub on F5-TTS says which checkpoint ran.
    open_tab(browser, wait, "Dubbing")
    browser.find_element(By.ID, "dub-button").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dub-badges .vs-badge-engine"))
    assert metadata_value(browser, wait, "dub", "checkpoint") == second_checkpoint.name
    assert metadata_value(browser, wait, "dub", "tts_engine_used") == "f5tts"


def test_without_an_admin_the_tab_says_why_and_what_to_set(plain_app, browser, tiny, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    wait = page_wait(browser, WAIT_S)
    open_status(browser, wait, plain_app)
    note = browser.find_element(By.ID, "status-admin-note")
    assert note.is_displayed()
    assert "Load, Unload and the model picker are for admins" in note.text
    assert "VOICE_STUDIO_ADMIN=1" in note.text and "VOICE_STUDIO_ADMINS" in note.text
    assert not browser.find_elements(By.ID, "status-load-f5tts")
    assert not browser.find_elements(By.ID, "status-model-picker")
    assert card_row(browser, "f5tts", "Model") == f"custom checkpoint {tiny.f5_ckpt.name}"

    overall = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#status-overall [data-overall]"))
    assert overall.get_attribute("data-overall") == "healthy"
    line = browser.find_element(By.ID, "status-overall").text
    assert "optional parts unavailable" in line and "VOICE_STUDIO_ASR_MODEL" in line, line
    asr = browser.find_element(By.CSS_SELECTOR, "#status-parts [data-part='asr']")
    assert asr.get_attribute("data-status") == "unavailable" and ASR_FIX in asr.text
    screenshot(browser, tmp_path, "status-not-admin")


def test_a_long_fallback_reason_keeps_its_fix(plain_app, browser, reference_wav, tmp_path):  # noqa: F811
    """Cloning on F5-TTS without a transcript, offline: F5 needs speech recognition, which is missing,
    so XTTS speaks; the reason is long and ends with what to set."""
    from selenium.webdriver.common.by import By

    wait = page_wait(browser, WAIT_S)
    browser.get(plain_app.url)
    wait.until(lambda d: d.find_element(By.ID, "dub-button").is_enabled())
    open_tab(browser, wait, "Cloning")
    browser.find_element(By.CSS_SELECTOR, "#clone-reference input[type=file]").send_keys(str(reference_wav))
    text = browser.find_element(By.CSS_SELECTOR, "#clone-text textarea")
    text.send_keys("Hello there, a short test.")
    wait.until(lambda d: d.find_element(By.ID, "clone-button").is_enabled())
    browser.find_element(By.ID, "clone-button").click()
    badge = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#clone-badges .vs-badge-fallback"))
    assert badge.text.startswith("Fallback: F5-TTS → XTTS — F5-TTS needs the reference transcript")
    assert ASR_FIX in badge.text, badge.text
    # Wrapped inside the output column: several lines, none wider than the column.
    column = browser.find_element(By.ID, "clone-badges")
    assert badge.size["height"] > 2 * 16 and badge.size["width"] <= column.size["width"] + 1
    toast = wait.until(lambda d: next((t for t in d.find_elements(By.CSS_SELECTOR, ".toast-body")
                                       if "Fallback: F5-TTS → XTTS" in t.text), None))
    assert ASR_FIX in toast.text
    screenshot(browser, tmp_path, "fallback-reason-wrapped")
