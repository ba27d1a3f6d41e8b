"""What an outside probe found (issue 14): page numbers, nesting and sizes that were 500s or
Django's HTML 400 are refused in Metal's `{"errors": [...]}` shape, on every endpoint."""

import json

import pytest

from inventory import services as inventory_services
from inventory.models import Metro
from portal import limits
from portal.api.parsers import MAX_BODY_DEPTH
from portal.models import Project
from provisioning.models import Device
from tests.provisioning.api.conftest import catalogue, deploy, world

__all__ = ["catalogue", "deploy", "world"]

pytestmark = pytest.mark.django_db

CREATE_DEVICE = {"plan": "c3.small.x86", "operating_system": "ubuntu_24_04", "metro": "sv"}
RESERVE_IPS = {"type": "public_ipv4", "quantity": 4, "metro": "sv"}


@pytest.fixture
def as_alice(api, world):
    return api(world.tokens["alice"])


@pytest.fixture
def device(world, deploy):
    return deploy(world.web, world.alice)


def paged_lists(world, device) -> list[str]:
    """Every list that takes ?page."""
    acme, web = world.acme.uuid, world.web.uuid
    return [
        "/users",
        "/organizations",
        "/projects",
        "/invitations",
        "/events",
        f"/organizations/{acme}/projects",
        f"/organizations/{acme}/invitations",
        f"/organizations/{acme}/events",
        f"/organizations/{acme}/devices",
        f"/organizations/{acme}/invoices",
        f"/projects/{web}/memberships",
        f"/projects/{web}/invitations",
        f"/projects/{web}/events",
        f"/projects/{web}/devices",
        f"/projects/{web}/ips",
        f"/devices/{device.uuid}/events",
    ]


def test_every_paged_list_refuses_pages_past_metals_maximum(as_alice, world, device):
    for path in paged_lists(world, device):
        url = "/metal/v1" + path
        # The first was a 500: its row offset outgrew PostgreSQL's bigint.
        for page in ("99999999999999999999", "100001"):
            response = as_alice.get(url, {"page": page})
            assert response.status_code == 422, (url, response.content)
            assert response.json() == {"errors": ["page: Must be at most 100000."]}
        last = as_alice.get(url, {"page": 100000})
        assert last.status_code == 200, (url, last.content)
        assert last.json()["meta"]["current_page"] == 100000
        assert last.json()["meta"]["next"] is None


def writes(world, device) -> list[tuple[str, str, dict]]:
    """(method, path, the rest of a valid body) of every write that stores tags or customdata."""
    acme, web = world.acme.uuid, world.web.uuid
    reservation = alice_reservation(world)
    return [
        ("POST", "/projects", {"name": "p"}),
        ("PUT", f"/projects/{web}", {}),
        ("POST", f"/organizations/{acme}/projects", {"name": "p"}),
        ("POST", "/organizations", {"name": "o"}),
        ("PUT", f"/organizations/{acme}", {}),
        ("POST", f"/projects/{web}/devices", {**CREATE_DEVICE, "hostname": "new"}),
        ("PUT", f"/devices/{device.uuid}", {}),
        ("POST", f"/projects/{web}/ips", RESERVE_IPS),
        ("PATCH", f"/ips/{reservation}", {}),
        ("POST", "/ssh-keys", {"label": "k", "key": world.alice_ssh_key.key}),
        ("PUT", f"/ssh-keys/{world.alice_ssh_key.uuid}", {}),
        ("POST", f"/projects/{web}/ssh-keys", {"label": "k", "key": world.web_ssh_key.key}),
    ]


def alice_reservation(world):
    return inventory_services.reserve_ips(
        project=world.web,
        acting_user=world.alice,
        kind="public_ipv4",
        quantity=4,
        metro=Metro.objects.get(code="sv"),
    ).uuid


DEEP_CUSTOMDATA = json.loads('{"a":' * limits.MAX_JSON_DEPTH + "{}" + "}" * limits.MAX_JSON_DEPTH)
BIG_CUSTOMDATA = {"k": "x" * limits.MAX_CUSTOMDATA_BYTES}


def _refused(client, method, path, body) -> list[str]:
    response = client.generic(method, "/metal/v1" + path, json.dumps(body), "application/json")
    assert response.status_code == 422, (method, path, response.content[:300])
    return response.json()["errors"]


def test_customdata_too_deep_or_too_big_is_a_422_everywhere(as_alice, world, device):
    projects, devices = Project.objects.count(), Device.objects.count()
    for method, path, body in writes(world, device):
        if "ssh-keys" in path:
            continue  # SSH keys carry no customdata
        assert _refused(as_alice, method, path, {**body, "customdata": DEEP_CUSTOMDATA}) == [
            "customdata: Must not nest more than 32 levels deep."
        ]
        assert _refused(as_alice, method, path, {**body, "customdata": BIG_CUSTOMDATA}) == [
            "customdata: Must be at most 64 KiB as JSON."
        ]
    assert (Project.objects.count(), Device.objects.count()) == (projects, devices)


def test_customdata_a_database_cannot_store_is_a_422(as_alice, device):
    # A lone surrogate has no UTF-8 form: PostgreSQL's jsonb refused it (a 500).
    body = '{"customdata": {"note": "a\\ud800b"}}'
    response = as_alice.generic("PUT", f"/metal/v1/devices/{device.uuid}", body, "application/json")
    assert response.status_code == 422
    assert response.json() == {"errors": ["customdata: Surrogate characters are not allowed."]}


def test_an_organization_website_longer_than_its_column_is_a_422(as_alice, world):
    # PostgreSQL refused it: a 500.
    website = "https://example.com/" + "a" * 200
    for method, path in [("POST", "/organizations"), ("PUT", f"/organizations/{world.acme.uuid}")]:
        assert _refused(as_alice, method, path, {"name": "o", "website": website}) == [
            "website: Must be at most 200 characters."
        ]


def test_too_many_or_too_long_tags_are_a_422_everywhere(as_alice, world, device):
    many = [f"t{n}" for n in range(limits.MAX_TAGS + 1)]
    long = ["x" * (limits.MAX_TAG_LENGTH + 1)]
    for method, path, body in writes(world, device):
        if "organizations" in path and "projects" not in path:
            continue  # organizations carry no tags
        assert _refused(as_alice, method, path, {**body, "tags": many}) == [
            "tags: At most 100 tags."
        ]
        assert _refused(as_alice, method, path, {**body, "tags": long}) == [
            "tags: Tags are at most 255 characters."
        ]


def test_a_hundred_tags_of_255_characters_are_kept(as_alice, world, device):
    tags = [f"{n:03}".ljust(limits.MAX_TAG_LENGTH, "x") for n in range(limits.MAX_TAGS)]
    response = as_alice.put(f"/metal/v1/devices/{device.uuid}", {"tags": tags}, "json")
    assert response.status_code == 200
    assert response.json()["tags"] == tags


def test_user_data_over_64_kib_is_a_422(as_alice, world, device):
    userdata = "#!/bin/sh\n" + "#" * limits.MAX_USERDATA_BYTES
    create = {**CREATE_DEVICE, "hostname": "new", "userdata": userdata}
    assert _refused(as_alice, "POST", f"/projects/{world.web.uuid}/devices", create) == [
        "userdata: User data is limited to 64 KiB."
    ]
    assert _refused(as_alice, "PUT", f"/devices/{device.uuid}", {"userdata": userdata}) == [
        "userdata: User data is limited to 64 KiB."
    ]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_cloud_config_nested_too_deep_to_parse_is_a_422(as_alice):
    # PyYAML recursed out (a 500) on a few hundred nested brackets.
    userdata = "#cloud-config\nruncmd: " + nested(1000)
    assert _refused(as_alice, "POST", "/userdata/validate", {"userdata": userdata}) == [
        "userdata: This #cloud-config is nested too deeply."
    ]


TOO_DEEP_BODY = f"JSON parse error - the body nests more than {MAX_BODY_DEPTH} levels deep."


@pytest.mark.parametrize(
    "body",
    [
        # The JSON decoder itself ran out of recursion: a RecursionError and a 500.
        '{"customdata": ' + nested(100_000) + "}",
        # Parsed, then a 500 in whatever walked it recursively next.
        '{"customdata": ' + '{"a":' * 900 + "1" + "}" * 900 + "}",
        # Just past the limit.
        nested(MAX_BODY_DEPTH + 1),
    ],
    ids=["100k-deep", "900-deep-customdata", "limit+1"],
)
def test_bodies_nested_too_deep_are_a_422(api, world, device, body):
    client = api(world.tokens["alice"], HTTP_IDEMPOTENCY_KEY="deep")
    for method, path in [
        ("PUT", f"/devices/{device.uuid}"),
        ("POST", f"/organizations/{world.acme.uuid}/projects"),  # with an idempotency key
    ]:
        response = client.generic(method, "/metal/v1" + path, body, "application/json")
        assert response.status_code == 422, (path, response.content[:200])
        assert response.json() == {"errors": [TOO_DEEP_BODY]}
    assert Device.objects.get(pk=device.pk).customdata == {}


def test_a_body_at_the_depth_limit_parses(as_alice, world):
    # Nested exactly MAX_BODY_DEPTH deep (the body object, customdata, then lists): the
    # service, not the parser, refuses customdata this deep.
    customdata = {"a": json.loads(nested(MAX_BODY_DEPTH - 2))}
    response = as_alice.post("/metal/v1/projects", {"name": "p", "customdata": customdata}, "json")
    assert response.json() == {
        "errors": [f"customdata: Must not nest more than {limits.MAX_JSON_DEPTH} levels deep."]
    }


def test_bodies_over_the_upload_limit_are_a_413_in_metals_shape(as_alice, world, device, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"description": "x" * 2000})
    response = as_alice.generic("PUT", f"/metal/v1/devices/{device.uuid}", body, "application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"errors": ["The request body is larger than 1000 bytes."]}
