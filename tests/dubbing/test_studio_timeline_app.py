"""The Studio's timeline in headless Chromium: drag a clip's edge then "Render changed", split and merge,
a 10-minute 150-line project that paints fast, and the page without the timeline's files.

The timeline is wavesurfer.js 8 (fetched by ``scripts/install.sh``; these tests need it, and say so);
its clips live in wavesurfer's shadow DOM, reached through ``StudioPage.clip`` and friends.
"""

from __future__ import annotations

import pytest
from gradio_client import handle_file

from devtools.app_process import AppProcess, call
from tests.browser_support import browser  # noqa: F401  (a fixture; it skips without Chromium)
from tests.dubbing.studio_page import StudioPage
from tests.dubbing_support import presets_dir, srt
from webui.tabs.studio import vendor

pytestmark = [pytest.mark.app, pytest.mark.browser]

CUES = [(0.5, 3.0, "Maria: one two three four five six."), (3.6, 5.2, "Joao: seven eight nine."),
        (5.8, 7.4, "Maria: ten eleven twelve."), (8.0, 9.5, "Joao: thirteen fourteen.")]
LONG = [(2.0 + 3.9 * i, 4.6 + 3.9 * i, f"{'Maria' if i % 2 else 'Joao'}: a line of the long scene.")
        for i in range(150)]                               # 150 lines over ten minutes, two speakers


def start_app(env, tmp_path_factory, name):
    return AppProcess(env, tmp_path_factory.mktemp(name), name=name)


@pytest.fixture(scope="module")
def app(tiny_env, reference_wav, tmp_path_factory):
    assert vendor.installed(vendor.timeline_dir()), f"the timeline's wavesurfer.js is missing: {vendor.HOW_TO_GET}"
    env = {**tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, tmp_path_factory.mktemp("p"))),
           "VOICE_STUDIO_RENDER_THREADS": "1"}
    with start_app(env, tmp_path_factory, "studio_timeline_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio_timeline_inputs")
    paths = {"scene": folder / "scene.srt", "long": folder / "long.srt"}
    paths["scene"].write_bytes(srt(CUES))
    paths["long"].write_bytes(srt(LONG))
    return paths


def rendered_scene(app, files, browser) -> StudioPage:
    page = StudioPage(browser)
    browser.get(app.url)
    page.open_studio()
    page.created(files["scene"], len(CUES))
    draws = page.timeline("draws") or 0
    page.rendered(f"rendered {len(CUES)}, unchanged 0")
    page.timeline_drawn(draws)
    return page


def test_dragging_a_clips_edge_makes_it_stale_and_render_changed_renders_it_alone(app, files, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    page = rendered_scene(app, files, browser)
    before = page.text(1, 2)
    assert page.clip(2).get_attribute("part").split()[-1] == "vs-done"
    draws = page.timeline("draws")
    ActionChains(browser).click_and_hold(page.handle(2, "right")).move_by_offset(40, 0).release().perform()
    page.wait.until(lambda d: "line 2 moved to its new slot" in page.message(), "the drag was not an edit")
    page.timeline_drawn(draws)
    assert page.text(1, 2) > before and page.text(1, 7) == "changed: render again"
    assert "vs-stale" in page.clip(2).get_attribute("part").split()
    assert [page.text(row, 7) for row in (0, 2, 3)] == ["▰▰▰▰ done"] * 3
    draws = page.timeline("draws")
    page.rendered("rendered 1, unchanged 0")
    page.timeline_drawn(draws)
    assert page.text(1, 7) == "▰▰▰▰ done" and "vs-done" in page.clip(2).get_attribute("part").split()


def test_a_line_splits_at_the_playhead_and_merges_back(app, files, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    page = rendered_scene(app, files, browser)
    page.clip(1).click()
    page.wait.until(lambda d: page.find("#studio-selection textarea").get_attribute("value") == "1",
                    "the clip did not select its line")
    ruler, clip = page.ruler(), page.clip(1)
    # The playhead into the clip's middle: a click on the ruler above it (it also stops the clip playing).
    middle = clip.rect["x"] + clip.rect["width"] / 2 - (ruler.rect["x"] + ruler.rect["width"] / 2)
    ActionChains(browser).move_to_element_with_offset(ruler, middle, 0).click().perform()
    # Parked, not passing by: the clip the click above started playing has stopped there.
    page.wait.until(lambda d: abs(page.timeline("ws.getCurrentTime()") - 1.75) < 0.1
                    and page.timeline("ws.isPlaying()") is False, "the playhead was not parked on the ruler click")
    draws = page.timeline("draws")
    page.tool("split").click()
    page.wait.until(lambda d: "line 1 split into lines 1 and 2" in page.message(), "no split")
    page.timeline_drawn(draws)
    assert page.rows() == len(CUES) + 1
    assert [page.text(0, 5), page.text(1, 5)] == ["one two three", "four five six."]
    assert page.text(1, 3) == "Maria" and page.text(2, 5) == "seven eight nine."
    page.clip(1).click()
    draws = page.timeline("draws")
    page.tool("merge").click()
    page.wait.until(lambda d: "merged into line 1" in page.message(), "no merge")
    page.timeline_drawn(draws)
    assert page.rows() == len(CUES) and page.text(0, 5) == "one two three four five six."
    assert page.text(0, 7) == "pending" and page.text(1, 5) == "seven eight nine."


def test_a_ten_minute_project_of_150_lines_paints_its_timeline_in_under_two_seconds(app, files, browser):
    _, report, _, _ = app.client().submit(handle_file(str(files["long"])), "en", "female_generic", "f5tts", None,
                                          api_name="/dub_subtitles").result(timeout=600)
    assert report["totals"]["rendered"] == 150 and report["totals"]["track_duration_s"] >= 585
    page = StudioPage(browser)
    browser.get(app.url)
    page.open_studio()
    page.wait.until(lambda d: report["project_id"] in d.execute_script(
        "return document.querySelector('#studio-projects input').value") or
        "long" in page.find("#studio-projects input").get_attribute("value"), "the project is not listed")
    draws = page.timeline("draws") or 0
    started = browser.execute_script("return performance.now();")
    page.click("studio-open")
    page.timeline_drawn(draws)
    paint_ms, painted = page.timeline("paintMs"), page.timeline("paintedAt")
    print(f"timeline of 150 lines / 10 min: {paint_ms:.0f} ms from its data to painted, "
          f"{painted - started:.0f} ms from Open")
    assert paint_ms < 2000
    assert page.timeline("regions.getRegions().length") == 150
    # Zoomed in, it scrolls to the end, where the last clip is drawn.
    for _ in range(3):
        page.tool("zoom-in").click()
    browser.execute_script("const s = arguments[0]; s.scrollLeft = s.scrollWidth;",
                           page.shadow().find_element("css selector", "[part='scroll']"))
    page.wait.until(lambda d: page.clip(150).is_displayed(), "the last clip is not drawn after scrolling")


def test_without_the_timeline_files_the_table_works_and_the_page_says_how_to_get_them(
        tiny_env, reference_wav, tmp_path_factory, files, browser):
    empty = tmp_path_factory.mktemp("no_wavesurfer")
    env = {**tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, tmp_path_factory.mktemp("p"))),
           "VOICE_STUDIO_TIMELINE_DIR": str(empty), "VOICE_STUDIO_TIMELINE_FETCH": "off"}
    with start_app(env, tmp_path_factory, "studio_no_timeline") as app:
        page = StudioPage(browser)
        browser.get(app.url)
        page.open_studio()
        page.created(files["scene"], len(CUES))
        page.wait.until(lambda d: page.timeline_state() == "missing", "the timeline does not say it is missing")
        status = page.find("#studio-timeline .vs-tl-status").text
        assert f"wavesurfer.js {vendor.VERSION}" in status and "scripts/install.sh" in status
        assert page.text(0, 5) == "one two three four five six."
        assert not list(empty.iterdir())                                   # nothing was fetched: the switch is off
        assert call(app.client(), "/studio_lines", project_id=page.summary().split("·")[1].strip())[0]["index"] == 1
