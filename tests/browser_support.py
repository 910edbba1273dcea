"""The browser tests' skip rule and driver fixture, around ``devtools.browser`` (headless Debian Chromium)."""

from __future__ import annotations

import pytest

from devtools.browser import MISSING, chrome, chromium_present  # noqa: F401  (chrome: for the tests)

needs_chromium = pytest.mark.skipif(not chromium_present(), reason=MISSING)


@pytest.fixture
def browser(tmp_path):
    """The plain driver most browser tests use (import this fixture into the test module)."""
    if not chromium_present():
        pytest.skip(MISSING)
    with chrome(tmp_path / "profile") as driver:
        yield driver
