"""Saved voices in the page, in headless Debian Chromium (Selenium + chromium-driver).

Clone a voice in the Cloning tab, save it there with "Save this voice", pick it in the
Dubbing tab's voice dropdown (refreshed without reloading the page) and dub with it. In
the Voices tab a name written as HTML shows as text, and Delete asks before it deletes.
"""

from __future__ import annotations

import pytest

from engines.voices.library import VoiceLibrary
from devtools.app_process import AppProcess
from tests.browser_support import browser, needs_chromium, page_wait  # noqa: F401  (browser is a fixture)

WAIT_S = 180

pytestmark = [needs_chromium, pytest.mark.browser, pytest.mark.app]

HOSTILE_NAME = "<img src=x onerror=alert(1)> Bob"
TRANSCRIPT = "This is my voice, recorded for a test."


@pytest.fixture(scope="module")
def voices_app(tiny_env, tmp_path_factory, reference_wav):
    voices_dir = tmp_path_factory.mktemp("voices")
    library = VoiceLibrary(voices_dir)
    library.add(HOSTILE_NAME, reference_wav, "", notes="<script>alert(2)</script>")
    library.add("Temp Voice", reference_wav, TRANSCRIPT)  # deleted by a test
    workdir = tmp_path_factory.mktemp("voices_browser_app")
    with AppProcess({**tiny_env, "VOICE_STUDIO_VOICES_DIR": str(voices_dir)}, workdir, name="voices_app") as proc:
        yield proc




def open_tab(browser, name: str) -> None:
    from selenium.webdriver.common.by import By

    next(t for t in browser.find_elements(By.CSS_SELECTOR, "button[role='tab']") if t.text.strip() == name).click()


def test_save_a_voice_in_cloning_then_dub_with_it(voices_app, browser, reference_wav):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    wait = page_wait(browser, WAIT_S)
    browser.get(voices_app.url)
    wait.until(EC.element_to_be_clickable((By.ID, "dub-button")))
    open_tab(browser, "Cloning")
    wait.until(EC.element_to_be_clickable((By.ID, "clone-button")))
    browser.find_element(By.CSS_SELECTOR, "#clone-reference input[type='file']").send_keys(str(reference_wav))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clone-reference audio, #clone-reference #waveform"))
    browser.find_element(By.CSS_SELECTOR, "#clone-transcript textarea").send_keys(TRANSCRIPT)
    browser.find_element(By.CSS_SELECTOR, "#clone-text textarea").send_keys("Olá, esta é a voz da Maria.")
    # Nothing to save before a result.
    assert not [e for e in browser.find_elements(By.ID, "clone-save-voice") if e.is_displayed()]
    browser.find_element(By.ID, "clone-button").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clone-badges .vs-badge-engine"))

    wait.until(EC.visibility_of_element_located((By.ID, "clone-save-voice")))
    browser.find_element(By.CSS_SELECTOR, "#clone-save-name input, #clone-save-name textarea").send_keys("Maria")
    browser.find_element(By.ID, "clone-save-button").click()
    wait.until(lambda d: any("Voice Maria saved (id maria)" in t.text for t in d.find_elements(By.CSS_SELECTOR,
                                                                                              ".toast-body")))

    open_tab(browser, "Dubbing")
    dropdown = browser.find_element(By.CSS_SELECTOR, "#dub-preset input")
    dropdown.click()
    option = wait.until(lambda d: next((o for o in d.find_elements(By.CSS_SELECTOR, "ul[role='listbox'] li")
                                        if o.text.strip() == "Maria · saved"), None))
    labels = [o.text.replace("✓", "").strip() for o in browser.find_elements(By.CSS_SELECTOR, "ul[role='listbox'] li")]
    assert labels[:2] == ["Female (generic)", "Male (generic)"] and f"{HOSTILE_NAME} · saved · XTTS only" in labels
    option.click()
    browser.find_element(By.ID, "dub-button").click()
    wait.until(lambda d: "maria" in d.find_element(By.CSS_SELECTOR, "#dub-badges").text)
    badges = {b.get_attribute("data-badge"): b.text for b in browser.find_elements(By.CSS_SELECTOR,
                                                                                    "#dub-badges .vs-badge")}
    assert badges["engine"] == "Engine: F5-TTS" and "fallback" not in badges
    assert " · maria · " in badges["info"]


def test_voices_tab_shows_names_as_text_and_deletes_after_asking(voices_app, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    wait = page_wait(browser, WAIT_S)
    browser.get(voices_app.url)
    wait.until(EC.element_to_be_clickable((By.ID, "dub-button")))
    open_tab(browser, "Voices")
    card = wait.until(EC.visibility_of_element_located((By.ID, "voice-card-img-src-x-onerror-alert-1-bob")))
    assert HOSTILE_NAME in card.text and "<script>alert(2)</script>" in card.text
    assert not card.find_elements(By.CSS_SELECTOR, "img, script")

    picker = browser.find_element(By.CSS_SELECTOR, "#voice-pick input")
    picker.click()
    wait.until(lambda d: next((o for o in d.find_elements(By.CSS_SELECTOR, "ul[role='listbox'] li")
                               if o.text.strip() == "Temp Voice (temp-voice)"), None)).click()
    browser.find_element(By.ID, "voice-delete").click()
    question = wait.until(EC.visibility_of_element_located((By.ID, "voice-delete-question")))
    assert "Delete Temp Voice (temp-voice)?" in question.text and "cannot be undone" in question.text
    assert browser.find_elements(By.ID, "voice-card-temp-voice"), "nothing is deleted before the answer"
    browser.find_element(By.ID, "voice-delete-yes").click()
    wait.until(lambda d: not d.find_elements(By.ID, "voice-card-temp-voice"))
    assert VoiceLibrary(voices_app.env["VOICE_STUDIO_VOICES_DIR"]).record("temp-voice") is None
