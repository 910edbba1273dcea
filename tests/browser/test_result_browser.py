"""The result column and the uploads in headless Chromium, on the tiny models: one player (live while the
audio is made, then the whole clip in its place), "Read as: ..." when numbers were read as words, a
non-audio upload to Cloning refused at once in our words, and the Voices tab's heading row.
"""

from __future__ import annotations

import pytest

from devtools.app_process import AppProcess
from tests.browser.test_ui_browser import open_tab
from tests.browser_support import browser, needs_chromium, page_wait  # noqa: F401  (browser is a fixture)

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]
WAIT_S = 180
VISIBLE_JS = "(id => { const e = document.getElementById(id); return !!e && e.offsetParent !== null; })"
SHOWN_JS = f"return {VISIBLE_JS}(arguments[0]);"
PLAYERS_JS = f"return [arguments[0], arguments[1]].map({VISIBLE_JS});"  # both in one read: no swap between


@pytest.fixture(scope="module")
def app(tiny_env, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("result_browser")
    with AppProcess(tiny_env, workdir, name="result_browser") as proc:
        yield proc


def shown(driver, elem_id: str) -> bool:
    return bool(driver.execute_script(SHOWN_JS, elem_id))


def clip_link(driver) -> str | None:
    """The whole clip's download link: a new file for each result."""
    from selenium.webdriver.common.by import By

    links = driver.find_elements(By.CSS_SELECTOR, "#dub-audio a[data-testid='download-link']")
    return links[0].get_attribute("href") if links else None


def players(driver, prefix: str = "dub") -> tuple[bool, bool]:
    """(live shown, whole clip shown), read in one script so that no swap falls between the two."""
    live, audio = driver.execute_script(PLAYERS_JS, f"{prefix}-live", f"{prefix}-audio")
    return bool(live), bool(audio)


def dub(browser, wait, text: str) -> list[tuple[bool, bool]]:
    """Dub ``text``; every (live shown, whole clip shown) seen until the whole clip is back in place."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = browser.find_element(By.CSS_SELECTOR, "#dub-text textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)
    before = clip_link(browser)
    browser.find_element(By.ID, "dub-button").click()
    seen: list[tuple[bool, bool]] = []

    def whole_clip_back(d) -> bool:
        seen.append(players(d))
        return seen[-1] == (False, True) and clip_link(d) not in (None, before)

    wait.until(whole_clip_back)
    return seen


def test_one_player_and_read_as(app, browser):
    from selenium.webdriver.common.by import By

    wait = page_wait(browser, WAIT_S)
    browser.get(app.url)
    wait.until(lambda d: d.find_element(By.ID, "dub-button").is_enabled())
    assert players(browser) == (False, True)  # one player at rest

    seen = dub(browser, wait, "Tenho 3 gatos e 2 cães.")
    assert (True, True) not in seen  # never two players at once
    assert (True, False) in seen  # the live one took the whole clip's place while it was made
    link = browser.find_element(By.CSS_SELECTOR, "#dub-audio a[data-testid='download-link']")
    assert link.get_attribute("href").endswith(".wav")
    read_as = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#dub-read-as .vs-read-as"))
    assert read_as.is_displayed() and read_as.text == "Read as: Tenho três gatos e dois cães."

    dub(browser, wait, "Bom dia a todos.")  # nothing to read differently: no line
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#dub-read-as .vs-read-as"))


def test_a_non_audio_upload_is_refused_at_once_in_our_words(app, browser, tmp_path):
    from selenium.webdriver.common.by import By

    wait = page_wait(browser, WAIT_S)
    browser.get(app.url)
    wait.until(lambda d: d.find_element(By.ID, "dub-button").is_enabled())
    open_tab(browser, wait, "Cloning")
    notes = tmp_path / "notes.wav"  # an audio name, text inside
    notes.write_text("these are my notes, not a voice\n" * 50)
    upload = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#clone-reference input[type='file']"))
    upload.send_keys(str(notes))
    toast = wait.until(lambda d: next((t for t in d.find_elements(By.CSS_SELECTOR, ".toast-body")
                                       if "not in an accepted audio format" in t.text), None))
    assert "Invalid data" not in toast.text
    block = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#clone-error .vs-error"))
    assert "Input mistake" in block.text and "ffmpeg" not in block.text.lower()
    # A Clone with it anyway is refused in the same words.
    for close in browser.find_elements(By.CSS_SELECTOR, ".toast-close"):
        close.click()
    browser.find_element(By.CSS_SELECTOR, "#clone-text textarea").send_keys("Hello there.")
    browser.find_element(By.ID, "clone-button").click()
    wait.until(lambda d: any("not in an accepted audio format" in t.text
                             for t in d.find_elements(By.CSS_SELECTOR, ".toast-body")))
    assert "Invalid data" not in browser.find_element(By.ID, "clone-error").text


def test_voices_has_a_heading_row_not_a_refresh_strip(app, browser):
    from selenium.webdriver.common.by import By

    wait = page_wait(browser, WAIT_S)
    browser.get(app.url)
    wait.until(lambda d: d.find_element(By.ID, "dub-button").is_enabled())
    open_tab(browser, wait, "Voices")
    refresh = wait.until(lambda d: d.find_element(By.ID, "voice-refresh"))
    column = browser.execute_script("return arguments[0].closest('.column').getBoundingClientRect().width", refresh)
    assert refresh.size["width"] < column / 3, (refresh.size, column)
    assert not shown(browser, "voice-export-file") and not shown(browser, "voice-result")  # no empty boxes

    def cards(driver) -> set[str]:  # read in one script: the list may be re-rendered between two reads
        return set(driver.execute_script(
            "return [...document.querySelectorAll(\"[id^='voice-card-']\")].map((card) => card.id);"))

    # The cards come with the list the tab reads on opening: wait for them, then refresh.
    existing = wait.until(lambda d: cards(d) or None)
    refresh.click()
    wait.until(lambda d: cards(d) == existing)
