"""The History tab in headless Chromium: entries play from Gradio's cache, pages turn, deletes ask first.

The output folder is filled beforehand through ``OutputHistory`` (as another process
of the app would), so no model is loaded. Each player's file must load over HTTP
although the output folder itself is not served.
"""

from __future__ import annotations

import httpx
import pytest

from history import OutputHistory
from devtools.app_process import AppProcess
from tests.browser_support import browser, count_events, events_sent, needs_chromium, wait_events_done  # noqa: F401
from tests.history.test_history_index import request, result

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]
WAIT_S = 60
ENTRIES = 25


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("history_browser")
    history = OutputHistory(workdir / "outputs")
    for i in range(ENTRIES):
        history.save_result(request(f"entry number {i}."), result(0.5))
    # No model is needed to browse the history: the engines point at nothing.
    env = {"F5TTS_CKPT": str(workdir / "no_checkpoint.safetensors"), "XTTS_MODEL": str(workdir / "no_xtts"),
           "VOICE_STUDIO_CACHE_DIR": str(workdir / "cache")}
    with AppProcess(env, workdir, name="history_browser") as proc:
        yield proc


def open_history(browser, app):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    count_events(browser)
    browser.get(app.url)
    wait = WebDriverWait(browser, WAIT_S, ignored_exceptions=[StaleElementReferenceException])
    wait.until(lambda d: any(t.text.strip() == "History" for t in d.find_elements(By.CSS_SELECTOR, "button[role='tab']")))
    next(t for t in browser.find_elements(By.CSS_SELECTOR, "button[role='tab']") if t.text.strip() == "History").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".vs-history-head"))
    return wait


def shown_texts(browser) -> list[str]:
    """Read in one script: the list is re-rendered under Selenium's feet after each change."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('.vs-history-text'), e => e.textContent)")


def position(browser) -> str:
    return browser.execute_script("const e = document.getElementById('history-position'); "
                                  "return e ? e.textContent : ''")


def test_history_plays_pages_and_deletes_after_asking(app, browser):
    from selenium.webdriver.common.by import By

    wait = open_history(browser, app)
    assert shown_texts(browser)[0] == f"entry number {ENTRIES - 1}."
    # Every player's file is served (from Gradio's cache, not from the output folder).
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".vs-history-entry a[data-testid='download-link']"))
               == 20)
    href = browser.find_element(By.CSS_SELECTOR, ".vs-history-entry a[data-testid='download-link']").get_attribute("href")
    assert str(app.output_dir) not in href
    response = httpx.get(href, timeout=30)
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    assert "Entries 1–20 of 25" in position(browser)

    click(wait, By.ID, "history-older")
    wait.until(lambda d: "Entries 21–25 of 25" in position(d))
    assert shown_texts(browser)[-1] == "entry number 0."
    click(wait, By.ID, "history-newer")
    wait.until(lambda d: "Entries 1–20 of 25" in position(d))

    # Delete asks first: "Cancel" keeps the entry, "OK" removes it.
    newest = OutputHistory(app.output_dir).list()[0]
    sent = events_sent(browser)
    click(wait, By.CSS_SELECTOR, ".vs-history-delete")
    wait.until(lambda d: _alert(d)).dismiss()
    wait_events_done(wait, sent)  # the click's event has run on the server
    assert OutputHistory(app.output_dir).get(newest.id) == newest
    click(wait, By.CSS_SELECTOR, ".vs-history-delete")
    wait.until(lambda d: _alert(d)).accept()
    wait.until(lambda d: shown_texts(d) and shown_texts(d)[0] == f"entry number {ENTRIES - 2}.")
    assert OutputHistory(app.output_dir).get(newest.id) is None

    click(wait, By.ID, "history-clear")
    wait.until(lambda d: _alert(d)).accept()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".vs-history-head"))
    assert OutputHistory(app.output_dir).list() == []


def click(wait, by: str, selector: str) -> None:
    """Click the element once it is there; a re-render that replaces it mid-click is retried."""
    wait.until(lambda d: d.find_element(by, selector).click() or True)


def _alert(driver):
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = driver.switch_to.alert
        alert.text  # noqa: B018  (raises while there is none)
        return alert
    except NoAlertPresentException:
        return False
