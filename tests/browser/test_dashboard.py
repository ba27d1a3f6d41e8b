"""The dashboard in a real browser against a live portal, a real worker and the virtual rack:
sign up, create a project, add a key, deploy two servers and watch them come up without
reloading, power off, reinstall, delete; scoping and clear errors."""

import pytest
from playwright.sync_api import expect

from provisioning.models import Device
from tests import factories
from tests.e2e.conftest import wait_until

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
]


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
    page.get_by_role("button", name="Deploy").click()

    # The list page loads once; badges poll themselves until both servers are active.
    page.wait_for_url("**/servers/")
    page.evaluate("window.__sameDocument = true")
    page.shot("servers-provisioning")
    expect(page.locator("[data-state=active]")).to_have_count(2, timeout=90_000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    page.shot("servers-active")
    page.set_viewport_size({"width": 390, "height": 844})
    page.shot("servers-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="c3-small-01").click()
    page.evaluate("window.__sameDocument = true")
    page.shot("server-detail")
    page.get_by_role("button", name="Power off").click()
    expect(page.locator("#device-state")).to_have_attribute(
        "data-state", "inactive", timeout=60_000
    )
    page.get_by_role("button", name="Reinstall").click()
    expect(page.locator("#device-state")).to_have_attribute("data-state", "active", timeout=90_000)
    assert page.evaluate("window.__sameDocument") is True
    page.shot("server-reinstalled")

    page.get_by_role("link", name="Servers", exact=True).click()
    page.locator("[data-select-all]").check()
    page.locator("#bulk-form button[value=delete]").click()
    expect(page.locator("#outcomes li")).to_have_count(2)
    expect(page.locator("#outcomes")).to_contain_text("c3-small-01: deleting")
    expect(page.locator("#outcomes")).to_contain_text("c3-small-02: deleting")
    wait_until(
        lambda: not Device.objects.exclude(state="deleted").exists(), 90, what="both deleted"
    )


def test_scoping_and_clear_errors(e2e, browser_page, acme, web, ops, carol, alice):
    page = browser_page
    secret = factories.make_project(factories.make_org(alice, "Other team"), "secret")
    page.goto(f"{page.base}/login/")
    carol.set_password("carol passphrase 123")
    carol.save()
    page.get_by_label("E-mail address").fill("carol@example.com")
    page.get_by_label("Password").fill("carol passphrase 123")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#account-menu")).to_be_visible()
    for project in (ops, secret):  # not carol's: the page does not exist for her
        response = page.goto(f"{page.base}/projects/{project.uuid}/servers/")
        assert response.status == 404

    page.goto(f"{page.base}/projects/{web.uuid}/servers/new/")
    choose(page)
    page.get_by_label("Script or #cloud-config run on first boot").fill("echo no header")
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#userdata-error")).to_contain_text("must start with #cloud-config")
    expect(page.get_by_label("Script or #cloud-config run on first boot")).to_have_value(
        "echo no header"
    )
    page.shot("deploy-error")

    # Every machine taken: the plan card is disabled and says so.
    from inventory.models import Machine

    Machine.objects.update(state="maintenance")
    page.goto(f"{page.base}/projects/{web.uuid}/servers/new/")
    page.get_by_text("Silicon Valley").first.click()
    expect(page.locator("#plan-c3\\.small\\.x86")).to_be_disabled()
    expect(page.locator("label[for='plan-c3.small.x86'] [data-capacity]")).to_have_text(
        "unavailable"
    )
    page.shot("deploy-unavailable")
    assert not Device.objects.exists()
