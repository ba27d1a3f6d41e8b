"""One device filter for both doors: the servers page and the Metal API find the same servers
for the same search, tag, state and plan (provisioning.filters)."""

import ipaddress
import json
import re

import pytest
from django.urls import reverse

from portal import services as portal_services
from provisioning import services
from provisioning.models import Device
from tests.provisioning.factories import make_site, request_for


@pytest.fixture
def fleet(web, alice, django_capture_on_commit_callbacks):
    site = make_site(machines=4)
    made = {}
    for hostname, tags, description in (
        ("web-01", ["web", "prod"], "front door"),
        ("web-02", ["webserver"], ""),
        ("db-01", ["db", "prod"], "the web's data"),
    ):
        [made[hostname]] = services.create_devices(
            project=web,
            acting_user=alice,
            request=request_for(*site, hostnames=[hostname], tags=tags, description=description),
        )
    Device.objects.filter(pk=made["db-01"].pk).update(state="active")
    return made


def _address(device) -> str:
    network = device.ip_assignments.filter(public=False).get().network
    return str(ipaddress.ip_network(network).network_address)


def page_hostnames(client, web, **query) -> set[str]:
    page = client.get(reverse("provisioning:devices", args=[web.uuid]), query).content.decode()
    return set(re.findall(r'aria-label="Select ([^"]+)"', page)) - {"all servers on this page"}


def api_hostnames(client, web, token, **query) -> set[str]:
    response = client.get(f"/metal/v1/projects/{web.uuid}/devices", query, HTTP_X_AUTH_TOKEN=token)
    assert response.status_code == 200, response.content
    return {device["hostname"] for device in json.loads(response.content)["devices"]}


def test_the_page_and_the_api_find_the_same_servers(client, web, alice, fleet):
    _, token = portal_services.create_api_key(acting_user=alice, description="filters")
    client.force_login(alice)
    db_address = _address(fleet["db-01"])
    cases = [
        ({"q": "web"}, {"search": "web"}, {"web-01", "web-02", "db-01"}),  # description too
        ({"q": "WEB-0"}, {"search": "WEB-0"}, {"web-01", "web-02"}),
        ({"q": db_address}, {"search": db_address}, {"db-01"}),  # an address of the server
        ({"tag": "web"}, {"tag": "web"}, {"web-01"}),  # exactly: not "webserver"
        ({"tag": "prod"}, {"tag": "prod"}, {"web-01", "db-01"}),
        ({"state": "active"}, {"state": "active"}, {"db-01"}),
        ({"plan": "c3.small.x86", "tag": "db"}, {"plan": "c3.small.x86", "tag": "db"}, {"db-01"}),
    ]
    for page_query, api_query, expected in cases:
        assert page_hostnames(client, web, **page_query) == expected, page_query
        assert api_hostnames(client, web, token, **api_query) == expected, api_query
