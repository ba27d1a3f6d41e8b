"""Capacity: the per-metro and per-facility reports and the deploy checks (metro, and the
legacy facility form packet-python still sends)."""

import pytest

from tests import factories
from tests.inventory import factories as inv

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_api(api, world):
    return api(world.tokens["alice"])


def test_metro_report_counts_available_machines(alice_api, catalogue):
    body = alice_api.get("/metal/v1/capacity/metros").json()
    # sv: three available c3 in sv15 and one in sv16 (the in-use one does not count).
    assert body["capacity"]["sv"]["c3.small.x86"] == {"level": "limited", "available_servers": 4}
    assert body["capacity"]["sv"]["m3.large.x86"] == {
        "level": "unavailable",
        "available_servers": 0,
    }
    assert body["capacity"]["ny"] == {
        "c3.small.x86": {"level": "unavailable", "available_servers": 0},
        "s3.xlarge.x86": {"level": "limited", "available_servers": 1},
    }
    assert "t1.small.x86" not in body["capacity"]["sv"]  # retired


def test_metro_report_level_follows_the_threshold(alice_api, catalogue, settings):
    settings.CAPACITY_LIMITED_THRESHOLD = 3
    entry = alice_api.get("/metal/v1/capacity/metros").json()["capacity"]["sv"]["c3.small.x86"]
    assert entry == {"level": "normal", "available_servers": 4}


def test_facility_report_is_level_only(alice_api, catalogue):
    body = alice_api.get("/metal/v1/capacity").json()
    assert body["capacity"]["sv15"] == {
        "c3.small.x86": {"level": "limited"},
        "m3.large.x86": {"level": "unavailable"},
    }
    assert set(body["capacity"]) == {"sv15", "sv16", "ny5"}


@pytest.mark.parametrize("legacy", ["include", "exclude"])
def test_facility_report_accepts_legacy(alice_api, catalogue, legacy):
    plain = alice_api.get("/metal/v1/capacity").json()
    assert alice_api.get(f"/metal/v1/capacity?legacy={legacy}").json() == plain


def test_legacy_only_is_empty_because_no_plan_is_legacy(alice_api, catalogue):
    assert alice_api.get("/metal/v1/capacity?legacy=only").json() == {"capacity": {}}


def test_unknown_legacy_mode_is_422(alice_api, catalogue):
    assert alice_api.get("/metal/v1/capacity?legacy=maybe").status_code == 422


def test_metro_check(alice_api, catalogue):
    c = catalogue
    response = alice_api.post(
        "/metal/v1/capacity/metros",
        {
            "servers": [
                {"metro": "sv", "plan": "c3.small.x86", "quantity": "4"},
                {"metro": "sv", "plan": "c3.small.x86", "quantity": 5},
                {"metro": str(c.ny.uuid), "plan": str(c.storage.uuid), "quantity": 1},
                {"metro": "ny", "plan": "c3.small.x86", "quantity": "1"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "servers": [
            {"metro": "sv", "plan": "c3.small.x86", "quantity": "4", "available": True},
            {"metro": "sv", "plan": "c3.small.x86", "quantity": "5", "available": False},
            {
                "metro": str(c.ny.uuid),
                "plan": str(c.storage.uuid),
                "quantity": "1",
                "available": True,
            },
            {"metro": "ny", "plan": "c3.small.x86", "quantity": "1", "available": False},
        ]
    }


def test_metro_check_sees_machines_come_and_go(alice_api, catalogue):
    check = {"servers": [{"metro": "ny", "plan": "s3.xlarge.x86", "quantity": 2}]}
    before = alice_api.post("/metal/v1/capacity/metros", check, format="json").json()
    inv.make_machine(catalogue.ny5, catalogue.storage)
    after = alice_api.post("/metal/v1/capacity/metros", check, format="json").json()
    assert [before["servers"][0]["available"], after["servers"][0]["available"]] == [False, True]


@pytest.mark.parametrize(
    ("server", "error"),
    [
        ({"metro": "zz", "plan": "c3.small.x86", "quantity": 1}, "servers.0.metro: Unknown metro."),
        ({"metro": "sv", "plan": "nope", "quantity": 1}, "servers.0.plan: Unknown plan."),
        ({"metro": "sv", "plan": "t1.small.x86", "quantity": 1}, "servers.0.plan: Unknown plan."),
        ({"metro": "sv", "plan": "c3.small.x86", "quantity": "two"}, "servers.0.quantity:"),
        ({"metro": "sv", "plan": "c3.small.x86", "quantity": 0}, "servers.0.quantity:"),
        ({"plan": "c3.small.x86", "quantity": 1}, "servers.0.metro: This field is required."),
        ({"metro": "sv", "quantity": 1}, "servers.0.plan: This field is required."),
    ],
)
def test_metro_check_rejects_bad_servers(alice_api, catalogue, server, error):
    response = alice_api.post("/metal/v1/capacity/metros", {"servers": [server]}, format="json")
    assert response.status_code == 422
    assert response.json()["errors"][0].startswith(error)


def test_metro_check_needs_servers(alice_api, catalogue):
    for body in ({}, {"servers": []}):
        response = alice_api.post("/metal/v1/capacity/metros", body, format="json")
        assert response.status_code == 422


def test_legacy_facility_check(alice_api, catalogue):
    response = alice_api.post(
        "/metal/v1/capacity",
        {
            "servers": [
                {"facility": "sv15", "plan": "c3.small.x86", "quantity": 3},
                {"facility": "sv16", "plan": "c3.small.x86", "quantity": 2},
            ]
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["servers"] == [
        {"facility": "sv15", "plan": "c3.small.x86", "quantity": "3", "available": True},
        {"facility": "sv16", "plan": "c3.small.x86", "quantity": "2", "available": False},
    ]
    unknown = alice_api.post(
        "/metal/v1/capacity",
        {"servers": [{"facility": "sv", "plan": "c3.small.x86", "quantity": 1}]},
        format="json",
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == ["servers.0.facility: Unknown facility."]


def test_a_read_only_key_may_check_capacity(api, world, catalogue):
    client = api(factories.make_token(world.alice, read_only=True))
    check = {"servers": [{"metro": "sv", "plan": "c3.small.x86", "quantity": 1}]}
    assert client.post("/metal/v1/capacity/metros", check, format="json").status_code == 200
    legacy = {"servers": [{"facility": "sv15", "plan": "c3.small.x86", "quantity": 1}]}
    assert client.post("/metal/v1/capacity", legacy, format="json").status_code == 200
