"""The browser tests' skip rule and driver fixture, around ``devtools.browser`` (headless Debian Chromium)."""

from __future__ import annotations

import pytest

from devtools.browser import MISSING, chrome, chromium_present  # noqa: F401  (chrome: for the tests)

needs_chromium = pytest.mark.skipif(not chromium_present(), reason=MISSING)


def page_wait(driver, timeout_s: float):
    """A ``WebDriverWait`` that reads again when the element it was reading went stale: Gradio
    re-renders the blocks the tests wait on."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, ignored_exceptions=[StaleElementReferenceException])


@pytest.fixture
def browser(tmp_path):
    """The plain driver most browser tests use (import this fixture into the test module)."""
    if not chromium_present():
        pytest.skip(MISSING)
    with chrome(tmp_path / "profile") as driver:
        yield driver


# Counts the page's Gradio events as the browser sees them: each POST to ``/queue/join`` is
# an event sent, each ``process_completed`` message on the ``/queue/data`` stream one done
# (a copy of the stream is read; the page reads the other). Installed before the page's own
# scripts, so a test can wait for an event to finish instead of sleeping.
EVENT_COUNTER_JS = r"""
(() => {
  const counts = window.__vsEvents = {sent: 0, done: 0};
  const original = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const input = args[0];
    const url = input instanceof Request ? input.url : String(input);
    const response = await original(...args);
    if (url.includes('/queue/join') && response.ok) counts.sent += 1;
    if (!url.includes('/queue/data') || !response.body) return response;
    const [mine, page] = response.body.tee();
    (async () => {
      const reader = mine.pipeThrough(new TextDecoderStream()).getReader();
      let seen = '';
      for (;;) {
        const {done, value} = await reader.read();
        if (done) return;
        seen += value;
        let end;
        while ((end = seen.indexOf('\n\n')) >= 0) {
          if (seen.slice(0, end).includes('"process_completed"')) counts.done += 1;
          seen = seen.slice(end + 2);
        }
      }
    })();
    return new Response(page, {status: response.status, statusText: response.statusText,
                               headers: response.headers});
  };
})();
"""


def count_events(driver) -> None:
    """From the next page load on, count the Gradio events the page sends and sees done."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": EVENT_COUNTER_JS})


def events_sent(driver) -> int:
    return int(driver.execute_script("return window.__vsEvents.sent"))


def wait_events_done(wait, sent_before: int) -> None:
    """Wait until the page has sent an event since it had sent ``sent_before``, and every event
    it has sent is done (whatever it did on the server has happened)."""
    def settled(driver) -> bool:
        counts = driver.execute_script("return window.__vsEvents")
        return counts["sent"] > sent_before and counts["done"] >= counts["sent"]

    wait.until(settled)
