"""Full-page screenshots of every tab of the app, as a user sees it, at 1400 px and at a 390 px phone width.

    .venv/bin/python -m scripts.screenshots --out docs/screens/before   # from the repository root

It builds the tiny random models (``devtools.tiny_models``), starts ``python app.py`` on them
(``devtools.app_process.AppProcess``, with ``VOICE_STUDIO_ADMIN=1``) and drives headless Debian
Chromium with Selenium (``devtools.browser``). Each state is saved as ``NAME-1400.png``
and ``NAME-390.png``: the tabs as they open, a Dub and a Clone with their results, Advanced
opened and used, a saved voice, a 4-cue SRT project in the Studio before and after its
render, History holding those results, Engine status, and any tab not named here. A second
start without ``VOICE_STUDIO_ADMIN`` shows Engine status as a non-admin sees it.

Every wait is on an element or a value, never a sleep. A screenshot heavier than
``--max-kb`` is reduced to 256 colours, then scaled down until it fits.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from devtools.app_process import AppProcess
from devtools.browser import MISSING, chrome, chromium_present
from devtools.tiny_models import build_all

WIDTHS = {"1400": (1400, False), "390": (390, True)}  # name: (CSS px, phone emulation)
DESKTOP = WIDTHS["1400"]
FIRST_HEIGHT = 900
MAX_HEIGHT = 6000
WAIT_S = 240
KNOWN_TABS = ("Dubbing", "Cloning", "Voices", "Studio", "Engine status", "History")
CUES = [("00:00:00,500", "00:00:02,500", "Maria", "Olá, tudo bem com você?"),
        ("00:00:03,000", "00:00:05,200", "João", "Tudo ótimo, e você?"),
        ("00:00:06,000", "00:00:08,400", "Maria", "Vamos começar a gravação agora."),
        ("00:00:09,000", "00:00:11,500", "", "Fim da cena.")]
REFERENCE_TRANSCRIPT = "Some call me nature, others call me mother nature."
CLONE_TEXT = "Olá! Esta voz foi clonada a partir de um exemplo em inglês."


def write_srt(folder: Path) -> Path:
    blocks = [f"{i}\n{start} --> {end}\n{(speaker + ': ') if speaker else ''}{text}\n"
              for i, (start, end, speaker, text) in enumerate(CUES, start=1)]
    path = folder / "scene.srt"
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def reference_clip() -> Path:
    """The English reference clip f5-tts ships (real speech, known transcript)."""
    from webui.tabs.cloning import packaged_examples_dir

    return packaged_examples_dir() / "basic" / "basic_ref_en.wav"


class Shooter:
    """One browser on one app: waits, clicks, and saves each state at every width."""

    def __init__(self, driver, out: Path, max_kb: int):
        self.driver, self.out, self.max_kb = driver, out, max_kb
        self.wait = WebDriverWait(driver, WAIT_S)
        self.saved: list[Path] = []

    # -- finding and clicking -------------------------------------------------------------
    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def until(self, condition, message: str):
        return self.wait.until(lambda d: condition(), message)

    def present(self, css: str) -> bool:
        try:
            return any(e.is_displayed() for e in self.driver.find_elements(By.CSS_SELECTOR, css))
        except StaleElementReferenceException:  # re-rendered while looked at: look again on the next poll
            return False

    def tabs(self) -> list:
        return self.driver.find_elements(By.CSS_SELECTOR, "button[role='tab']")

    def open_tab(self, name: str) -> None:
        tab = next(t for t in self.tabs() if t.text.strip() == name)
        tab.click()
        self.until(lambda: tab.get_attribute("aria-selected") == "true", f"tab {name} did not open")

    def open_accordion(self, label: str) -> None:
        """Open the visible accordion titled ``label`` (the one in the open tab)."""
        heads = [e for e in self.driver.find_elements(By.CSS_SELECTOR, ".label-wrap")
                 if e.is_displayed() and e.text.strip().startswith(label)]
        if not heads:
            raise RuntimeError(f"no visible accordion {label!r}")
        heads[0].click()
        self.until(lambda: "open" in (heads[0].get_attribute("class") or ""), f"accordion {label} did not open")

    def type_into(self, css: str, text: str) -> None:
        box = self.find(css)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(text)

    def upload(self, elem_id: str, path: Path) -> None:
        self.until(lambda: self.driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} input[type=file]"),
                   f"no upload field in #{elem_id}")
        self.find(f"#{elem_id} input[type=file]").send_keys(str(path))

    def busy(self) -> int:
        """Progress shown on the open tab: Gradio's status trackers that are neither hidden nor an error."""
        return int(self.driver.execute_script(
            "return [...document.querySelectorAll(\"[data-testid='status-tracker']\")].filter(t =>"
            " !t.classList.contains('hide') && !t.querySelector('.error') && t.offsetParent !== null).length;"))

    def close_toasts(self) -> None:
        for close in self.driver.find_elements(By.CSS_SELECTOR, ".toast-close"):
            try:
                close.click()
            except WebDriverException:  # it closed itself meanwhile
                pass
        self.until(lambda: not self.present(".toast-body"), "a toast stayed open")

    # -- screenshots ----------------------------------------------------------------------
    def viewport(self, width: int, phone: bool, height: int) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": phone})
        self.settled()

    def settled(self) -> None:
        """Two animation frames: the layout and the players have redrawn at the new size."""
        self.driver.execute_async_script(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")

    def page_height(self) -> int:
        return int(self.driver.execute_script(
            "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);"))

    def shoot(self, name: str) -> None:
        """``NAME-1400.png`` and ``NAME-390.png``: the whole page (up to ``MAX_HEIGHT``) at each width,
        once every event in flight (a tab's refresh, a render) is over."""
        self.until(lambda: not self.busy(), f"{name}: the page stayed busy")
        self.close_toasts()
        for label, (width, phone) in WIDTHS.items():
            self.viewport(width, phone, FIRST_HEIGHT)
            height = 0
            for _ in range(4):  # growing the window can grow the page (min-height: 100vh); follow it
                wanted = min(self.page_height(), MAX_HEIGHT)
                if wanted == height:
                    break
                height = wanted
                self.viewport(width, phone, height)
            self.driver.execute_script("window.scrollTo(0, 0);")
            self.settled()
            path = self.out / f"{name}-{label}.png"
            self.driver.save_screenshot(str(path))
            shrink(path, self.max_kb)
            self.saved.append(path)
            print(f"{path}  {path.stat().st_size // 1024} KB", flush=True)
        self.viewport(*DESKTOP, FIRST_HEIGHT)


def shrink(path: Path, max_kb: int) -> None:
    """256 colours (flat UI survives it), then 3/4 scale steps, until the file is under ``max_kb``."""
    from PIL import Image

    if path.stat().st_size <= max_kb * 1024:
        return
    image = Image.open(path).convert("RGB")
    while True:
        image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)
        if path.stat().st_size <= max_kb * 1024 or image.width <= 300:
            return
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)


def badges_changed(s: Shooter, prefix: str, before: str) -> bool:
    """A new result (its badges differ: the seed is random) or an error block under the output."""
    return s.present(f"#{prefix}-error .vs-error") or (
        s.present(f"#{prefix}-badges .vs-badge-engine")
        and s.find(f"#{prefix}-badges").get_attribute("innerHTML") != before)


def whole_clip_shown(s: Shooter, tab: str, prefix: str) -> None:
    """The result's one player holds the whole clip again (the live one has played), or an error is shown."""
    s.until(lambda: s.present(f"#{prefix}-audio") or s.present(f"#{prefix}-error .vs-error"),
            f"{tab}: the whole clip never took the live player's place")


def synthesis_tab(s: Shooter, tab: str, prefix: str, fill) -> None:
    """The tab as it opens, one run with its result, Advanced opened, and a run with Advanced open."""
    s.open_tab(tab)
    s.until(lambda: s.find(f"#{prefix}-button").is_enabled(), f"{tab}: button not ready")
    s.shoot(f"{prefix}")
    fill()
    s.find(f"#{prefix}-button").click()
    s.until(lambda: s.present(f"#{prefix}-badges .vs-badge-engine") or s.present(f"#{prefix}-error .vs-error"),
            f"{tab}: no result")
    whole_clip_shown(s, tab, prefix)
    s.shoot(f"{prefix}-result")
    if prefix == "clone" and s.present("#clone-save-voice"):  # gives the Voices tab a saved voice
        s.type_into("#clone-save-name input, #clone-save-name textarea", "Maria")
        s.find("#clone-save-button").click()
        s.until(lambda: any("saved" in t.text for t in s.driver.find_elements(By.CSS_SELECTOR, ".toast-body")),
                "voice not saved")
    s.open_accordion("Advanced")
    s.shoot(f"{prefix}-advanced")
    before = s.find(f"#{prefix}-badges").get_attribute("innerHTML")
    s.find(f"#{prefix}-button").click()
    s.until(lambda: badges_changed(s, prefix, before), f"{tab}: no result with Advanced open")
    whole_clip_shown(s, tab, prefix)
    s.shoot(f"{prefix}-advanced-run")


def admin_pass(s: Shooter, url: str, srt: Path) -> None:
    s.driver.get(url)
    s.until(lambda: s.find("#dub-button").is_enabled(), "the page did not load")
    synthesis_tab(s, "Dubbing", "dub", lambda: None)  # the example text, default voice and engine

    def fill_clone() -> None:
        s.upload("clone-reference", reference_clip())
        s.until(lambda: s.present("#clone-reference audio, #clone-reference #waveform"), "reference not shown")
        s.type_into("#clone-transcript textarea", REFERENCE_TRANSCRIPT)
        s.type_into("#clone-text textarea", CLONE_TEXT)
    synthesis_tab(s, "Cloning", "clone", fill_clone)

    s.open_tab("Voices")
    s.until(lambda: s.present("#voice-save"), "Voices tab empty")
    s.shoot("voices")

    s.open_tab("Studio")
    s.until(lambda: s.present("#studio-create"), "Studio tab empty")
    s.shoot("studio")
    s.upload("studio-subtitles", srt)
    s.until(lambda: srt.name in s.find("#studio-subtitles").text.replace("\n", ""), "SRT not shown")
    s.find("#studio-create").click()
    s.until(lambda: s.present(f"#studio-lines [data-testid='cell-{len(CUES) - 1}-5']"), "no line table")
    s.shoot("studio-project")
    s.find("#studio-render-all").click()
    s.until(lambda: f"rendered {len(CUES)}" in s.find("#studio-summary").text, "render did not finish")
    s.shoot("studio-rendered")

    s.open_tab("History")
    s.until(lambda: s.present(".vs-history-entry"), "History is empty")
    s.shoot("history")

    engine_status(s, "status-admin")
    for tab in [t.text.strip() for t in s.tabs() if t.is_displayed() and t.text.strip() not in KNOWN_TABS]:
        s.open_tab(tab)
        s.shoot("tab-" + re.sub(r"[^a-z0-9]+", "-", tab.lower()).strip("-"))


def engine_status(s: Shooter, name: str) -> None:
    s.open_tab("Engine status")
    s.until(lambda: s.present("#status-card-xtts [data-status]") and s.present("#status-overall *"),
            "status cards empty")
    s.shoot(name)


def user_pass(s: Shooter, url: str) -> None:
    s.driver.get(url)
    s.until(lambda: s.find("#dub-button").is_enabled(), "the page did not load")
    engine_status(s, "status-user")


def screen_args(description: str, default_out: Path) -> argparse.Namespace:
    """``--out`` (made here) and ``--max-kb``; exits with the fix where Chromium is missing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=default_out, help="folder for the PNGs")
    parser.add_argument("--max-kb", type=int, default=300, help="largest PNG before it is reduced")
    args = parser.parse_args()
    if not chromium_present():
        raise SystemExit(MISSING)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def tiny_env(work: Path) -> dict[str, str]:
    """The app's variables for the tiny TTS models built under ``work``, with its own cache and voices."""
    models = build_all(work / "tiny_models")
    return {**models.env(), "VOICE_STUDIO_CACHE_DIR": str(work / "cache"), "VOICE_STUDIO_VOICES_DIR": str(work / "voices")}


def main() -> None:
    args = screen_args(__doc__.split("\n\n")[0], Path("docs/screens/before"))
    with tempfile.TemporaryDirectory(prefix="screens-") as tmp:
        work = Path(tmp)
        env = tiny_env(work)
        srt = write_srt(work)
        saved: list[Path] = []
        for name, extra in (("admin", {"VOICE_STUDIO_ADMIN": "1"}), ("user", {})):
            with AppProcess({**env, **extra}, work / name, name=name) as app, \
                    chrome(work / f"profile-{name}") as driver:
                shooter = Shooter(driver, args.out, args.max_kb)
                try:
                    admin_pass(shooter, app.url, srt) if name == "admin" else user_pass(shooter, app.url)
                except Exception:
                    driver.save_screenshot(str(args.out / "FAILED.png"))  # the page when it stopped
                    print(f"failed: the page is in {args.out / 'FAILED.png'}; the app's log:\n{app.log_tail()}",
                          flush=True)
                    raise
                saved += shooter.saved
    print(f"{len(saved)} screenshots in {args.out}")


if __name__ == "__main__":
    main()
