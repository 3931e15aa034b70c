"""Browser tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright against the
embedded platform. Screenshots go to tests/output/screenshots; a failing test also leaves
its last screenshot and the browser's console log in tests/output/failures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from tests.e2e.platform import REPO, Platform, start_platform

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = REPO / "tests" / "output"
SCREENSHOTS = OUTPUT / "screenshots"
FAILURES = OUTPUT / "failures"
NEU_DET = SHARED_DATA / "neu-det"
DIST_INDEX = REPO / "frontend" / "dist" / "index.html"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def platform(tmp_path_factory) -> Iterator[Platform]:
    if not DIST_INDEX.exists():
        pytest.fail("the browser app is not built: run `make frontend`")
    if not (NEU_DET / "IMAGES").is_dir():
        pytest.skip(f"no NEU-DET data at {NEU_DET} (set HATCHERY_SHARED_DATA)")
    running = start_platform(tmp_path_factory.mktemp("platform"), NEU_DET)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: `make chromium` installs Debian's package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, platform, request):
    """A fresh browser context (its own localStorage) at a laptop's screen size; the
    console is recorded, and kept with a screenshot when the test fails."""
    context = browser.new_context(viewport={"width": 1366, "height": 768},
                                  base_url=platform.url, locale="en-US")
    context.set_default_timeout(20_000)
    tab = context.new_page()
    console: list[str] = []
    tab.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    tab.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    tab.console_log = console
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]", "_", request.node.name)
        try:
            tab.screenshot(path=FAILURES / f"{name}.png", full_page=True)
        except Exception as error:  # the page may be gone: keep the log
            console.append(f"(no screenshot: {error})")
        (FAILURES / f"{name}.console.log").write_text("\n".join(console) + "\n")
        (FAILURES / f"{name}.platform.log").write_text(platform.log.read_text(errors="replace"))
    context.close()
