"""A real browser (Debian's chromium, headless, through Playwright) on the e2e live server,
with the real worker and the virtual rack of tests/e2e."""

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import e2e  # noqa: F401  (the fixture, reused)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


def shot(page, name: str) -> None:
    """Save the whole page as artifacts/screenshots/NAME.png (CI keeps the folder)."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def browser_page(e2e, monkeypatch, request):  # noqa: F811
    """A fresh page at desktop size; `shot(name)` saves a screenshot under artifacts/.
    The live server speaks plain HTTP for the whole session (tests/conftest.py `_plain_http`)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # The live server speaks plain HTTP; newer Chromium would try HTTPS first.
            args=["--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm prompts

        page.shot = lambda name: shot(page, name)
        page.base = e2e.live_server.url.replace("localhost", "127.0.0.1")
        yield page
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:  # what the browser showed, for CI's artifacts
            shot(page, f"FAILED-{request.node.name}")
            (SCREENSHOTS / f"FAILED-{request.node.name}.html").write_text(page.content())
        context.close()
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
