"""The dashboard in a real browser against a live portal, a real worker and the virtual rack:
sign up, create a project, add a key, deploy two servers and watch them come up without
reloading, power off, reinstall, delete; scoping and clear errors."""

import pytest
from playwright.sync_api import expect

from provisioning.models import Device
from tests import factories
from tests.browser.conftest import shot
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]


def deploy_one(project, user, hostname: str) -> Device:
    """A server created the way the deploy page creates it (the worker provisions it)."""
    from inventory.models import Metro, OperatingSystem, Plan
    from provisioning import services

    request = services.DeviceRequest(
        plan=Plan.objects.get(slug="c3.small.x86"),
        operating_system=OperatingSystem.objects.get(slug="ubuntu_24_04"),
        metros=[Metro.objects.get(code="sv")],
        hostnames=[hostname],
    )
    [device] = services.create_devices(project=project, acting_user=user, request=request)
    return device


def sign_up(page, email: str) -> None:
    page.goto(f"{page.base}/signup/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("First name").fill("Dana")
    page.locator("input[name=password1]").fill("a long enough passphrase 42")
    page.locator("input[name=password2]").fill("a long enough passphrase 42")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#account-menu")).to_be_visible()  # signed up and logged in


def create_project(page, org: str, project: str) -> None:
    page.goto(f"{page.base}/orgs/new/")
    page.get_by_label("Name").first.fill(org)
    page.get_by_role("button", name="Create organization").click()
    page.get_by_label("Project name").fill(project)
    page.get_by_role("button", name="Create project").click()  # opens the new project
    expect(page.get_by_role("heading", name=project, level=1)).to_be_visible()


def choose(page, metro="Silicon Valley", plan="c3.small.x86") -> None:
    page.get_by_text(metro).first.click()
    page.locator(f"label[for='plan-{plan}']").click()
    expect(page.locator("#cost-per-hour")).to_be_visible()


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def assert_fits_width(page) -> None:
    """Nothing makes the page scroll sideways (wide tables scroll inside their own box)."""
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert max(widths[:2]) <= widths[2], f"page overflows sideways: {widths}"


def test_deploy_watch_operate_and_delete_two_servers(e2e, browser_page):
    page = browser_page
    sign_up(page, "dana@example.com")
    create_project(page, "Dana Co", "web")
    page.get_by_role("link", name="SSH keys").first.click()
    page.get_by_label("Public key").fill(factories.new_ssh_public_key("dana@laptop"))
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_text("dana@laptop").first).to_be_visible()

    page.get_by_role("link", name="Servers", exact=True).click()
    page.get_by_role("link", name="Deploy servers").click()
    choose(page)
    page.get_by_label("Quantity").fill("2")
    page.get_by_label("Quantity").press("Tab")
    expect(page.get_by_label("Hostnames")).to_have_value("c3-small-01\nc3-small-02")
    expect(page.locator("input[name=ssh_keys]").first).to_be_checked()  # preselected
    page.shot("deploy")

    # With the worker stopped the new servers wait in the queue, so the pages can be seen
    # (and photographed) in that state; it starts again below and the pages follow on their own.
    e2e.worker.stop()
    page.get_by_role("button", name="Deploy").click()
    page.wait_for_url("**/servers/")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("[data-state=queued]")).to_have_count(2)
    page.shot("servers-provisioning")

    detail = page.context.new_page()
    detail.goto(page.base + page.get_by_role("link", name="c3-small-01").get_attribute("href"))
    detail.evaluate("window.__sameDocument = true")
    expect(detail.locator("#device-state")).to_have_attribute("data-state", "queued")
    expect(detail.get_by_role("progressbar", name="Progress")).to_be_visible()
    expect(detail.locator("#device-status")).to_contain_text("Waiting for a worker")
    shot(detail, "server-provisioning")

    e2e.worker.start()
    expect(page.locator("[data-state=active]")).to_have_count(2, timeout=90_000)
    assert page.evaluate("window.__sameDocument") is True  # the list was never reloaded
    page.shot("servers-active")
    expect(detail.locator("#device-state")).to_have_attribute(
        "data-state", "active", timeout=30_000
    )
    expect(detail.get_by_role("progressbar")).to_have_count(0)
    assert detail.evaluate("window.__sameDocument") is True
    shot(detail, "server-active")
    detail.close()

    # Phone width: the list stacks its rows and nothing scrolls sideways.
    page.set_viewport_size(PHONE)
    assert_fits_width(page)
    expect(page.get_by_role("link", name="c3-small-02")).to_be_in_viewport()
    page.shot("servers-phone")
    page.set_viewport_size(DESKTOP)

    page.get_by_role("link", name="c3-small-01").click()
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Power off").click()
    expect(page.locator("#device-state")).to_have_attribute(
        "data-state", "inactive", timeout=60_000
    )
    page.get_by_role("button", name="Reinstall").click()
    expect(page.locator("#device-state")).not_to_have_attribute("data-state", "inactive")
    expect(page.locator("#device-state")).to_have_attribute("data-state", "active", timeout=90_000)
    assert page.evaluate("window.__sameDocument") is True
    page.shot("server-reinstalled")
    assert Device.objects.get(hostname="c3-small-01").operations.filter(kind="reinstall").exists()

    page.get_by_role("link", name="IPs", exact=True).click()
    expect(page.get_by_role("heading", name="IP addresses", level=1)).to_be_visible()
    page.shot("ips")
    page.get_by_role("link", name="Usage", exact=True).click()
    page.shot("usage")
    page.get_by_role("link", name="Overview", exact=True).click()
    expect(page.locator("[data-state-count=active]")).to_have_text("2")
    page.shot("project-dashboard")

    # Dark mode: the toggle switches the theme and the choice survives a page load.
    html = page.locator("html")
    expect(html).to_have_attribute("data-bs-theme", "light")
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-bs-theme", "dark")
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("link", name="Servers", exact=True).click()
    page.wait_for_url("**/servers/")
    expect(html).to_have_attribute("data-bs-theme", "dark")
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#theme-toggle")).to_contain_text("Light mode")
    page.shot("servers-dark")

    # Delete both from the list at phone width (rows stacked: each server has its own box).
    page.set_viewport_size(PHONE)
    page.get_by_label("Select c3-small-01").check()
    page.get_by_label("Select c3-small-02").check()
    page.locator("#bulk-form button[value=delete]").click()
    expect(page.locator("#outcomes li")).to_have_count(2)
    expect(page.locator("#outcomes")).to_contain_text("c3-small-01: deleting")
    expect(page.locator("#outcomes")).to_contain_text("c3-small-02: deleting")
    assert_fits_width(page)
    page.shot("servers-phone-deleting")
    wait_until(
        lambda: not Device.objects.exclude(state="deleted").exists(), 90, what="both deleted"
    )


def test_scoping_and_clear_errors(e2e, browser_page, acme, web, ops, carol, alice):
    page = browser_page
    other_team = factories.make_project(factories.make_org(alice, "Other team"), "secret")
    ours = deploy_one(web, alice, "ours")
    theirs = deploy_one(other_team, alice, "theirs")
    page.goto(f"{page.base}/login/")
    carol.set_password("carol passphrase 123")
    carol.save()
    page.get_by_label("E-mail address").fill("carol@example.com")
    page.get_by_label("Password").fill("carol passphrase 123")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#account-menu")).to_be_visible()

    # Carol (collaborator on web) sees web's server and nothing of another team's.
    page.goto(f"{page.base}/projects/{web.uuid}/servers/")
    expect(page.get_by_role("link", name="ours")).to_be_visible()
    expect(page.get_by_role("link", name="theirs")).to_have_count(0)
    page.get_by_label("Search").fill("theirs")
    page.get_by_label("Search").press("Enter")
    expect(page.locator("#devices")).to_contain_text("No servers match.")
    for project in (ops, other_team):  # not carol's: the page does not exist for her
        response = page.goto(f"{page.base}/projects/{project.uuid}/servers/")
        assert response.status == 404
    assert page.goto(f"{page.base}/servers/{theirs.uuid}/").status == 404
    assert page.goto(f"{page.base}/servers/{ours.uuid}/").status == 200

    # The deploy page at phone width: usable, and a bad user data is refused at the field with
    # nothing lost.
    page.set_viewport_size(PHONE)
    page.goto(f"{page.base}/projects/{web.uuid}/servers/new/")
    assert_fits_width(page)
    choose(page)
    userdata = page.get_by_label("Script or #cloud-config run on first boot")
    userdata.fill("echo no header")
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#userdata-error")).to_contain_text("must start with #cloud-config")
    expect(userdata).to_have_value("echo no header")
    expect(page.locator("#plan-c3\\.small\\.x86")).to_be_checked()
    assert_fits_width(page)
    page.shot("deploy-phone-error")
    page.set_viewport_size(DESKTOP)
    assert Device.objects.filter(project=web).count() == 1

    # No free machine left: the plan card is disabled and says so.
    from inventory.models import Machine

    Machine.objects.filter(state="available").update(state="maintenance")
    page.goto(f"{page.base}/projects/{web.uuid}/servers/new/")
    page.get_by_text("Silicon Valley").first.click()
    expect(page.locator("#plan-c3\\.small\\.x86")).to_be_disabled()
    expect(page.locator("label[for='plan-c3.small.x86'] [data-capacity]")).to_have_text(
        "unavailable"
    )
    page.shot("deploy-unavailable")
    assert Device.objects.filter(project=web).count() == 1
