"""The Studio tab in headless Chromium, for the browser tests: cells, messages, progress, and the timeline.

The timeline's clips live in wavesurfer's shadow DOM: ``clip``, ``handle`` and ``ruler`` reach
them through the host element's shadow root. Every wait is on an element or a value.
"""

from __future__ import annotations

from pathlib import Path

from tests.browser_support import page_wait

WAIT_S = 180
# Records, on every change of the progress bar or the table, the bar's text and each row's status.
RECORD = """
window.__studioSnaps = [];
const snap = () => {
  const progress = document.querySelector('#studio-progress');
  const cells = [...document.querySelectorAll("#studio-lines [data-col='7'] span")].map(s => s.textContent.trim());
  const last = window.__studioSnaps[window.__studioSnaps.length - 1];
  const now = {progress: progress ? progress.innerText.trim() : '', statuses: cells};
  if (!last || JSON.stringify(last) !== JSON.stringify(now)) window.__studioSnaps.push(now);
};
const watched = document.querySelector('#studio-tab-root') || document.body;
new MutationObserver(snap).observe(watched, {subtree: true, childList: true, characterData: true});
"""


class StudioPage:
    """The Studio tab in the browser: its table's cells, the summary line, and edits that retry."""

    def __init__(self, browser):
        self.browser = browser
        self.wait = page_wait(browser, WAIT_S)

    def find(self, css):
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.CSS_SELECTOR, css)

    def cell(self, row, col):
        return self.find(f"#studio-lines [data-testid='cell-{row}-{col}']")

    def rows(self) -> int:
        from selenium.webdriver.common.by import By

        return len(self.browser.find_elements(By.CSS_SELECTOR, "#studio-lines [data-col='0']"))

    def retry(self, action, done, attempts=4, each_s=15):
        """The page re-renders parts of itself after events: act again until the effect shows."""
        from selenium.common.exceptions import TimeoutException

        for attempt in range(attempts):
            action()
            try:
                return page_wait(self.browser, each_s).until(done)
            except TimeoutException:
                if attempt == attempts - 1:
                    raise

    def text(self, row, col):  # the cell's value (a selected cell also shows a menu button)
        from selenium.webdriver.common.by import By

        return self.cell(row, col).find_element(By.CSS_SELECTOR, "span").text

    def summary(self):
        return self.find("#studio-summary").text

    def message(self):
        return self.find("#studio-message").text

    def open_studio(self):
        from selenium.webdriver.common.by import By

        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[role='tab']"), "no tabs")
        next(t for t in self.browser.find_elements(By.CSS_SELECTOR, "button[role='tab']")
             if t.text.strip() == "Studio").click()

    def upload(self, elem_id: str, path: Path) -> None:
        from selenium.webdriver.common.by import By

        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{elem_id} input[type=file]"), "no upload")
        self.find(f"#{elem_id} input[type=file]").send_keys(str(path))
        # The uploaded file's name shows as "scene.srt", or split in two elements ("scene", ".srt").
        self.wait.until(lambda d: d.find_element(By.ID, elem_id).text.replace("\n", "").count(path.name),
                        "upload not shown")

    def start_from_video(self, video: Path) -> None:
        """The "Start from a video" tab of the start panel, with ``video`` uploaded."""
        from selenium.webdriver.common.by import By

        next(t for t in self.browser.find_elements(By.CSS_SELECTOR, "#studio-start button[role='tab']")
             if t.text.strip() == "Start from a video").click()
        self.upload("studio-media", video)

    def create(self, subtitles: Path) -> None:
        self.upload("studio-subtitles", subtitles)
        self.find("#studio-create").click()

    def created(self, subtitles: Path, lines: int) -> None:
        """Create a project and wait for its table."""
        self.create(subtitles)
        self.wait.until(lambda d: self.rows() == lines and lines and self.text(lines - 1, 0) == str(lines),
                        "no table")

    def click(self, elem_id: str) -> None:
        self.find(f"#{elem_id}").click()

    def rendered(self, note: str, button: str = "studio-render-changed") -> None:
        """Press a render button and wait for the summary to say ``note`` (e.g. "rendered 3, unchanged 0")."""
        self.click(button)
        self.wait.until(lambda d: note in self.summary(), f"no {note!r} in the summary")

    def edit(self, row, col, before: str, after: str) -> None:
        """Double-click a cell, replace its value, press Enter, and wait until the table shows it."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        editors = self.retry(lambda: ActionChains(self.browser).double_click(self.cell(row, col)).perform(),
                             lambda d: [e for e in self.cell(row, col).find_elements(By.CSS_SELECTOR, "textarea")
                                        if e.get_attribute("value") == before])
        editor = editors[0]
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys(after)
        editor.send_keys(Keys.ENTER)
        self.wait.until(lambda d: self.text(row, col) == after, "edit not shown")

    # --- progress, recorded as it changes ------------------------------------------------
    def record(self) -> None:
        self.browser.execute_script(RECORD)

    def snapshots(self) -> list[dict]:
        return self.browser.execute_script("return window.__studioSnaps || [];")

    # --- the timeline ----------------------------------------------------------------------
    def timeline(self, key: str):
        return self.browser.execute_script(f"const t = window.vsStudioTimeline; return t ? t.{key} : null;")

    def timeline_state(self) -> str | None:
        return self.browser.execute_script(
            "const r = document.querySelector('#studio-timeline .vs-tl'); return r ? r.dataset.state : null;")

    def timeline_drawn(self, after: int) -> None:
        """Wait for the timeline's next drawing (its draw count past ``after``)."""
        self.wait.until(lambda d: (self.timeline("draws") or 0) > after and self.timeline_state() == "ready",
                        "the timeline was not drawn")

    def shadow(self):
        return self.find("#studio-timeline .vs-tl-wave > div").shadow_root

    def clip(self, index: int):
        from selenium.webdriver.common.by import By

        return self.shadow().find_element(By.CSS_SELECTOR, f"[part~='line-{index}']")

    def handle(self, index: int, side: str = "right"):
        from selenium.webdriver.common.by import By

        return self.clip(index).find_element(By.CSS_SELECTOR, f"[part~='region-handle-{side}']")

    def ruler(self):
        from selenium.webdriver.common.by import By

        return self.shadow().find_element(By.CSS_SELECTOR, "[part='timeline']")

    def tool(self, name: str):
        return self.find(f"#studio-timeline .vs-tl-{name}")
