"""Subtitle files through the running app: ``/dub_subtitles`` (old callers and the new ``encoding``) and the
Studio tab's encoding choice in headless Chromium. One app process on the tiny models serves them all.
"""

from __future__ import annotations

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.dubbing import subtitle_fixtures as fx
from devtools.app_process import AppProcess
from tests.browser_support import browser  # noqa: F401  (a fixture; it skips without Chromium)
from tests.dubbing_support import presets_dir
from tests.dubbing.studio_page import StudioPage
from tests.dubbing.test_dubbing_app import dub_subtitles

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def app(tiny_env, reference_wav, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("subtitle_files_app")
    env = {**tiny_env, "VOICE_STUDIO_PRESETS_DIR": str(presets_dir(reference_wav, workdir / "presets"))}
    with AppProcess(env, workdir, name="subtitle_files_app") as proc:
        yield proc


def upload(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_an_old_caller_gets_an_ass_file_without_styles_voiced_without_its_drawings(app, tmp_path):
    """The call as the README shows it, with no encoding: the file has no styles section and holds drawings."""
    source = upload(tmp_path, "signs.ass", fx.drawings_ass(styles=False))
    track, report, subtitles, video = app.client().predict(
        handle_file(str(source)), "en", "female_generic", "f5tts", None, None, None, "fit",
        api_name="/dub_subtitles")
    assert [line["text"] for line in report["lines"]] == fx.DRAWINGS_SPOKEN
    assert [s["cue"] for s in report["skipped"]] == [1, 4] and all("drawing" in s["reason"] for s in report["skipped"])
    assert report["totals"]["rendered"] == 3 and video is None


def test_an_unclear_encoding_is_refused_by_name_then_read_as_chosen(app, tmp_path):
    source = handle_file(str(upload(tmp_path, "hr.srt", fx.encoded_srt(fx.CROATIAN_LINES, "cp1250"))))
    with pytest.raises(AppError) as err:
        dub_subtitles(app, subtitles=source)
    for part in ("encoding is unclear", "windows-1250", "windows-1252", "encoding parameter"):
        assert part in str(err.value)
    _, report, _, _ = dub_subtitles(app, subtitles=source, encoding="windows-1250")
    assert [line["text"] for line in report["lines"]] == fx.CROATIAN_LINES


@pytest.mark.parametrize("name, data, encoding, message", [
    ("style.ass", fx.ass(head="[Script Info]\n\n[V4+ Styles]\nStyle: Default,Arial,big\n\n", styles=False), "auto",
     "malformed subtitles at line 4: could not convert string to float: 'big'"),
    ("one.srt", b"1", "auto", "malformed subtitles at line 1"),
    ("nohead.vtt", b"00:01.000 --> 00:02.000\nHello.\n", "auto", "not a WebVTT file"),
    ("gb.srt", fx.encoded_srt(fx.GB2312_LINES, "gb2312"), "klingon", "unknown encoding 'klingon'"),
])
def test_bad_subtitle_files_get_their_message_from_the_api(app, tmp_path, name, data, encoding, message):
    with pytest.raises(AppError) as err:
        dub_subtitles(app, subtitles=handle_file(str(upload(tmp_path, name, data))), encoding=encoding)
    assert message in str(err.value)
    assert str(tmp_path) not in str(err.value) and "Traceback" not in str(err.value)
    assert isinstance(app.client().predict(limit=1, api_name="/history"), list)  # the app keeps serving


@pytest.mark.browser
def test_the_studio_tab_refuses_an_unclear_encoding_until_one_is_chosen(app, browser, tmp_path):
    from selenium.webdriver.common.by import By

    page = StudioPage(browser)
    source = upload(tmp_path, "croatian.srt", fx.encoded_srt(fx.CROATIAN_LINES, "cp1250"))
    browser.get(app.url)
    page.open_studio()
    field = page.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#studio-encoding input"))
    assert field.get_attribute("value") == "auto (UTF-8, else detected)"
    page.create(source)
    page.wait.until(lambda d: any("encoding is unclear" in t.text and "windows-1250" in t.text
                                  for t in d.find_elements(By.CSS_SELECTOR, ".toast-body")),
                    "no message naming the candidate encodings")
    assert not browser.find_elements(By.CSS_SELECTOR, "#studio-lines [data-testid='cell-0-5']")

    field.click()
    page.wait.until(lambda d: next((o for o in d.find_elements(By.CSS_SELECTOR, "ul[role='listbox'] li")
                                    if o.text.strip() == "Central European (windows-1250)"), None)).click()
    page.wait.until(lambda d: field.get_attribute("value") == "Central European (windows-1250)")
    browser.find_element(By.ID, "studio-create").click()
    page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#studio-lines [data-testid='cell-1-5']"), "no table")
    assert [page.text(row, 5) for row in range(2)] == fx.CROATIAN_LINES
