"""Regressions for what the fuzzing found: 500s, and responses the Metal spec rejects."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inventory import services as inventory_services
from portal import audit
from portal.models import Project, User
from provisioning.services import create_devices
from tests import factories
from tests.inventory import factories as inv
from tests.provisioning.factories import make_site, request_for

SPEC = json.loads(Path(__file__).with_name("metal-v1.subset.openapi3.json").read_text())


@pytest.mark.parametrize(
    "customdata", [{"note": "a\u0000b"}, {"k\u0000": 1}, {"nested": [{"x": "\u0000"}]}]
)
def test_null_characters_in_customdata_are_a_422(api, alice, acme, customdata):
    # PostgreSQL's jsonb cannot store \u0000: it was a DataError and a 500.
    client = api(factories.make_token(alice))
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    response = client.post(url, {"name": "p", "customdata": customdata}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": ["customdata: Null characters are not allowed."]}
    assert not Project.objects.filter(name="p").exists()


@pytest.mark.parametrize("query", ["hostname=%00", "search=a%00b", "x%00=1"])
def test_null_characters_in_query_parameters_are_a_422(api, alice, acme, query):
    # A filter with NUL reached PostgreSQL ("A string literal cannot contain NUL"): a 500.
    client = api(factories.make_token(alice))
    response = client.get(f"/metal/v1/organizations/{acme.uuid}/devices?{query}")
    assert response.status_code == 422
    assert response.json() == {"errors": ["Query parameters must not contain NUL characters."]}


# Responses the Metal spec rejects (a schemathesis run against the real spec found them; both
# the real and the SDK-patched spec agree on each).


def test_absent_values_are_left_out_never_null(api, alice, acme, web):
    # The spec's dates, `ip`, `modified_by` and `last_login_at` are strings or objects, never
    # null: an OS without lifecycle dates, an event nobody made from nowhere, a user who never
    # logged in all came back with nulls.
    inv.make_os("debian_12")
    audit.record("test.happened", actor=None, text="it happened", project=web)
    client = api(factories.make_token(alice))

    [system] = client.get("/metal/v1/operating-systems").json()["operating_systems"]
    assert system["slug"] == "debian_12"
    dates = {"release_date", "deprecation_date", "end_of_service_date", "end_of_life_date"}
    assert not dates & set(system)
    event = client.get(f"/metal/v1/projects/{web.uuid}/events").json()["events"][0]
    assert event["type"] == "test.happened"
    assert "ip" not in event and "modified_by" not in event
    user = client.get("/metal/v1/user").json()
    assert "last_login_at" not in user

    User.objects.filter(pk=alice.pk).update(last_login=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    user = api(factories.make_token(alice)).get("/metal/v1/user").json()
    assert user["last_login_at"] == "2030-01-02T03:04:05Z"


def test_paging_leaves_out_previous_on_the_first_page_but_keeps_next_null(api, alice, acme):
    # `previous: null` breaks the spec's Meta (an Href); `next: null` stays, because
    # packet-python's list_all_devices reads meta["next"] and stops on None.
    for n in range(3):
        factories.make_project(acme, f"p{n}")
    client = api(factories.make_token(alice))
    first = client.get("/metal/v1/projects", {"per_page": 2}).json()["meta"]
    assert "previous" not in first
    assert first["next"] == {"href": "/metal/v1/projects?page=2&per_page=2"}
    last = client.get("/metal/v1/projects", {"per_page": 2, "page": 3}).json()["meta"]
    assert last["previous"] == {"href": "/metal/v1/projects?page=2&per_page=2"}
    assert "next" in last and last["next"] is None


def test_ip_reservations_carry_only_the_specs_properties(api, alice, web):
    # The spec's IPReservation has additionalProperties: false; `updated_at` broke it.
    metro, _, _ = make_site(machines=0)
    reservation = inventory_services.reserve_ips(
        project=web, acting_user=alice, kind="public_ipv4", quantity=4, metro=metro
    )
    client = api(factories.make_token(alice))
    body = client.get(f"/metal/v1/ips/{reservation.uuid}").json()
    allowed = set(SPEC["components"]["schemas"]["IPReservation"]["properties"])
    assert body["type"] == "public_ipv4"
    assert set(body) <= allowed, set(body) - allowed
    [listed] = client.get(f"/metal/v1/projects/{web.uuid}/ips").json()["ip_addresses"]
    assert set(listed) <= allowed, set(listed) - allowed


@pytest.fixture
def assignment(alice, web):
    """One of a fresh device's own addresses."""
    [device] = create_devices(project=web, acting_user=alice, request=request_for(*make_site()))
    return device.ip_assignments.order_by("pk").first()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_an_assignment_answers_the_update_of_ips_id(api, alice, assignment, method):
    # The spec has PATCH /ips/{id} for any IP id; an assignment's id answered 405 (and PUT,
    # which Metal's Rails routes took as PATCH, answered 405 too while a reservation took it).
    client = api(factories.make_token(alice))
    url = f"/metal/v1/ips/{assignment.uuid}"
    response = getattr(client, method)(url, {}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == str(assignment.uuid)
    assert response.json()["assigned_to"] == {"href": f"/metal/v1/devices/{assignment.device.uuid}"}

    # An assignment has no description, tags or custom data: refused, never dropped unsaid.
    refused = getattr(client, method)(url, {"details": "x", "tags": ["a"]}, format="json")
    assert refused.status_code == 422
    assert refused.json() == {
        "errors": [
            "An IP assignment has no details or tags of its own; set them on its reservation, "
            f"/metal/v1/ips/{assignment.reservation.uuid}."
        ]
    }


def test_only_project_managers_update_an_assignment(api, lena, charlie, assignment):
    url = f"/metal/v1/ips/{assignment.uuid}"
    assert api().patch(url, {}, format="json").status_code == 401
    assert api(factories.make_token(charlie)).patch(url, {}, format="json").status_code == 404
    assert api(factories.make_token(lena)).patch(url, {}, format="json").status_code == 403
