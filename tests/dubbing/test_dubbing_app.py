"""The Studio through the running app: ``/dub_subtitles`` with gradio_client, and the tab in headless Chromium.

One app process on the tiny models serves both. The browser test uploads an SRT,
creates the project, renders it, edits one line in the table, re-renders that line
alone, downloads the track, then reloads the page and reopens the project.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from dubbing import media
from devtools.app_process import REQUEST_TIMEOUT_S, AppProcess
from tests.browser_support import browser  # noqa: F401  (a fixture; it skips without Chromium)
from tests.dubbing.studio_page import StudioPage
from tests.dubbing_support import make_video, presets_dir, srt

pytestmark = pytest.mark.app

CUES = [(0.2, 1.5, "Maria: hello there."), (1.6, 2.6, "Joao: a second line."), (2.8, 3.6, "and a third.")]


@pytest.fixture(scope="module")
def app(tiny_env, reference_wav, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("studio_app")
    env = {**tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, workdir / "presets"))}
    with AppProcess(env, workdir, name="studio_app") as proc:
        yield proc


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio_inputs")
    subtitles = folder / "scene.srt"
    subtitles.write_bytes(srt(CUES))
    return {"srt": subtitles, "video": make_video(folder / "scene.mp4", seconds=4.0)}


def dub_subtitles(app, **overrides):
    params = dict(language="en", voice_preset="female_generic", engine="f5tts", quality_profile=None,
                  speaker_voices=None, video=None, fit="fit")
    params.update(overrides)
    return app.client().submit(api_name="/dub_subtitles", **params).result(timeout=REQUEST_TIMEOUT_S)


def test_dub_subtitles_api_returns_track_report_subtitles_and_video(app, files):
    track, report, subtitles, video = dub_subtitles(
        app, subtitles=handle_file(str(files["srt"])), video=handle_file(str(files["video"])),
        speaker_voices=json.dumps({"Maria": "male_generic"}))
    assert [line["voice"] for line in report["lines"]] == ["male_generic", "female_generic", "female_generic"]
    assert report["totals"]["rendered"] == 3 and report["totals"]["failed"] == 0
    assert all(line["tts_engine_used"] == "f5tts" and line["fit_method"] for line in report["lines"])
    samples, rate = sf.read(track)
    assert rate == 24000 and len(samples) / rate == pytest.approx(report["totals"]["track_duration_s"], abs=1e-3)
    assert "Maria: hello there." in Path(subtitles).read_text()
    streams = media.probe_streams(video)["streams"]
    assert sorted(s["codec_type"] for s in streams) == ["audio", "video"]
    assert app.client().predict(limit=5, api_name="/history")[0]["metadata"]["mode"] == "studio"


def test_dub_subtitles_keeps_the_original_sound_as_a_second_track_when_asked(app, files):
    _, report, _, video = dub_subtitles(app, subtitles=handle_file(str(files["srt"])),
                                        video=handle_file(str(files["video"])), keep_original_track=True)
    streams = media.probe_streams(video)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio", "audio"]
    assert [s["disposition"]["default"] for s in streams[1:]] == [1, 0]
    assert [line["take"] for line in report["lines"]] == [1, 1, 1]


@pytest.mark.parametrize("overrides, message", [
    ({"voice_preset": "nobody"}, "unknown voice 'nobody'"),
    ({"speaker_voices": '{"Maria": "nobody"}'}, "unknown voice 'nobody' for speaker 'Maria'"),
    ({"speaker_voices": "{not json"}, "the speaker→voice map is not valid JSON (line 1, column 2"),
    ({"speaker_voices": '{"Maria": ' + "[" * 40_000 + "]" * 40_000 + "}"},
     "the speaker→voice map is 80,011 bytes; the limit is 65,536"),
    ({"speaker_voices": '{"Maria": ' + "[" * 5_000 + "]" * 5_000 + "}"},
     "the speaker→voice map is nested 5,001 levels deep; the limit is 32"),
    ({"video": "text"}, "is not a video"),
    ({"subtitles": "bad"}, "malformed subtitles at line 6"),
    ({"subtitles": "far"}, "cue 2 (line 6) ends at 99:00:01,000, past the longest track allowed (03:00:00,000, "
                           "VOICE_STUDIO_MAX_TRACK_S=10800)"),
])
def test_dub_subtitles_api_bad_input(app, files, tmp_path, overrides, message):
    params = {"subtitles": handle_file(str(files["srt"]))}
    if overrides.get("video") == "text":
        fake = tmp_path / "fake.mp4"
        fake.write_text("not a video at all")
        overrides = {"video": handle_file(str(fake))}
    if overrides.get("subtitles") == "bad":
        bad = tmp_path / "bad.srt"
        bad.write_text("1\n00:00:01,000 --> 00:00:02,000\nOk.\n\n2\n00:00:03 --> 00:00:04,000\nBad.\n")
        overrides = {"subtitles": handle_file(str(bad))}
    if overrides.get("subtitles") == "far":  # 60 bytes that once asked the mixer for 32 GiB
        far = tmp_path / "far.srt"
        far.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n99:00:00,000 --> 99:00:01,000\nBye.\n")
        overrides = {"subtitles": handle_file(str(far))}
    with pytest.raises(AppError) as err:
        dub_subtitles(app, **{**params, **overrides})
    assert message in str(err.value)
    assert str(tmp_path) not in str(err.value) and "Traceback" not in str(err.value)


@pytest.mark.browser
def test_studio_tab_renders_edits_one_line_and_reopens(app, files, browser):
    from selenium.webdriver.common.by import By

    page = StudioPage(browser)
    wait, cell, retry, text, summary, open_studio = (page.wait, page.cell, page.retry, page.text, page.summary,
                                                     page.open_studio)

    browser.get(app.url)
    open_studio()
    page.create(files["srt"])
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio-lines [data-testid='cell-2-5']"), "no table")
    assert [text(r, 5) for r in range(3)] == ["hello there.", "a second line.", "and a third."]
    assert [text(r, 3) for r in range(3)] == ["Maria", "Joao", ""]
    assert "Maria=female_generic" in browser.find_element(By.CSS_SELECTOR, "#studio-speaker-voices textarea") \
        .get_attribute("value")

    browser.find_element(By.ID, "studio-render-all").click()
    wait.until(lambda d: "rendered 3, unchanged 0" in summary(), "render all did not finish")
    assert all("done" in text(r, 7) for r in range(3))
    assert all(text(r, 8).split(" ")[0] in ("natural", "engine", "stretch", "gap", "overrun") for r in range(3))
    assert all(text(r, 9) == "F5-TTS" for r in range(3))

    # Edit line 2's text in the table, select it, render the selection: that line alone renders again.
    page.edit(1, 5, "a second line.", "an edited second line.")
    retry(lambda: cell(1, 0).click(),
          lambda d: d.find_element(By.CSS_SELECTOR, "#studio-selection textarea").get_attribute("value") == "2")
    browser.find_element(By.ID, "studio-render-selected").click()
    wait.until(lambda d: "rendered 1, unchanged 0" in summary(), "render selected did not finish")
    assert text(1, 5) == "an edited second line." and "done" in text(1, 7)

    # Download the track the page offers.
    link = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio-track a[data-testid='download-link']"),
                      "no track download")[0]
    response = httpx.get(link.get_attribute("href"), timeout=30)
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    track, rate = sf.read(io.BytesIO(response.content))
    assert rate == 24000 and len(track) >= round(CUES[-1][1] * rate)

    # A reload forgets the page's state; the project list brings the project back as it was.
    project_line = summary().split("·")[1].strip()
    browser.refresh()
    open_studio()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#studio-projects input").get_attribute("value"),
               "the project list is empty")
    browser.find_element(By.ID, "studio-open").click()
    wait.until(lambda d: project_line in summary(), "project not reopened")
    assert text(1, 5) == "an edited second line." and all("done" in text(r, 7) for r in range(3))


@pytest.mark.browser
def test_a_table_edit_past_the_longest_track_is_refused_by_name(app, files, browser):
    """An end time of 998 hours typed into the table: refused before rendering, the project kept."""
    from selenium.webdriver.common.by import By

    page = StudioPage(browser)
    browser.get(app.url)
    page.open_studio()
    page.create(files["srt"])
    page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio-lines [data-testid='cell-2-5']"), "no table")
    page.edit(2, 2, "00:00:03.600", "998:00:00.000")
    browser.find_element(By.ID, "studio-render-all").click()
    message = ("line 3 ends at 998:00:00,000, past the longest track allowed (03:00:00,000, "
               "VOICE_STUDIO_MAX_TRACK_S=10800)")
    page.wait.until(lambda d: any(message in t.text for t in d.find_elements(By.CSS_SELECTOR, ".toast-body")),
                    "no message naming the line and the limit")
    assert isinstance(app.client().predict(limit=1, api_name="/history"), list)  # the app keeps serving
