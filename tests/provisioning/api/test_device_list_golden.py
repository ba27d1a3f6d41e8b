"""The device list, byte for byte: what `GET /metal/v1/projects/{id}/devices` renders for a
fixture fleet, under every include/exclude the clients send, against renderings kept in
golden/ (taken from the serializer the list was first rendered with). Any change to a byte a
client reads shows here. `IRONYARD_WRITE_GOLDEN=1` rewrites them (then read the diff)."""

import os
from pathlib import Path

import pytest
from django.db import connection

from portal import services as portal_services
from tests.provisioning.api import fleet

GOLDEN = Path(__file__).with_name("golden")
QUERIES = {
    "default": "",
    "include-project": "include=project",
    "include-ssh-keys": "include=ssh_keys",
    "include-project-ssh-keys": "include=project,ssh_keys",
    "include-project-organization": "include=project.organization",
    "exclude-catalogue": "exclude=plan,metro,facility,operating_system",
    "exclude-plan": "exclude=plan",
    "include-and-exclude": "include=ssh_keys&exclude=operating_system",
    "paged": "per_page=2&page=2",
    "last-page": "per_page=2&page=3",
}


@pytest.fixture
def rendered(client, db):
    """name → the list's bytes for each query (on PostgreSQL, where they were taken: its jsonb
    orders a document's keys its own way, SQLite keeps them as written)."""
    if connection.vendor != "postgresql":
        pytest.skip("the golden renderings are PostgreSQL's: set DATABASE_URL=postgres://…")
    with fleet.frozen():
        built = fleet.build()
        _, token = portal_services.create_api_key(acting_user=built.owner, description="golden")
        url = f"/metal/v1/projects/{built.project.uuid}/devices"
        found = {}
        for name, query in QUERIES.items():
            response = client.get(f"{url}?{query}", HTTP_X_AUTH_TOKEN=token)
            assert response.status_code == 200, response.content
            found[name] = response.content
    return found


def test_the_device_list_renders_as_it_always_has(rendered):
    if os.environ.get("IRONYARD_WRITE_GOLDEN"):
        for name, content in rendered.items():
            (GOLDEN / f"devices-{name}.json").write_bytes(content)
    mismatched = [
        name
        for name, content in rendered.items()
        if (GOLDEN / f"devices-{name}.json").read_bytes() != content
    ]
    assert mismatched == []


def test_the_golden_renderings_cover_what_they_should():
    """The fleet shows what a list can show, so the comparison above has something to lose."""
    import json

    default = json.loads((GOLDEN / "devices-default.json").read_bytes())
    devices = default["devices"]
    assert {d["state"] for d in devices} == {"active", "provisioning", "inactive", "failed"}
    assert any(d.get("root_password") for d in devices)
    assert any("root_password" not in d for d in devices)
    assert {d["metro"]["code"] for d in devices} == {"sv", "ny"}
    assert all(d["ip_addresses"] for d in devices)
    with_keys = json.loads((GOLDEN / "devices-include-project-ssh-keys.json").read_bytes())
    assert any(k.get("fingerprint") for d in with_keys["devices"] for k in d["ssh_keys"])
    paged = json.loads((GOLDEN / "devices-paged.json").read_bytes())
    assert paged["meta"]["current_page"] == 2 and paged["meta"]["next"]
