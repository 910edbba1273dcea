"""Dubbing a video through the running app: ``/dub_video`` with gradio_client, and "Start from a video"
in headless Chromium to a rendered MP4, then one edited line rendered again alone.

One app process on the tiny models (F5-TTS, Whisper, WavLM, NLLB-style, Demucs), dubbing the generated
two-voice source video (``video_source``). Random weights make noise: the tests check stages, files,
streams and which lines render, not words.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from devtools.app_process import AppProcess, call
from devtools.tiny_pipeline_models import pipeline_models
from dubbing import media
from dubbing.video.state import STAGES
from tests.browser_support import browser  # noqa: F401  (a fixture; it skips without Chromium)
from tests.dubbing.studio_page import StudioPage
from tests.dubbing_support import presets_dir
from tests.video.video_source import session_source

pytestmark = [pytest.mark.app, pytest.mark.slow]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return session_source(tmp_path_factory)


@pytest.fixture(scope="module")
def app(tiny_env, reference_wav, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("video_app")
    env = {**tiny_env, **pipeline_models(tmp_path_factory),
           "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, workdir / "presets")),
           "VOICE_STUDIO_VOICES_DIR": str(workdir / "voices")}
    with AppProcess(env, workdir, name="video_app") as proc:
        yield proc


def dub_video(app, **params):
    return app.client().submit(api_name="/dub_video", **params).result(timeout=900)


def test_dub_video_returns_the_track_report_both_subtitles_and_the_mp4(app, source):
    track, report, transcript, dubbed, video = dub_video(
        app, video=handle_file(str(source.video)), language="en", source_language="en", speakers="2",
        translation="none", seed="5")
    assert report["kind"] == "video" and report["source_language"] == "en" and report["speakers"] == ["S1", "S2"]
    assert len(report["lines"]) == len(source.onsets) and report["totals"]["failed"] == 0
    assert all(line["text"] == line["source_text"] and line["status"] == "done" for line in report["lines"])
    assert all(line["take"] == 1 for line in report["lines"]) and report["seed"] == 5
    assert "-->" in open(transcript).read() and "-->" in open(dubbed).read()
    streams = media.probe_streams(video)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio", "audio"]
    assert [s["disposition"]["default"] for s in streams[1:]] == [1, 0]
    assert abs(float(media.probe_streams(track)["format"]["duration"]) - source.seconds) <= 0.35
    assert app.client().predict(limit=5, api_name="/history")[0]["metadata"]["project_id"] == report["project_id"]


@pytest.mark.parametrize("params, message", [
    ({"speakers": "0"}, "speakers must be from 1 to 32 (or auto), got 0"),
    ({"language": "klingon"}, "klingon"),
    ({"translation": "file"}, "translation 'file' needs a translated subtitle file"),
    ({"video": None}, "no video: upload the video (or audio file) to dub"),
    ({"seed": "soon"}, "seed must be a whole number"),
])
def test_dub_video_bad_input_is_refused_by_name(app, source, params, message):
    call_params = {"video": handle_file(str(source.video)), "language": "en", **params}
    with pytest.raises(AppError) as err:
        dub_video(app, **call_params)
    assert message in str(err.value) and "Traceback" not in str(err.value)


@pytest.mark.browser
def test_start_from_a_video_to_an_mp4_then_one_edited_line_renders_alone(app, source, browser):
    from selenium.webdriver.common.by import By

    page = StudioPage(browser)
    browser.get(app.url)
    page.open_studio()
    page.start_from_video(source.video)
    page.record()
    page.click("studio-dub")
    page.wait.until(lambda d: "video dub finished" in page.summary(), "the dub did not finish")
    assert "the MP4 is ready" in page.message()
    shown = [s["progress"] for s in page.snapshots()]
    # The bar follows the stages in order. It shows each update's latest stage, so a stage that ends
    # between two updates (a fast one, on a busy machine) may not appear; that every stage ran is
    # checked in the report below.
    steps = [int(step) for text in shown for step in re.findall(r"stage (\d) of 9", text)]
    assert steps == sorted(steps) and len(set(steps)) >= 3 and 8 in steps, shown
    assert any("of 4 lines" in text and "s of speech" in text for text in shown)
    lines = page.rows()
    assert lines == len(source.onsets) and all("done" in page.text(row, 7) for row in range(lines))
    assert all(page.text(row, 6) for row in range(lines))                       # the source text, beside the text
    page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio-downloads a[href$='.dubbed.mp4']"),
                    "no MP4 to download")
    project_id = page.summary().split("·")[1].strip()

    page.edit(0, 5, page.text(0, 5), "uma linha nova.")
    page.rendered("rendered 1, unchanged 0")
    assert page.text(0, 5) == "uma linha nova." and "done" in page.text(0, 7)
    rows = call(app.client(), "/studio_lines", project_id=project_id)
    assert rows[0]["text"] == "uma linha nova." and not any(row["stale"] for row in rows)
    # The dub was mixed again: the report offered for download speaks the new line.
    link = page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio-downloads a[href$='.report.json']"),
                           "no report to download")[0]
    report = json.loads(httpx.get(link.get_attribute("href"), timeout=30).content)
    assert report["lines"][0]["text"] == "uma linha nova." and report["lines"][0]["status"] == "done"
    assert list(report["pipeline"]) == list(STAGES)  # every stage of the dub ran and said what it found


@pytest.mark.browser
def test_a_stopped_video_dub_resumes_from_the_stage_it_stopped_before(app, source, browser):
    from selenium.webdriver.common.by import By

    page = StudioPage(browser)
    browser.get(app.url)
    page.open_studio()
    page.start_from_video(source.video)
    keep = next(label for label in browser.find_elements(By.CSS_SELECTOR, "#studio-translation label")
                if label.text.startswith("Keep the words"))
    keep.click()
    page.click("studio-dub")
    page.wait.until(lambda d: "stage 3 of 9" in page.find("#studio-progress").text, "the dub did not start")
    page.click("studio-cancel")                          # stops before the next stage; what is done is saved
    page.wait.until(lambda d: "Stopped" in page.message(), "the dub did not stop")
    stopped = page.find("#studio-notes").text
    assert "Video dub stopped before stage" in stopped and "Resume" in stopped
    page.record()
    page.click("studio-resume")
    page.wait.until(lambda d: "video dub finished" in page.summary(), "the dub did not resume to its end")
    shown = [s["progress"] for s in page.snapshots()]
    assert not any(": extract" in text or ": speech" in text for text in shown), shown   # not run again
    assert any(": render" in text for text in shown) and page.rows() == len(source.onsets)
    assert all(page.text(row, 5) == page.text(row, 6) for row in range(page.rows()))   # none: the words kept
