"""A real browser (Debian's chromium, headless, through Playwright) on the e2e live server,
with the real worker and the virtual rack of tests/e2e. Every browser test also fails on a
Content-Security-Policy violation in any page it opened (`PolicyWatch`)."""

import os
from pathlib import Path

import pytest
from django.db import connections

from tests.e2e.conftest import e2e  # noqa: F401  (the fixture, reused)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


# Reports every violation of the page's policy to Python the moment it happens, before the
# page can navigate away. Added to each new document before any of the page's own scripts.
_VIOLATION_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation({
    page: location.pathname + location.search,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    where: event.sourceFile + ":" + event.lineNumber,
    disposition: event.disposition,
    element: event.target instanceof Element ? event.target.outerHTML.slice(0, 160) : "",
  });
}, true);
"""


class PolicyWatch:
    """Content-Security-Policy violations, htmx's refusals to eval, and uncaught script errors
    in every page of a browser context."""

    def __init__(self, context):
        self.violations: list = []
        self.errors: list[str] = []
        context.expose_function("__cspViolation", lambda report: self.violations.append(report))
        context.add_init_script(_VIOLATION_LISTENER)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.errors.append(f"uncaught: {error.error}"))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        text = message.text
        where = message.location.get("url", "")
        if "Content Security Policy" in text or "htmx:evalDisallowedError" in text:
            self.violations.append(f"console at {where}: {text}")
        elif not text.startswith("Failed to load resource"):  # a 4xx/5xx page we asked for
            self.errors.append(f"console at {where}: {text}")

    def settle(self, page) -> None:
        """Let reports of what the page just did reach Python."""
        page.wait_for_timeout(300)
        page.evaluate("0")

    def assert_clean(self, page, *, errors: bool = True) -> None:
        self.settle(page)
        assert not self.violations, "Content-Security-Policy violations:\n" + "\n".join(
            map(str, self.violations)
        )
        if errors:
            assert not self.errors, "script errors:\n" + "\n".join(self.errors)


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
        csp = PolicyWatch(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm prompts
        page.csp = csp

        page.shot = lambda name: shot(page, name)
        page.base = e2e.live_server.url.replace("localhost", "127.0.0.1")
        yield page
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:  # what the browser showed, for CI's artifacts
            shot(page, f"FAILED-{request.node.name}")
            (SCREENSHOTS / f"FAILED-{request.node.name}.html").write_text(page.content())
        elif report is not None and not page.is_closed():
            csp.settle(page)
        context.close()
        browser.close()
        # With Playwright's event loop in this thread, the test's ORM calls got connections of
        # their own, which pytest-django does not know of: closed here, or they would hold the
        # test database open past its teardown.
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if report is not None and report.passed:
        # Whatever else it checked, no browser test may pass with a page the policy broke.
        assert not csp.violations, "Content-Security-Policy violations:\n" + "\n".join(
            map(str, csp.violations)
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
