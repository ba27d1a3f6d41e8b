"""Every page the product serves, in a real browser, under the Content-Security-Policy: as a
visitor, a tenant (alice, owner of Acme) and an operator, doing what runs scripts (htmx polling,
swaps and redirects, bulk actions with confirmations, the deploy wizard, copy buttons, the theme
toggle, Bootstrap's menus, Swagger UI). Any violation, any refusal by htmx to eval and any
uncaught script error fails (tests/browser/conftest.py `PolicyWatch`)."""

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from inventory.views import KINDS
from portal import services
from provisioning.models import Invoice
from tests import factories
from tests.error_urls import BOOM_PATH

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def visit(page, path: str, status: int = 200):
    """Open a page, which must come with the policy in force."""
    response = page.goto(page.base + path)
    assert response.status == status, f"{path}: {response.status}"
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "unsafe" not in policy, f"{path}: {policy!r}"
    return response


def log_in(page, email: str, password: str = factories.PASSWORD) -> None:
    visit(page, "/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()  # htmx post, then HX-Redirect
    expect(page.locator("#account-menu")).to_be_visible()


def swapped(page, url_part: str, action) -> None:
    """Do `action` and wait until htmx has swapped in the answer from a URL with `url_part`."""
    with page.expect_response(lambda response: url_part in response.url):
        action()
    page.wait_for_timeout(100)  # htmx settles 20 ms after the swap (or navigates)
    page.wait_for_load_state()


def use_menus_and_theme(page) -> None:
    """Bootstrap's dropdowns (Popper positions them), its collapsing navbar, the theme toggle."""
    page.locator("#account-menu").click()
    expect(page.get_by_role("link", name="Profile")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Toggle navigation").click()
    expect(page.locator("#main-nav")).to_be_visible()
    page.set_viewport_size(DESKTOP)


def test_the_watch_sees_what_the_policy_blocks(e2e, browser_page):
    """The net itself: an inline script, an inline style, an inline event handler and an
    hx-on attribute added to a served page are each reported (so the tests below would fail)."""
    page = browser_page
    visit(page, "/login/")
    page.csp.assert_clean(page)
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.body.append(script);
        document.body.insertAdjacentHTML("beforeend",
          '<div style="color: red">styled</div>' +
          '<button id="inline-handler" onclick="window.handlerRan = true">x</button>' +
          '<button id="hx-on" hx-on:click="window.hxOnRan = true">y</button>');
        htmx.process(document.getElementById("hx-on"));
    }"""
    )
    page.locator("#inline-handler").click()
    page.locator("#hx-on").click()
    page.csp.settle(page)
    assert page.evaluate("[window.inlineRan, window.handlerRan, window.hxOnRan]") == [None] * 3
    directives = {v["directive"] for v in page.csp.violations if isinstance(v, dict)}
    assert {"script-src-elem", "style-src-attr", "script-src-attr"} <= directives
    assert any("htmx:evalDisallowedError" in str(v) for v in page.csp.violations)
    page.csp.violations.clear()


def test_public_and_error_pages(e2e, browser_page, settings, acme, web, alice, carol):
    page = browser_page
    settings.ROOT_URLCONF = "tests.error_urls"
    invitation, token = services.invite_member(
        organization=acme, invitee="dora@example.com", role="admin", acting_user=alice
    )
    for path in ("/login/", "/signup/", "/password/reset/", "/password/reset/complete/"):
        visit(page, path)
        page.shot(f"csp{path.replace('/', '-').rstrip('-')}")
    visit(page, f"/invitations/{invitation.uuid}/{token}/")
    uid = urlsafe_base64_encode(force_bytes(alice.pk))
    visit(page, f"/password/reset/{uid}/{default_token_generator.make_token(alice)}/")
    expect(page.locator("input[name=new_password1]")).to_be_visible()
    visit(page, "/password/reset/")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_role("button", name="Send reset link").click()
    page.wait_for_url("**/password/reset/sent/")

    # Swagger UI renders the whole document and opens an operation.
    visit(page, "/metal/v1/api-docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.shot("csp-api-docs")

    # Error pages: 404, 500 (styled by its own file), and the CSRF failure page (a form sent
    # without the cookie, submitted the plain way rather than through htmx).
    visit(page, "/no-such-page/", 404)
    visit(page, BOOM_PATH, 500)
    expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).maxWidth") == "640px"
    visit(page, "/login/")
    page.context.clear_cookies()
    with page.expect_navigation():
        page.evaluate("document.getElementById('login-form').submit()")
    expect(page.get_by_role("heading", name="This form has expired")).to_be_visible()
    page.shot("csp-csrf-failure")

    log_in(page, "carol@example.com")
    visit(page, f"/orgs/{acme.uuid}/settings/", 403)
    visit(page, f"/servers/{web.uuid}/", 404)  # a project's id, not a server's
    page.csp.assert_clean(page)


def test_tenant_pages_and_interactions(e2e, browser_page, acme, web, alice):
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    key = services.create_ssh_key(
        acting_user=alice, label="laptop", key=factories.new_ssh_public_key("alice@laptop")
    )
    services.invite_member(
        organization=acme, invitee="dora@example.com", role="admin", acting_user=alice
    )
    invoice = Invoice.objects.create(
        organization=acme,
        number="IY-TEST-1",
        period_start=datetime.date(2026, 1, 1),
        period_end=datetime.date(2026, 1, 31),
        amount=Decimal("12.34"),
        currency="USD",
        due_on=datetime.date(2026, 2, 8),
    )
    log_in(page, "alice@example.com")
    use_menus_and_theme(page)

    # The deploy wizard: every choice re-renders the form through htmx.
    e2e.worker.stop()  # the servers wait in the queue, so the pages poll
    visit(page, f"/projects/{web.uuid}/servers/new/")
    swapped(page, "/servers/new/", lambda: page.get_by_text("Silicon Valley").first.click())
    swapped(page, "/servers/new/", lambda: page.locator("label[for='plan-c3.small.x86']").click())
    page.get_by_label("Quantity").fill("2")
    swapped(page, "/servers/new/", lambda: page.get_by_label("Quantity").press("Tab"))
    expect(page.get_by_label("Hostnames")).to_have_value("c3-small-01\nc3-small-02")
    page.get_by_role("button", name="Deploy").click()
    page.wait_for_url("**/servers/")

    # The list and a server's page poll while the servers are unsettled, and follow them to
    # active without a reload.
    with page.expect_response(lambda r: "/badge/" in r.url):
        pass
    expect(page.locator("[data-state=queued]")).to_have_count(2)
    page.get_by_role("link", name="c3-small-01").click()
    expect(page.get_by_role("progressbar", name="Progress")).to_be_visible()
    expect(page.locator("#device-progress-bar")).to_have_class(re.compile(r"\bprogress-step-0\b"))
    with page.expect_response(lambda r: "/servers/" in r.url and r.request.method == "GET"):
        pass
    e2e.worker.start()
    expect(page.locator("#device-state")).to_have_attribute("data-state", "active", timeout=90_000)
    page.csp.assert_clean(page)

    # A server's page: reveal and copy the root password, copy an address, save its settings,
    # power it off (the status swaps in, the timeline out of band, and polling starts again).
    swapped(
        page, "/password/", lambda: page.get_by_role("link", name="Reveal root password").click()
    )
    page.locator("#root-password button[data-copy-target]").click()
    expect(page.locator("#root-password button[data-copy-target]")).to_have_text("Copied")
    assert (
        page.evaluate("navigator.clipboard.readText()")
        == page.locator("#root-password-value").input_value()
    )
    page.locator("button[data-copy-target^=ip-]").first.click()
    expect(page.locator("button[data-copy-target^=ip-]").first).to_have_text("Copied")
    swapped(page, "/settings/", lambda: page.get_by_role("button", name="Save settings").click())
    swapped(page, "/actions/", lambda: page.get_by_role("button", name="Power off").click())
    expect(page.locator("#device-state")).to_have_attribute(
        "data-state", "inactive", timeout=60_000
    )
    page.shot("csp-server")

    # The list: a filter (htmx, pushes the URL), "select all", then a bulk action with a
    # result per server, and a bulk delete behind its confirmation.
    visit(page, f"/projects/{web.uuid}/servers/")
    state = page.get_by_label("State", exact=True)
    swapped(page, "/servers/", lambda: state.select_option("active"))
    swapped(page, "/servers/", lambda: state.select_option(""))
    page.get_by_label("Select all servers on this page").check()
    expect(page.locator("input[name=devices]:checked")).to_have_count(2)
    # Scripts, Bootstrap and browser extensions leave style attributes (through the CSSOM, which
    # the policy allows) on elements htmx then swaps: htmx must not copy them over.
    page.evaluate(
        "document.querySelectorAll('input[name=devices]').forEach((box) => {"
        " box.style.outline = '2px solid orange'; })"
    )
    swapped(page, "/servers/actions/", lambda: page.get_by_role("button", name="Power on").click())
    expect(page.locator("#outcomes li")).to_have_count(2)
    page.get_by_label("Select all servers on this page").check()
    swapped(page, "/servers/actions/", lambda: page.get_by_role("button", name="Delete").click())
    expect(page.locator("#outcomes")).to_contain_text("deleting")
    page.shot("csp-servers")

    visit(page, f"/projects/{web.uuid}/ips/")
    page.locator("#reserve-form select[name=metro]").select_option(index=1)
    swapped(page, "/ips/", lambda: page.get_by_role("button", name="Reserve").click())
    expect(page.locator("#reservations")).to_contain_text("/")
    visit(page, f"/projects/{web.uuid}/usage/")
    for path in ("", "ssh-keys/", "members/", "timeline/", "settings/"):
        visit(page, f"/projects/{web.uuid}/{path}")
    visit(page, f"/projects/{web.uuid}/api-keys/")
    page.get_by_role("button", name="Create key").click()
    page.locator("button[data-copy-target=new-api-key]").click()
    expect(page.locator("button[data-copy-target=new-api-key]")).to_have_text("Copied")

    for path in ("projects/", "team/", "timeline/", "settings/"):
        visit(page, f"/orgs/{acme.uuid}/{path}")
    visit(page, f"/orgs/{acme.uuid}/billing/")
    expect(page.locator("#invoice-table")).to_contain_text(invoice.number)
    for fmt in ("PDF", "CSV"):
        with page.expect_download() as download:
            page.get_by_role("link", name=fmt, exact=True).click()
        assert download.value.suggested_filename.startswith(invoice.number)
    visit(page, "/orgs/new/")

    for path in ("profile/", "password/", "ssh-keys/", "invitations/", "api-keys/"):
        visit(page, f"/account/{path}")
    visit(page, f"/ssh-keys/{key.uuid}/edit/")
    visit(page, "/catalogue/")
    page.csp.assert_clean(page)


def test_operator_pages_and_interactions(e2e, browser_page):
    page = browser_page
    log_in(page, e2e.operator.email)
    use_menus_and_theme(page)

    visit(page, "/operator/")
    state = page.get_by_label("State", exact=True)
    swapped(page, "/operator/", lambda: state.select_option("in_use"))
    expect(page.locator("#machines")).to_contain_text("No machines match.")
    swapped(page, "/operator/", lambda: state.select_option(""))
    page.get_by_label("Select all machines on this page").check()
    expect(page.locator("input[name=machines]:not(:checked)")).to_have_count(0)
    page.get_by_label("Maintenance reason").fill("checking the policy")
    swapped(page, "/actions/", lambda: page.get_by_role("button", name="Maintenance on").click())
    expect(page.locator("#outcomes li")).to_have_count(4)
    page.get_by_label("Select all machines on this page").check()
    swapped(page, "/actions/", lambda: page.get_by_role("button", name="Maintenance off").click())
    page.shot("csp-operator-machines")

    page.locator("#machines a.fw-semibold").first.click()
    swapped(page, "/power/", lambda: page.get_by_role("button", name="Check power").click())
    page.shot("csp-operator-machine")

    visit(page, "/operator/enroll/")
    swapped(page, "/enroll/", lambda: page.get_by_role("button", name="Enroll", exact=True).click())
    for kind in KINDS:
        visit(page, f"/operator/catalogue/{kind}/")
        page.locator("table a.fw-semibold").first.click()
        page.wait_for_url(f"**/operator/catalogue/{kind}/*/")
        visit(page, f"/operator/catalogue/{kind}/new/")
    visit(page, "/catalogue/")
    page.csp.assert_clean(page)
