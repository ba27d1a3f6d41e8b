"""What an outside probe found (issue 14): page numbers, nesting and sizes that were 500s or
Django's HTML 400 are refused in Metal's `{"errors": [...]}` shape, on every endpoint."""

import pytest

from tests.devices_api.conftest import catalogue, deploy, world

__all__ = ["catalogue", "deploy", "world"]

pytestmark = pytest.mark.django_db


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
