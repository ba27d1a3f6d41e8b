"""Device lists cost a fixed number of queries whatever the number of rows, includes and all
(the platform benchmark runs GET /projects/{id}/devices?per_page=100 over 10,000 devices)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.inventory import factories as inv

pytestmark = pytest.mark.django_db


def _count(client, url, params) -> int:
    client.get(url, params)  # the key's first use records last_used_at once
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize(
    "params",
    [{}, {"include": "project,ssh_keys"}, {"exclude": "plan,facility"}, {"tag": "x"}],
    ids=["plain", "include", "exclude", "filtered"],
)
@pytest.mark.parametrize("scope", ["project", "organization"])
def test_device_lists_are_constant(api, world, deploy, catalogue, params, scope):
    client = api(world.tokens["alice"])
    url = (
        f"/metal/v1/projects/{world.web.uuid}/devices"
        if scope == "project"
        else f"/metal/v1/organizations/{world.acme.uuid}/devices"
    )
    deploy(world.web, world.alice, tags=["x"])
    one = _count(client, url, {**params, "per_page": 100})
    for _ in range(6):
        inv.make_machine(catalogue.sv15, catalogue.small)
    for _ in range(8):
        deploy(world.web, world.alice, tags=["x"])
    many = _count(client, url, {**params, "per_page": 100})
    assert many == one
    # Plan, metro, facility (and its metro) and OS are prefetched once per page, not joined.
    assert one <= 21


def test_device_events_and_batches_are_constant(api, world, deploy, catalogue):
    client = api(world.tokens["alice"])
    device = deploy(world.web, world.alice)
    events_url = f"/metal/v1/devices/{device.uuid}/events"
    batches_url = f"/metal/v1/projects/{world.web.uuid}/batches"
    client.post(
        f"/metal/v1/projects/{world.web.uuid}/devices/batch",
        {"batches": [{"plan": "c3.small.x86", "metro": "sv", "operating_system": "ubuntu_24_04"}]},
        format="json",
    )
    one_events, one_batches = _count(client, events_url, {}), _count(client, batches_url, {})
    for _ in range(4):
        client.post(f"/metal/v1/devices/{device.uuid}/actions", {"type": "reboot"}, format="json")
        device.operations.update(state="succeeded")
        device.__class__.objects.filter(pk=device.pk).update(state="active")
    for _ in range(3):
        inv.make_machine(catalogue.sv15, catalogue.small)
    client.post(
        f"/metal/v1/projects/{world.web.uuid}/devices/batch",
        {
            "batches": [
                {"plan": "c3.small.x86", "metro": "sv", "operating_system": "ubuntu_24_04"},
                {
                    "plan": "c3.small.x86",
                    "metro": "sv",
                    "operating_system": "ubuntu_24_04",
                    "quantity": 2,
                },
            ]
        },
        format="json",
    )
    assert _count(client, events_url, {}) == one_events
    assert _count(client, batches_url, {"include": "devices"}) == _count(
        client, batches_url, {"include": "devices"}
    )
    assert _count(client, batches_url, {}) == one_batches


def test_one_device_is_read_once(api, world, deploy):
    # Found among the visible devices and loaded for rendering by the same query.
    client = api(world.tokens["alice"])
    device = deploy(world.web, world.alice)
    url = f"/metal/v1/devices/{device.uuid}"
    client.get(url)  # the key's first use records last_used_at once
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"include": "project"})
    assert response.status_code == 200
    assert response.json()["project"]["id"] == str(world.web.uuid)
    reads = [q["sql"] for q in queries if 'FROM "provisioning_device" ' in q["sql"]]
    assert len(reads) == 1, reads
