"""The Studio as an editor in headless Chromium: progress that moves, Cancel, errors that keep the work,
takes, and the table's layout at 1400 px and 390 px; and the editing API (``/studio_*``).

One app process on the tiny models, rendering one line at a time (``VOICE_STUDIO_RENDER_THREADS=1``),
so each line finishes on its own and the page can be seen between two of them. Every wait is on an
event (a value, an element, a recorded change), never a sleep.
"""

from __future__ import annotations

import re

import pytest
from gradio_client.exceptions import AppError

from devtools.app_process import AppProcess, call
from tests.browser_support import browser  # noqa: F401  (a fixture; it skips without Chromium)
from tests.dubbing.studio_page import StudioPage
from tests.dubbing_support import presets_dir, srt

pytestmark = pytest.mark.app

WORDS = ["hello there, this is the first line.", "a second line, by another voice.", "three.",
         "the fourth line says a little more than the others do.", "five is short.", "and six ends the scene."]
CUES = [(0.3 + 2.2 * i, 2.1 + 2.2 * i, f"{'Maria' if i % 2 == 0 else 'Joao'}: {text}") for i, text in enumerate(WORDS)]
MANY = [(0.2 + 1.5 * i, 1.5 + 1.5 * i, f"line number {i + 1} of a longer scene.") for i in range(12)]


@pytest.fixture(scope="module")
def app(tiny_env, reference_wav, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("studio_editor_app")
    env = {**tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, workdir / "presets")),
           "VOICE_STUDIO_RENDER_THREADS": "1"}
    with AppProcess(env, workdir, name="studio_editor_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio_editor_inputs")
    paths = {"scene": folder / "scene.srt", "many": folder / "many.srt", "bad": folder / "bad.srt"}
    paths["scene"].write_bytes(srt(CUES))
    paths["many"].write_bytes(srt(MANY))
    paths["bad"].write_text("1\n00:00:01,000 --> 00:00:02,000\nOk.\n\n2\n00:00:03 --> 00:00:04,000\nBad.\n")
    return paths


def statuses(page: StudioPage, lines: int) -> list[str]:
    return [page.text(row, 7) for row in range(lines)]


def created(app, browser, subtitles, lines: int) -> StudioPage:
    """The Studio open on a new project made from ``subtitles``."""
    page = StudioPage(browser)
    browser.get(app.url)
    page.open_studio()
    page.created(subtitles, lines)
    return page


@pytest.mark.browser
def test_the_table_and_the_bar_move_line_by_line_while_rendering(app, files, browser):
    page = created(app, browser, files["scene"], len(CUES))
    page.record()
    page.rendered(f"rendered {len(CUES)}, unchanged 0")
    between = [s for s in page.snapshots() if 0 < sum("done" in x for x in s["statuses"]) < len(CUES)]
    assert between, "the table never showed some lines done and others not"
    counts = {m.group(1) for s in page.snapshots() for m in [re.search(r"(\d+) of 6 lines", s["progress"])] if m}
    assert {"1", "2"} <= counts                                           # the bar counted lines one by one
    assert any("s of speech" in s["progress"] and "of 6 lines" in s["progress"] for s in between)
    finished = [page.text(row, 8) for row in range(len(CUES))]
    assert all(fit.split(" ")[0] in ("natural", "engine", "stretch", "gap", "overrun") for fit in finished)
    assert all(page.text(row, 9) == "F5-TTS" for row in range(len(CUES)))
    # The project list's label counts the lines rendered, right after the render.
    page.wait.until(lambda d: "6/6 lines" in page.find("#studio-projects input").get_attribute("value"))


@pytest.mark.browser
def test_cancel_stops_after_the_line_in_flight_and_keeps_what_finished(app, files, browser):
    page = created(app, browser, files["many"], len(MANY))
    page.click("studio-render-changed")
    page.wait.until(lambda d: any("done" in s for s in statuses(page, len(MANY))), "no line finished")
    page.click("studio-cancel")
    page.wait.until(lambda d: "cancelled" in page.summary(), "the render was not cancelled")
    done = sum("done" in s for s in statuses(page, len(MANY)))
    assert 1 <= done < len(MANY)
    assert "what finished is kept" in page.message()
    assert page.find("#studio-track a[data-testid='download-link']").get_attribute("href")
    # What was left renders next, and only that.
    page.rendered(f"rendered {len(MANY) - done}, unchanged 0")


@pytest.mark.browser
def test_a_bad_file_leaves_the_project_the_typing_and_a_message_that_stays(app, files, browser):
    from selenium.webdriver.common.by import By

    page = created(app, browser, files["scene"], len(CUES))
    project = page.summary().split("·")[1].strip()
    typed = page.find("#studio-speaker-voices textarea")
    typed.send_keys("\nNarrator=male_generic")
    page.find("#studio-subtitles button[aria-label='Clear']").click()
    page.create(files["bad"])
    page.wait.until(lambda d: "malformed subtitles at line 6" in page.message(), "no message beside the project")
    for close in browser.find_elements(By.CSS_SELECTOR, ".toast-close"):
        close.click()
    page.wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".toast-body"), "the toast stayed")
    assert "malformed subtitles at line 6" in page.message()                 # still there once the toast is gone
    assert project in page.summary() and page.rows() == len(CUES) and page.text(0, 5) == WORDS[0]
    assert "Narrator=male_generic" in page.find("#studio-speaker-voices textarea").get_attribute("value")
    errors = browser.execute_script("return [...document.querySelectorAll(\"[data-testid='status-tracker'] .error\")]"
                                    ".filter(e => e.offsetParent !== null).length;")
    assert errors == 0                                                        # no red "Error" over the outputs


@pytest.mark.browser
def test_a_new_take_is_kept_beside_the_first_and_either_goes_into_the_track(app, files, browser):
    from selenium.webdriver.common.by import By

    page = created(app, browser, files["scene"], len(CUES))
    page.rendered(f"rendered {len(CUES)}, unchanged 0")
    project_id = page.summary().split("·")[1].strip()
    page.retry(lambda: page.cell(2, 0).click(),
               lambda d: page.find("#studio-selection textarea").get_attribute("value") == "3")
    page.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#studio-takes label")) == 1, "no take listed")
    page.rendered("rendered 1, unchanged 0", button="studio-new-take")
    page.wait.until(lambda d: page.text(2, 10) == "2/2", "the new take is not the line's")
    takes = page.wait.until(lambda d: (labels := d.find_elements(By.CSS_SELECTOR, "#studio-takes label"))
                            and len(labels) == 2 and labels, "two takes are not listed")
    first = next(label for label in takes if label.text.startswith("take 1 "))
    first.click()
    page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio-take-audio audio, #studio-take-audio "
                                                               "[data-testid='waveform-Take']"), "the take does not play")
    page.click("studio-use-take")
    page.wait.until(lambda d: "line 3 uses take 1" in page.message(), "the take was not picked")
    assert page.text(2, 10) == "1/2"
    line = call(app.client(), "/studio_lines", project_id=project_id)[2]
    assert line["take"] == 1 and line["takes"] == [1, 2] and not line["stale"]


@pytest.mark.browser
@pytest.mark.parametrize("width, phone", [(1400, False), (390, True)])
def test_headers_and_times_stay_on_one_line_and_a_phone_scrolls_the_table(app, files, browser, width, phone):
    page = created(app, browser, files["scene"], len(CUES))
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": phone})
    page.wait.until(lambda d: d.execute_script("return window.innerWidth") == width)
    measured = browser.execute_script("""
        const one = (el) => { const r = document.createRange(); r.selectNodeContents(el);
                              return r.getClientRects().length === 1 && el.scrollWidth <= el.clientWidth + 1; };
        const heads = [...document.querySelectorAll('#studio-lines th span.header')];
        const times = [...document.querySelectorAll("#studio-lines [data-col='1'] span, #studio-lines [data-col='2'] span")];
        const view = document.querySelector('#studio-lines .virtual-table-viewport');
        const language = document.querySelector('#studio-language input');
        return {heads: heads.length, headsOne: heads.filter(one).length, times: times.length,
                timesOne: times.filter(one).length, scrolls: view.scrollWidth > view.clientWidth + 1,
                page: document.documentElement.scrollWidth, language: language.scrollWidth <= language.clientWidth + 1};
    """)
    assert measured["heads"] == 11 and measured["headsOne"] == 11
    assert measured["times"] == 2 * len(CUES) and measured["timesOne"] == measured["times"]
    assert measured["scrolls"] == phone                 # the whole table fits at 1400 px and scrolls sideways at 390
    assert measured["page"] <= width + 1 and measured["language"]


def test_the_editing_api_retimes_splits_merges_and_renders_only_what_changed(app, files):
    from gradio_client import handle_file

    client = app.client()
    _, report, _, _ = client.submit(handle_file(str(files["scene"])), "en", "female_generic", "f5tts", None,
                                    api_name="/dub_subtitles").result(timeout=300)
    project_id = report["project_id"]
    lines = call(client, "/studio_retime", project_id=project_id, line=2, start=2.5, end=4.4)
    assert (lines[1]["start"], lines[1]["end"], lines[1]["stale"]) == (2.5, 4.4, True)
    lines = call(client, "/studio_split", project_id=project_id, line=1, at=1.07)   # 3 of 7 words in
    assert [line["text"] for line in lines[:2]] == ["hello there, this", "is the first line."]
    assert call(client, "/studio_render", project_id=project_id)["render"]["rendered"] == [1, 2, 3]
    lines = call(client, "/studio_merge", project_id=project_id, line=1)
    assert lines[0]["text"] == WORDS[0] and len(lines) == len(CUES) and lines[0]["stale"]
    for name, params, message in [
        ("/studio_merge", {"line": 1}, "different speakers"),
        ("/studio_split", {"line": 3, "at": 99.0}, "put the playhead inside it"),
        ("/studio_retime", {"line": 9, "start": 1.0, "end": 2.0}, "no line 9; lines are numbered 1 to 6"),
        ("/studio_pick_take", {"line": 2, "take": 7}, "line 2 has no take 7"),
    ]:
        with pytest.raises(AppError, match=message):
            call(client, name, project_id=project_id, **params)
    with pytest.raises(AppError, match="no saved project"):
        call(client, "/studio_lines", project_id="20991231T000000Z-00000000")
