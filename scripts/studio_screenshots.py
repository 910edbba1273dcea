"""Full-page screenshots of the Studio tab at 1400 px and at a 390 px phone width, as a user sees it.

    .venv/bin/python -m scripts.studio_screenshots --out docs/screens/after   # from the repository root

The same tiny models, app process, browser and ``Shooter`` as ``scripts.screenshots`` (which shoots
every tab), the Studio taken further: the tab as it opens, a 4-cue SRT project, the project rendered
with its timeline and a line's takes, an edited line (stale on the timeline), a bad file's message
kept beside the project, and "Start from a video" dubbing a generated two-voice video. Each state is
``NAME-1400.png`` and ``NAME-390.png``; every wait is on an element or a value.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains

from devtools.app_process import AppProcess
from devtools.browser import chrome
from devtools.tiny_pipeline_models import build_pipeline_models
from scripts.screenshots import CUES, Shooter, screen_args, tiny_env, write_srt
from tests.dubbing.studio_page import StudioPage

BAD_SRT = "1\n00:00:01,000 --> 00:00:02,000\nOk.\n\n2\n00:00:03 --> 00:00:04,000\nBad.\n"


def subtitles_pass(s: Shooter, page: StudioPage, srt: Path, bad: Path) -> None:
    s.open_tab("Studio")
    s.until(lambda: s.present("#studio-create"), "Studio tab empty")
    s.shoot("studio")
    page.created(srt, len(CUES))
    s.shoot("studio-project")
    draws = page.timeline("draws") or 0
    page.rendered(f"rendered {len(CUES)}, unchanged 0")
    page.timeline_drawn(draws)
    page.retry(lambda: page.cell(0, 0).click(),
               lambda d: page.find("#studio-selection textarea").get_attribute("value") == "1")
    s.until(lambda: s.present("#studio-takes label"), "no takes listed")
    s.shoot("studio-rendered")
    draws = page.timeline("draws")
    ActionChains(s.driver).click_and_hold(page.handle(2, "right")).move_by_offset(30, 0).release().perform()
    s.until(lambda: "moved to its new slot" in page.message(), "the drag was not an edit")
    page.timeline_drawn(draws)
    s.shoot("studio-changed")
    s.find("#studio-subtitles button[aria-label='Clear']").click()
    page.create(bad)
    s.until(lambda: "malformed subtitles" in page.message(), "no message")
    s.shoot("studio-error")


def video_pass(s: Shooter, page: StudioPage, video: Path) -> None:
    page.start_from_video(video)
    s.shoot("studio-video-start")
    page.click("studio-dub")
    s.until(lambda: "video dub finished" in page.summary(), "the video dub did not finish")
    page.wait.until(lambda d: page.timeline_state() == "ready", "no timeline")
    s.shoot("studio-video")


def main() -> None:
    args = screen_args(__doc__.split("\n\n")[0], Path("docs/screens/after"))
    from tests.video.video_source import make_source

    with tempfile.TemporaryDirectory(prefix="studio-screens-") as tmp:
        work = Path(tmp)
        env = {**tiny_env(work), **build_pipeline_models(work / "tiny_models" / "pipeline")}
        srt = write_srt(work)
        bad = work / "broken.srt"
        bad.write_text(BAD_SRT, encoding="utf-8")
        source = make_source(work / "source")
        with AppProcess(env, work / "app", name="studio") as app, chrome(work / "profile") as driver:
            shooter, page = Shooter(driver, args.out, args.max_kb), StudioPage(driver)
            try:
                driver.get(app.url)
                shooter.until(lambda: shooter.tabs(), "the page did not load")
                subtitles_pass(shooter, page, srt, bad)
                video_pass(shooter, page, source.video)
            except Exception:
                driver.save_screenshot(str(args.out / "FAILED.png"))  # the page when it stopped
                print(f"failed: the page is in {args.out / 'FAILED.png'}; the app's log:\n{app.log_tail()}", flush=True)
                raise
    print(f"{len(shooter.saved)} screenshots in {args.out}")


if __name__ == "__main__":
    main()
