"""The server pages: dashboard panel, servers list, deploy, detail, IPs; permissions and CSRF."""

import ipaddress

import pytest
from django.urls import reverse

from inventory.models import IPReservation, Machine
from portal import audit
from provisioning.models import Device, IPAssignment, Operation

HX = {"HX-Request": "true"}


def _deploy_form(site, **fields) -> dict:
    """The deploy page's fields for one server of the site's plan (override any)."""
    metro, plan, os_ = site
    return {
        "metro": metro.pk,
        "plan": plan.pk,
        "operating_system": os_.pk,
        "quantity": 1,
        "ip_option": "public",
        **fields,
    }


def test_overview_shows_servers_by_state_and_usage_spot(client, alice, web, server):
    client.force_login(alice)
    response = client.get(reverse("portal:project", args=[web.uuid]))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-state-count="queued">1<' in body
    assert 'id="usage-card"' in body
    assert reverse("provisioning:deploy", args=[web.uuid]) in body
    assert reverse("provisioning:devices", args=[web.uuid]) in body  # side-nav tab


def test_servers_list_filters_and_search(client, alice, web, deploy):
    _a, b = deploy(web, 2, hostnames=["db-1", "www-1"])
    Device.objects.filter(pk=b.pk).update(state="active", tags=["prod", "web"])
    client.force_login(alice)
    url = reverse("provisioning:devices", args=[web.uuid])
    assert "www-1" in client.get(url, {"tag": "prod"}).content.decode()
    assert "db-1" not in client.get(url, {"tag": "prod"}).content.decode()
    assert "db-1" not in client.get(url, {"state": "active"}).content.decode()
    found = client.get(url, {"q": "db"}).content.decode()
    assert "db-1" in found and "www-1" not in found
    public = IPAssignment.objects.filter(device=b, public=True).first()
    ip = public.network.split("/")[0]
    found = client.get(url, {"q": ip}).content.decode()
    assert "www-1" in found
    assert f">{public.address}</td>" in found  # the server's own address, not its subnet's
    fragment = client.get(url, {"plan": "nope"}, headers=HX)
    assert b"<html" not in fragment.content and b"No servers match" in fragment.content


def test_badge_polls_until_settled_then_286(client, alice, server):
    client.force_login(alice)
    url = reverse("provisioning:device-badge", args=[server.uuid])
    polling = client.get(url, headers=HX)
    assert polling.status_code == 200 and b"hx-trigger" in polling.content
    Device.objects.filter(pk=server.pk).update(state="active")
    settled = client.get(url, headers=HX)
    assert settled.status_code == 286 and b"hx-trigger" not in settled.content


def test_a_power_action_shows_its_step_without_a_progress_bar(client, alice, server):
    client.force_login(alice)
    Device.objects.filter(pk=server.pk).update(
        state="powering_off", provisioning_percentage=100, current_step="Powering off"
    )
    page = client.get(reverse("provisioning:device", args=[server.uuid])).content.decode()
    assert "Current step: Powering off" in page and 'hx-trigger="every 2s"' in page
    assert 'role="progressbar"' not in page


def test_detail_status_fragment_shows_progress_then_stops(client, alice, server):
    client.force_login(alice)
    Device.objects.filter(pk=server.pk).update(
        state="provisioning", provisioning_percentage=40, current_step="write_image"
    )
    url = reverse("provisioning:device", args=[server.uuid])
    page = client.get(url).content.decode()
    assert 'aria-valuenow="40"' in page and "write_image" in page and "<html" in page
    Device.objects.filter(pk=server.pk).update(state="active", provisioning_percentage=None)
    audit.record(
        "device.provision.succeeded",
        actor=None,
        text="Provision of it succeeded",
        project=server.project,
        objects=[server],
    )
    fragment = client.get(url, headers=HX)
    assert fragment.status_code == 286
    # The timeline further down the page follows along, out of band.
    assert b'id="device-timeline" hx-swap-oob="true"' in fragment.content
    assert b"Provision of it succeeded" in fragment.content
    assert b"hx-trigger" not in fragment.content and b"<html" not in fragment.content
    # So does the OS in the overview (a reinstall may have changed it).
    assert (
        f'<span id="device-os" hx-swap-oob="true">{server.operating_system.name}</span>'.encode()
        in fragment.content
    )
    # A history restore gets the whole page, never a bare fragment.
    restore = client.get(url, headers={**HX, "HX-History-Restore-Request": "true"})
    assert b"<html" in restore.content


def test_bulk_actions_give_a_result_per_server(client, alice, web, deploy):
    a, b = deploy(web, 2, hostnames=["one", "two"])
    Device.objects.filter(pk=a.pk).update(state="active")
    Operation.objects.filter(device__in=[a, b]).update(state="succeeded")
    client.force_login(alice)
    url = reverse("provisioning:device-bulk", args=[web.uuid])
    response = client.post(url, {"action": "power_off", "devices": [a.uuid, b.uuid]}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<strong>one</strong>: power off requested" in body
    assert "<strong>two</strong>: Cannot power off a server that is queued" in body
    assert Device.objects.get(pk=a.pk).state == "powering_off"
    empty = client.post(url, {"action": "reboot"}, headers=HX)
    assert "Select at least one server." in empty.content.decode()


def test_deploy_page_follows_choices_and_deploys(client, alice, web, site):
    metro, plan, os_ = site
    client.force_login(alice)
    url = reverse("provisioning:deploy", args=[web.uuid])
    assert "Choose a metro" in client.get(url).content.decode()
    refreshed = client.post(
        url, {"refresh": "1", "metro": metro.pk, "plan": plan.pk, "quantity": 2}, headers=HX
    ).content.decode()
    assert f'id="plan-{plan.slug}"' in refreshed and 'data-capacity="normal"' in refreshed
    assert f'value="{os_.pk}" selected>{os_.name}<' in refreshed  # the only OS, by name
    assert "c3-small-01\nc3-small-02" in refreshed  # hostnames pre-filled
    assert "$1.00" in refreshed  # 2 × $0.50 per hour
    assert "invalid-feedback" not in refreshed  # a refresh never judges
    response = client.post(
        url,
        _deploy_form(
            site, quantity=2, hostname="web-a\nweb-b", userdata="#cloud-config\npackages: [nginx]\n"
        ),
        headers=HX,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("provisioning:devices", args=[web.uuid])
    assert sorted(Device.objects.values_list("hostname", flat=True)) == ["web-a", "web-b"]


@pytest.mark.parametrize(
    ("userdata", "message"),
    [
        ("echo hi", "User data must start with #cloud-config"),
        ("#cloud-config\npackages: [nginx\n", "not valid YAML on line"),
        # PyYAML recursed out on this (a 500).
        ("#cloud-config\nruncmd: " + "[" * 1000 + "]" * 1000, "nested too deeply"),
    ],
)
def test_invalid_user_data_is_an_error_next_to_the_field_and_nothing_is_lost(
    client, alice, web, site, userdata, message
):
    client.force_login(alice)
    response = client.post(
        reverse("provisioning:deploy", args=[web.uuid]),
        _deploy_form(site, hostname="keepme", userdata=userdata),
        headers=HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="userdata-error"' in body and message in body
    assert "keepme" in body and userdata.split("\n")[0] in body
    assert not Device.objects.exists()


def test_unavailable_plan_is_disabled_and_refused(client, alice, web, site):
    metro, plan, _ = site
    Machine.objects.update(state="maintenance")
    client.force_login(alice)
    url = reverse("provisioning:deploy", args=[web.uuid])
    page = client.post(url, {"refresh": "1", "metro": metro.pk}, headers=HX).content.decode()
    assert 'data-capacity="unavailable"' in page and "disabled" in page
    response = client.post(
        url,
        _deploy_form(site),
        headers=HX,
    )
    assert f"No {plan.slug} servers are available in {metro.code}" in response.content.decode()
    assert not Device.objects.exists()


def test_hostname_clash_lands_on_the_field(client, alice, web, site, server):
    client.force_login(alice)
    response = client.post(
        reverse("provisioning:deploy", args=[web.uuid]),
        _deploy_form(site, hostname="alpha"),
        headers=HX,
    )
    assert 'id="hostnames-error"' in response.content.decode()
    assert Device.objects.count() == 1


def test_detail_actions_settings_lock_and_delete(client, alice, web, server):
    Device.objects.filter(pk=server.pk).update(state="active")
    Operation.objects.filter(device=server).update(state="succeeded")
    client.force_login(alice)
    detail = reverse("provisioning:device", args=[server.uuid])
    page = client.get(detail).content.decode()
    assert "Reveal root password" in page
    # The server's own address (the metadata service's), not its subnet: 198.51.100.1 of a /31.
    public = IPAssignment.objects.get(device=server, public=True, network__contains=".")
    own = str(ipaddress.ip_network(public.network)[1])
    assert f">{own}</code>" in page and f"ssh root@{own}" in page
    password = client.get(reverse("provisioning:device-password", args=[server.uuid]), headers=HX)
    assert server.root_password in password.content.decode()
    settings_url = reverse("provisioning:device-settings", args=[server.uuid])
    bad = client.post(settings_url, {"hostname": "-bad-", "userdata": "nope"}, headers=HX)
    assert (
        "not a valid hostname" in bad.content.decode() or "User data must" in bad.content.decode()
    )
    ok = client.post(
        settings_url, {"hostname": "alpha2", "tags": "prod, web", "locked": "on"}, headers=HX
    )
    assert ok["HX-Redirect"] == detail
    server.refresh_from_db()
    assert (server.hostname, server.tags, server.locked) == ("alpha2", ["prod", "web"], True)
    locked_page = client.get(detail).content.decode()
    assert "Locked: unlock in settings to delete." in locked_page
    client.post(reverse("provisioning:device-delete", args=[server.uuid]))
    assert Device.objects.get(pk=server.pk).state == "active"  # a locked server stays
    Device.objects.filter(pk=server.pk).update(locked=False)
    action = client.post(
        reverse("provisioning:device-action", args=[server.uuid]),
        {"action": "power_off"},
        headers=HX,
    )
    assert action.status_code == 200 and b"hx-trigger" in action.content  # polling resumes
    Operation.objects.filter(device=server).update(state="succeeded")
    client.post(reverse("provisioning:device-delete", args=[server.uuid]))
    assert Device.objects.get(pk=server.pk).state == "deprovisioning"


def test_ips_reserve_assign_unassign_release(client, alice, web, site, server):
    metro, *_ = site
    client.force_login(alice)
    url = reverse("provisioning:ips", args=[web.uuid])
    bad = client.post(url, {"kind": "public_ipv4", "metro": metro.pk, "quantity": 64}, headers=HX)
    assert "Select a valid choice" in bad.content.decode()
    ok = client.post(url, {"kind": "public_ipv4", "metro": metro.pk, "quantity": 4}, headers=HX)
    assert ok["HX-Redirect"] == url
    reservation = IPReservation.objects.get(project=web, management=False)
    client.post(reverse("provisioning:ip-assign", args=[reservation.uuid]), {"device": server.uuid})
    assignment = IPAssignment.objects.get(reservation=reservation)
    assert assignment.device == server
    assert server.hostname in client.get(url).content.decode()
    client.post(reverse("provisioning:ip-unassign", args=[assignment.uuid]))
    assert not IPAssignment.objects.filter(reservation=reservation).exists()
    client.post(reverse("provisioning:ip-release", args=[reservation.uuid]))
    assert not IPReservation.objects.filter(pk=reservation.pk).exists()


def test_list_pages_past_the_last_page_show_the_last_page(client, alice, acme, web, server):
    client.force_login(alice)
    for url in [
        reverse("provisioning:devices", args=[web.uuid]),
        reverse("provisioning:ips", args=[web.uuid]),
        reverse("portal:project-timeline", args=[web.uuid]),
        reverse("portal:org-timeline", args=[acme.uuid]),
    ]:
        for page in ("99999999999999999999", "9" * 5000, "-1", "x"):
            response = client.get(url, {"page": page})
            assert response.status_code == 200, (url, page[:20])
            assert response.context["page"].number == 1  # the last page is the only one


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (", ".join(f"t{n}" for n in range(101)), "At most 100 tags."),
        ("x" * 256, "Tags are at most 255 characters."),
    ],
)
def test_server_settings_refuse_too_many_or_too_long_tags(client, alice, server, tags, message):
    client.force_login(alice)
    response = client.post(
        reverse("provisioning:device-settings", args=[server.uuid]),
        {"hostname": "alpha", "tags": tags},
        headers=HX,
    )
    assert response.status_code == 200
    assert response.context["settings_form"].errors["tags"] == [message]
    server.refresh_from_db()
    assert server.tags == []
