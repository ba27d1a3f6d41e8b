"""The Content-Security-Policy: the same strict header on pages, fragments, error pages, the API
docs, the API and downloads; and nothing in the templates or in rendered pages that it would
block (inline script, inline event handler, style attribute or element, eval through htmx).
What a browser makes of it is tests/browser/test_csp.py."""

import datetime
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings

from inventory.models import Machine
from provisioning import services as provisioning_services
from provisioning.models import Invoice
from tests import factories
from tests.error_urls import BOOM_PATH
from tests.provisioning.factories import make_site, request_for

ROOT = Path(__file__).resolve().parents[3]
HTMX = {"HX-Request": "true"}

STRICT = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    policy = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        policy[name] = values
    return policy


def assert_strict(response) -> None:
    assert policy_of(response) == STRICT, response.request["PATH_INFO"]
    assert "Content-Security-Policy-Report-Only" not in response.headers


class _Blocked(HTMLParser):
    """What in a page (or a template's source) the policy would block or htmx would eval."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        at = f"<{tag} {' '.join(name for name, _ in attrs)}>"
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names and ("type", "application/json") not in attrs:
            self.found.append(f"inline script {at}")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            value = (value or "").strip()
            bare = name.removeprefix("data-")
            if name == "style":
                self.found.append(f"style attribute {at}")
            elif name.startswith("on"):
                self.found.append(f"inline event handler {name} {at}")
            elif bare.startswith("hx-on") or bare == "hx-vars":
                self.found.append(f"{name} (htmx evals it) {at}")
            elif bare == "hx-vals" and value.startswith(("js:", "javascript:")):
                self.found.append(f"hx-vals with js: {at}")
            elif bare == "hx-trigger" and "[" in value:
                self.found.append(f"hx-trigger filter (htmx evals it) {at}")
            elif value.lower().startswith("javascript:"):
                self.found.append(f"javascript: URL in {name} {at}")


def blocked_in(html: str) -> list[str]:
    parser = _Blocked()
    parser.feed(html)
    parser.close()
    return parser.found


def check_page(client, path: str, status: int = 200, **extra):
    response = client.get(path, **extra)
    assert response.status_code == status, (path, response.status_code)
    assert_strict(response)
    found = blocked_in(response.content.decode())
    assert not found, f"{path}: {found}"
    return response


def test_the_policy_setting_is_strict_and_enforced():
    assert settings.SECURE_CSP == STRICT
    assert not settings.SECURE_CSP_REPORT_ONLY
    assert "django.middleware.csp.ContentSecurityPolicyMiddleware" in settings.MIDDLEWARE


def csp_settings(**environ) -> tuple[dict, dict]:
    """SECURE_CSP and SECURE_CSP_REPORT_ONLY as portal.settings reads them from `environ`."""
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_CSP, s.SECURE_CSP_REPORT_ONLY]))"
    )
    run = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", **environ},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    enforced, report_only = json.loads(run.stdout)
    return enforced, report_only


def test_operators_can_collect_violations_and_try_the_policy_report_only():
    report = {"CSP_REPORT_URI": "https://csp.example.com/report"}
    enforced, report_only = csp_settings(**report)
    assert enforced == {**STRICT, "report-uri": [report["CSP_REPORT_URI"]]}
    assert report_only == {}
    enforced, report_only = csp_settings(**report, CSP_REPORT_ONLY="1")
    assert enforced == {}
    assert report_only == {**STRICT, "report-uri": [report["CSP_REPORT_URI"]]}


@pytest.mark.django_db
def test_public_pages_and_the_api_docs(client):
    for path in ("/login/", "/signup/", "/password/reset/", "/password/reset/sent/"):
        check_page(client, path)
    docs = check_page(client, "/metal/v1/api-docs/")
    [script] = re.findall(r'<script src="(/metal/v1/api-docs/\?[^"]+)"', docs.content.decode())
    assert_strict(client.get(script.replace("&amp;", "&")))  # Swagger UI's start-up script


@pytest.mark.django_db
def test_htmx_is_configured_for_the_policy(client):
    """No eval, no <style> of its own, no copying of style attributes when it settles a swap."""
    page = client.get("/login/").content.decode()
    [config] = re.findall(r"<meta name=\"htmx-config\" content='([^']*)'>", page)
    config = json.loads(config)
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert "style" not in config["attributesToSettle"]
    assert ".htmx-indicator" in (ROOT / "static/portal/css/app.css").read_text()


@pytest.mark.django_db
def test_tenant_pages_and_fragments(client, alice, acme, web):
    site = make_site(3)
    [device] = provisioning_services.create_devices(
        project=web, acting_user=alice, request=request_for(*site, hostnames=["alpha"])
    )
    Invoice.objects.create(
        organization=acme,
        number="IY-TEST-1",
        period_start=datetime.date(2026, 1, 1),
        period_end=datetime.date(2026, 1, 31),
        amount=Decimal("12.34"),
        currency="USD",
        due_on=datetime.date(2026, 2, 8),
    )
    client.force_login(alice)
    detail = check_page(client, f"/servers/{device.uuid}/")
    assert b"progress-step-0" in detail.content and b'hx-trigger="every 2s"' in detail.content
    for path in (
        f"/projects/{web.uuid}/",
        f"/projects/{web.uuid}/servers/",
        f"/projects/{web.uuid}/servers/new/",
        f"/projects/{web.uuid}/ips/",
        f"/projects/{web.uuid}/usage/",
        f"/projects/{web.uuid}/members/",
        f"/projects/{web.uuid}/settings/",
        f"/orgs/{acme.uuid}/team/",
        f"/orgs/{acme.uuid}/billing/",
        "/account/api-keys/",
        "/account/ssh-keys/",
        "/catalogue/",
    ):
        check_page(client, path)
    # htmx fragments: the polled badge and status, the filtered list, the deploy wizard's step.
    check_page(client, f"/servers/{device.uuid}/badge/", headers=HTMX)
    check_page(client, f"/servers/{device.uuid}/", headers=HTMX)
    check_page(client, f"/projects/{web.uuid}/servers/?state=queued", headers=HTMX)
    wizard = client.post(
        f"/projects/{web.uuid}/servers/new/", {"refresh": "1", "metro": site[0].pk}, headers=HTMX
    )
    assert_strict(wizard)
    assert not (found := blocked_in(wizard.content.decode())), found
    [invoice] = Invoice.objects.all()
    assert_strict(client.get(f"/invoices/{invoice.uuid}.pdf"))


@pytest.mark.django_db
def test_operator_pages(client):
    make_site(2)
    client.force_login(factories.make_user("ops@example.com", staff=True))
    machine = Machine.objects.first()
    for path in (
        "/operator/",
        f"/operator/machines/{machine.uuid}/",
        "/operator/enroll/",
        "/operator/catalogue/plans/",
        "/operator/catalogue/plans/new/",
    ):
        check_page(client, path)
    check_page(client, "/operator/?state=available", headers=HTMX)


@pytest.mark.django_db
def test_error_pages(client, settings, acme, carol):
    settings.ROOT_URLCONF = "tests.error_urls"
    check_page(client, "/no-such-page/", 404)
    client.raise_request_exception = False
    check_page(client, BOOM_PATH, 500)
    csrf_checked = Client(enforce_csrf_checks=True)
    failure = csrf_checked.post("/login/", {"username": "x", "password": "y"})
    assert failure.status_code == 403 and b"This form has expired" in failure.content
    assert_strict(failure)
    assert not (found := blocked_in(failure.content.decode())), found
    client.force_login(carol)
    check_page(client, f"/orgs/{acme.uuid}/settings/", 403)


@pytest.mark.django_db
def test_api_responses_carry_it_too(client):
    """Harmless on JSON, and one header for everything keeps the setup simple."""
    assert_strict(client.get("/metal/v1/projects"))  # 401 JSON
    assert_strict(client.get("/metal/v1/openapi.json"))


@pytest.mark.django_db
def test_static_html_carries_it_too():
    """The middleware runs before WhiteNoise's: a static HTML file (Swagger UI's OAuth2 redirect
    page, which Ironyard does not use) runs under the policy like any page."""
    with override_settings(WHITENOISE_USE_FINDERS=True):  # no collectstatic in tests
        static = Client()
        assert_strict(
            static.get("/static/drf_spectacular_sidecar/swagger-ui-dist/oauth2-redirect.html")
        )
        assert_strict(static.get("/static/portal/js/app.js"))


def _without_comments(source: str) -> str:
    source = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", "", source, flags=re.DOTALL)
    return re.sub(r"{#.*?#}", "", source)


def test_no_template_holds_what_the_policy_blocks():
    """The quick net for every template, rendered by a test or not."""
    templates = sorted((ROOT / "templates").rglob("*.html"))
    assert len(templates) > 40
    found = {
        str(path.relative_to(ROOT)): blocked
        for path in templates
        if (blocked := blocked_in(_without_comments(path.read_text())))
    }
    assert not found, found


def test_our_scripts_do_not_eval():
    for path in (ROOT / "static").rglob("*.js"):
        code = path.read_text()
        assert not re.search(r"\beval\s*\(|\bnew\s+Function\b|setTimeout\s*\(\s*['\"]", code), path


def test_the_checker_catches_what_it_should():
    """The net itself, against what someone might add."""
    page = """<div>
      <script>alert(1)</script><script src="/static/x.js"></script>
      <script type="application/json" id="data">{}</script>
      <p style="color: red" onclick="go()">x</p><style>p {}</style>
      <button hx-on:click="go()" hx-vals='js:{a: 1}' hx-trigger="click[ctrlKey]">b</button>
      <a href="javascript:go()">c</a><div data-hx-on-click="go()"></div>
    </div>"""
    found = "\n".join(blocked_in(page))
    for what in (
        "inline script <script >",
        "style attribute",
        "inline event handler onclick",
        "<style> element",
        "hx-on:click",
        "hx-vals with js:",
        "hx-trigger filter",
        "javascript: URL",
        "data-hx-on-click",
    ):
        assert what in found, what
    assert found.count("inline script") == 1
