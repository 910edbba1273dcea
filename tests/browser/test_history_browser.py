"""The History tab in headless Chromium: a compact list that plays from Gradio's cache, pages, searches,
filters by engine and kind, puts an entry's settings (its knobs too) back into Dubbing, and asks
before deleting.

The output folder is filled beforehand through ``OutputHistory`` (as another process of the
app would), so no model is loaded. The player's file must load over HTTP although the output
folder itself is not served.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from devtools.app_process import AppProcess
from engines import SynthesisRequest, SynthesisResult
from history import OutputHistory
from tests.browser.test_advanced_browser import open_accordion, type_number
from tests.browser.test_status_browser import pick
from tests.browser_support import (browser, count_events, events_sent, needs_chromium,  # noqa: F401
                                   page_wait, wait_events_done)
from tests.history.test_history_index import request, result

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]
WAIT_S = 60
ENTRIES = 25
XTTS_TEXTS = ("Bom dia número um.", "Bom dia número dois.", "Bom dia número três.")
# The second XTTS entry ran with a changed knob; the others with xtts_fast's values (temperature 0.65, top-k 30).
CHANGED_KNOBS = {1: {"temperature": 0.5}}


def start_app(workdir, fill) -> AppProcess:
    history = OutputHistory(workdir / "outputs")
    fill(history)
    # No model is needed to browse the history: the engines point at nothing.
    env = {"F5TTS_CKPT": str(workdir / "no_checkpoint.safetensors"), "XTTS_MODEL": str(workdir / "no_xtts"),
           "VOICE_STUDIO_CACHE_DIR": str(workdir / "cache")}
    return AppProcess(env, workdir, name="history_browser")


def plain_entries(history: OutputHistory) -> None:
    for i in range(ENTRIES):
        history.save_result(request(f"entry number {i}."), result(0.5))


def varied_entries(history: OutputHistory) -> None:
    plain_entries(history)
    for number, text in enumerate(XTTS_TEXTS):
        history.save_result(SynthesisRequest(text=text, language="pt-BR", engine="xtts", voice_preset="male_generic",
                                             quality_profile="xtts_fast", speed=1.25,
                                             knobs=CHANGED_KNOBS.get(number)),
                            SynthesisResult(np.zeros(2400, np.float32), 24000, {
                                "tts_engine_requested": "xtts", "tts_engine_used": "xtts", "mode": "dub",
                                "quality_profile_used": "xtts_fast", "voice": "male_generic", "seed": 31}))
    history.save_result(SynthesisRequest(text="Uma voz clonada.", language="pt-BR", reference_audio=__file__,
                                         reference_text="a transcript"),
                        SynthesisResult(np.zeros(2400, np.float32), 24000, {
                            "tts_engine_used": "f5tts", "mode": "clone", "voice": "cloned", "seed": 5}))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with start_app(tmp_path_factory.mktemp("history_browser"), plain_entries) as proc:
        yield proc


@pytest.fixture(scope="module")
def search_app(tmp_path_factory):
    with start_app(tmp_path_factory.mktemp("history_search"), varied_entries) as proc:
        yield proc


def open_history(browser, app):
    from selenium.webdriver.common.by import By

    count_events(browser)
    browser.get(app.url)
    wait = page_wait(browser, WAIT_S)
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
    wait.until(lambda d: "Entries 1–20 of 25" in position(d))
    # Compact: twenty entries in well under 3,400 px, and no player until one is played.
    height = browser.execute_script("return document.querySelector('.vs-history-entry').parentElement"
                                    ".getBoundingClientRect().height")
    assert height < 20 * 130, height
    assert not any(p.is_displayed() for p in browser.find_elements(By.ID, "history-player"))
    click(wait, By.CSS_SELECTOR, ".vs-history-play")
    link = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#history-player a[data-testid='download-link']"))
    href = link.get_attribute("href")
    assert str(app.output_dir) not in href
    response = httpx.get(href, timeout=30)
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    assert f"entry number {ENTRIES - 1}." in browser.find_element(By.ID, "history-player").text

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


def test_history_searches_filters_pages_and_uses_an_entry_again(search_app, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    wait = open_history(browser, search_app)
    total = ENTRIES + len(XTTS_TEXTS) + 1
    wait.until(lambda d: f"Entries 1–20 of {total}," in position(d))

    search = browser.find_element(By.CSS_SELECTOR, "#history-search input, #history-search textarea")
    search.send_keys("BOM dia")
    wait.until(lambda d: "Entries 1–3 of 3 that match" in position(d))
    assert shown_texts(browser) == list(reversed(XTTS_TEXTS))
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.DELETE)
    wait.until(lambda d: f"Entries 1–20 of {total}," in position(d))

    pick(browser, wait, "history-engine", "XTTS")
    wait.until(lambda d: "Entries 1–3 of 3 that match" in position(d))
    pick(browser, wait, "history-engine", "Every engine")
    pick(browser, wait, "history-mode", "Clone")
    wait.until(lambda d: "Entries 1–1 of 1 that match" in position(d))
    assert shown_texts(browser) == ["Uma voz clonada."]
    pick(browser, wait, "history-mode", "Every kind")
    pick(browser, wait, "history-limit", "10 a page")
    wait.until(lambda d: f"Entries 1–10 of {total}," in position(d))
    click(wait, By.ID, "history-older")
    wait.until(lambda d: f"Entries 11–20 of {total}," in position(d))
    assert shown_texts(browser)[0] == f"entry number {ENTRIES - 7}."

    # "Use again" on an XTTS dub: Dubbing opens with its text, engine, profile, speed and the seed that ran,
    # and its knobs: its own temperature, xtts_fast's top-k. The profile's change re-shows the knobs a moment
    # later; that must keep the entry's, not put the profile's back.
    click(wait, By.ID, "history-newer")
    wait.until(lambda d: f"Entries 1–10 of {total}," in position(d))
    use_again(browser, wait, XTTS_TEXTS[1], "with its knobs temperature 0.5")
    open_accordion(browser, wait, "dub", "Advanced", "dub-speed")
    # The engine's own change (it offers XTTS's profiles) keeps the entry's profile, so these settle here.
    expected = {"engine": "XTTS", "profile": "xtts_fast", "speed": "1.25", "seed": "31", "preset": "Male (generic)"}
    wait.until(lambda d: form_values(d) == expected)
    settled(browser, wait, {"temperature": "0.5", "top_k": "30"})

    # The user moves the knobs; "Use again" on an entry made without changed knobs (same profile and voice, so
    # nothing re-shows them) puts the profile's values back.
    type_number(knob_box(browser, "temperature"), "1.3")
    type_number(knob_box(browser, "top_k"), "7")
    wait.until(lambda d: knob_values(d) == {"temperature": "1.3", "top_k": "7"})
    next(t for t in browser.find_elements(By.CSS_SELECTOR, "button[role='tab']") if t.text.strip() == "History").click()
    use_again(browser, wait, XTTS_TEXTS[0])
    settled(browser, wait, {"temperature": "0.65", "top_k": "30"})
    assert form_values(browser) == expected


def use_again(browser, wait, text: str, said: str = "Dubbing is filled") -> None:
    """Click "Use again" on the entry of ``text``; wait until Dubbing shows it and every event has run."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def clicked(d) -> bool:
        try:
            rows = [r for r in d.find_elements(By.CSS_SELECTOR, ".vs-history-entry") if text in r.text]
            if rows and rows[0].is_displayed():
                rows[0].find_element(By.CSS_SELECTOR, ".vs-history-again").click()
                return True
        except StaleElementReferenceException:  # the list was re-rendered: find the row again
            pass
        return False

    sent = events_sent(browser)
    wait.until(clicked)
    dubbing = next(t for t in browser.find_elements(By.CSS_SELECTOR, "button[role='tab']") if t.text.strip() == "Dubbing")
    wait.until(lambda d: dubbing.get_attribute("aria-selected") == "true")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#dub-text textarea").get_attribute("value") == text)
    wait.until(lambda d: any(said in t.text for t in d.find_elements(By.CSS_SELECTOR, ".toast-body")))
    wait_events_done(wait, sent)


def knob_box(driver, name: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#dub-knob-{name} input[type='number']")


def knob_values(driver) -> dict[str, str]:
    return {name: knob_box(driver, name).get_attribute("value") for name in ("temperature", "top_k")}


def settled(browser, wait, expected: dict[str, str]) -> None:
    """The knobs show ``expected`` once every event the page sent has run (the re-showing included)."""
    wait.until(lambda d: knob_values(d) == expected)
    wait_events_done(wait, events_sent(browser) - 1)
    assert knob_values(browser) == expected


def form_values(driver) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    return {name: driver.find_element(By.CSS_SELECTOR, f"#dub-{name} input, #dub-{name} textarea").get_attribute("value")
            for name in ("engine", "profile", "speed", "seed", "preset")}


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
