"""Not yours → 404, read-only → 403, signed out → login; CSRF on every form."""

import pytest
from django.test import Client
from django.urls import reverse

from provisioning.models import Device


def _pages(project, device):
    return [
        reverse("provisioning:devices", args=[project.uuid]),
        reverse("provisioning:ips", args=[project.uuid]),
        reverse("provisioning:device", args=[device.uuid]),
        reverse("provisioning:device-badge", args=[device.uuid]),
    ]


def test_outsider_gets_404_everywhere(client, charlie, web, server):
    client.force_login(charlie)
    for url in [*_pages(web, server), reverse("provisioning:deploy", args=[web.uuid])]:
        assert client.get(url).status_code == 404, url
    posts = [
        (reverse("provisioning:device-action", args=[server.uuid]), {"action": "reboot"}),
        (reverse("provisioning:device-delete", args=[server.uuid]), {}),
        (reverse("provisioning:device-settings", args=[server.uuid]), {"hostname": "x"}),
        (reverse("provisioning:device-bulk", args=[web.uuid]), {"action": "reboot"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    assert Device.objects.get(pk=server.pk).state == "queued"


def test_signed_out_goes_to_login(client, web, server):
    for url in _pages(web, server):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_collaborator_of_another_project_cannot_see_its_servers(client, carol, ops, deploy):
    [other] = deploy(ops, hostnames=["secret"])
    client.force_login(carol)
    assert client.get(reverse("provisioning:devices", args=[ops.uuid])).status_code == 404
    assert client.get(reverse("provisioning:device", args=[other.uuid])).status_code == 404


def test_limited_collaborator_reads_and_operates_but_cannot_deploy_or_delete(
    client, lena, web, server
):
    client.force_login(lena)
    for url in _pages(web, server):
        assert client.get(url).status_code == 200, url
    assert client.get(reverse("provisioning:deploy", args=[web.uuid])).status_code == 403
    assert client.post(reverse("provisioning:device-delete", args=[server.uuid])).status_code == 403
    settings_url = reverse("provisioning:device-settings", args=[server.uuid])
    assert client.post(settings_url, {"hostname": "x"}).status_code == 403
    bulk = reverse("provisioning:device-bulk", args=[web.uuid])
    assert client.post(bulk, {"action": "delete", "devices": [server.uuid]}).status_code == 403
    ips = reverse("provisioning:ips", args=[web.uuid])
    assert client.post(ips, {"kind": "public_ipv4", "quantity": 1}).status_code == 403
    assert Device.objects.get(pk=server.pk).state == "queued"


@pytest.mark.parametrize("with_token", [False, True])
def test_forms_need_the_csrf_token(alice, web, server, with_token):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(reverse("provisioning:device", args=[server.uuid]))
    headers = {"X-CSRFToken": page.cookies["csrftoken"].value} if with_token else {}
    response = client.post(
        reverse("provisioning:device-settings", args=[server.uuid]),
        {"hostname": "renamed"},
        headers=headers,
    )
    assert response.status_code == (302 if with_token else 403)
    server.refresh_from_db()
    assert (server.hostname == "renamed") is with_token
