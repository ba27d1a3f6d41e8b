"""Project IP reservations: request, list, read, update, release, and the free subnets inside
one. The reservation shape must resolve the SDK's oneOf to IPReservation: `type` present,
`assigned_to` absent."""

import pytest

from inventory import services
from inventory.models import IPReservation
from portal.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_api(api, world):
    return api(world.tokens["alice"])


def _reserve(client, project, **body):
    body = {"type": "public_ipv4", "quantity": 4, "metro": "sv", **body}
    return client.post(f"/metal/v1/projects/{project.uuid}/ips", body, format="json")


def test_reserve_public_ipv4(alice_api, world, catalogue):
    response = _reserve(
        alice_api,
        world.web,
        details="frontends",
        comments="for the load balancers",
        tags=["lb", "prod"],
        customdata={"team": "edge"},
        fail_on_approval_required=True,
    )
    assert response.status_code == 201, response.content
    ip = response.json()
    reservation = IPReservation.objects.get(uuid=ip["id"])
    assert reservation.comments == "for the load balancers"
    assert ip["href"] == f"/metal/v1/ips/{reservation.uuid}"
    assert ip["type"] == "public_ipv4"
    assert "assigned_to" not in ip
    assert (ip["network"], ip["address"], ip["cidr"]) == ("198.51.100.0", "198.51.100.0", 30)
    assert ip["netmask"] == "255.255.255.252"
    assert ip["gateway"] == "198.51.100.1"
    assert ip["address_family"] == 4
    assert ip["public"] is True
    assert ip["global_ip"] is False
    assert ip["management"] is False
    assert ip["manageable"] is True
    assert ip["metro"]["href"] == f"/metal/v1/locations/metros/{catalogue.sv.uuid}"
    assert ip["metro"]["code"] == "sv"
    assert "facility" not in ip  # a metro-wide reservation
    assert ip["project"] == {"href": f"/metal/v1/projects/{world.web.uuid}"}
    assert ip["project_lite"] == {"href": f"/metal/v1/projects/{world.web.uuid}"}
    assert ip["assignments"] == []
    assert ip["available"] == f"/metal/v1/ips/{reservation.uuid}/available"
    assert ip["state"] == "created"
    assert ip["tags"] == ["lb", "prod"]
    assert ip["customdata"] == {"team": "edge"}
    assert ip["details"] == "frontends"
    assert ip["created_at"].endswith("Z")
    assert Event.objects.filter(type="ip.reserved", project=world.web).count() == 1


def test_reservations_never_overlap(alice_api, world, catalogue):
    first = _reserve(alice_api, world.web).json()
    second = _reserve(alice_api, world.ops, quantity=8).json()
    third = _reserve(alice_api, world.web, quantity=1).json()
    assert [(r["network"], r["cidr"]) for r in (first, second, third)] == [
        ("198.51.100.0", 30),
        ("198.51.100.8", 29),
        ("198.51.100.4", 32),
    ]


def test_reserve_other_kinds(alice_api, world, catalogue):
    v6 = _reserve(alice_api, world.web, type="public_ipv6", quantity=1).json()
    assert (v6["address_family"], v6["cidr"], v6["network"]) == (6, 56, "2001:db8::")
    assert v6["gateway"] == "2001:db8::1"
    private = _reserve(alice_api, world.web, type="private_ipv4", quantity=2).json()
    assert (private["public"], private["cidr"], private["gateway"]) == (False, 31, "10.10.0.0")
    global_ = _reserve(alice_api, world.web, type="global_ipv4", quantity=1, metro=None).json()
    assert (global_["type"], global_["global_ip"], global_["network"]) == (
        "global_ipv4",
        True,
        "203.0.113.0",
    )
    assert "metro" not in global_  # global space belongs to no metro


def test_reserve_in_a_facility(alice_api, world, catalogue):
    response = _reserve(alice_api, world.web, metro=None, facility=str(catalogue.sv16.uuid))
    assert response.status_code == 201
    ip = response.json()
    assert ip["facility"]["code"] == "sv16"
    assert ip["facility"]["metro"]["code"] == "sv"
    assert ip["metro"]["code"] == "sv"
    assert IPReservation.objects.get(uuid=ip["id"]).facility == catalogue.sv16
    # The facility's own block comes before the metro-wide one, on every database.
    assert ip["network"] == "192.0.2.0"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"type": "vrf"}, "type:"),
        ({"quantity": None}, "quantity:"),
        ({"quantity": 0}, "quantity:"),
        ({"quantity": 3}, "quantity: quantity must be a power of two"),
        ({"quantity": 64}, "quantity: A public_ipv4 reservation holds 1 to 16 addresses."),
        ({"metro": "zz"}, "metro: Unknown metro."),
        ({"metro": None}, "metro: Choose a metro for the reservation."),
        ({"facility": "nope"}, "facility: Unknown facility."),
        ({"facility": "ny5"}, "facility: Not in metro sv."),
        ({"customdata": ["x"]}, "customdata: Must be a JSON object."),
        ({"metro": "ny"}, "No public ipv4 space left for 1 × /30 in ny."),
    ],
)
def test_reserve_rejects(alice_api, world, catalogue, body, error):
    response = _reserve(alice_api, world.web, **body)
    assert response.status_code == 422
    assert response.json()["errors"][0].startswith(error), response.json()
    assert not IPReservation.objects.exists()


def test_packet_python_nulls_are_accepted(alice_api, world, catalogue):
    response = _reserve(alice_api, world.web, details=None, comments=None, tags=[])
    assert response.status_code == 201
    assert response.json()["details"] == ""


def test_list_is_paged_250_and_filters_by_type(alice_api, world, catalogue):
    v4 = _reserve(alice_api, world.web).json()
    v6 = _reserve(alice_api, world.web, type="public_ipv6", quantity=1).json()
    private = _reserve(alice_api, world.web, type="private_ipv4", quantity=1).json()
    _reserve(alice_api, world.ops)
    url = f"/metal/v1/projects/{world.web.uuid}/ips"
    body = alice_api.get(url).json()
    assert [ip["id"] for ip in body["ip_addresses"]] == [private["id"], v6["id"], v4["id"]]
    assert body["meta"]["total"] == 3
    assert body["meta"]["next"] is None
    assert "per_page=250" in body["meta"]["self"]["href"]
    only = alice_api.get(f"{url}?types=public_ipv6,private_ipv4").json()["ip_addresses"]
    assert {ip["type"] for ip in only} == {"public_ipv6", "private_ipv4"}
    repeated = alice_api.get(f"{url}?types=public_ipv4&types=public_ipv6").json()["ip_addresses"]
    assert {ip["type"] for ip in repeated} == {"public_ipv4", "public_ipv6"}
    paged = alice_api.get(f"{url}?per_page=2&page=2").json()
    assert [ip["id"] for ip in paged["ip_addresses"]] == [v4["id"]]
    assert paged["meta"]["last_page"] == 2


def test_get_with_includes(alice_api, world, catalogue):
    ip = _reserve(alice_api, world.web, metro=None, facility="sv16").json()
    got = alice_api.get(f"/metal/v1/ips/{ip['id']}?include=project.organization").json()
    assert got["project"]["name"] == "web"
    assert got["project"]["organization"]["name"] == "Acme"
    collapsed = alice_api.get(f"/metal/v1/ips/{ip['id']}?exclude=facility,metro").json()
    assert collapsed["facility"] == {"href": f"/metal/v1/facilities/{catalogue.sv16.uuid}"}
    assert collapsed["metro"] == {"href": f"/metal/v1/locations/metros/{catalogue.sv.uuid}"}


def test_update(alice_api, world, catalogue):
    ip = _reserve(alice_api, world.web, tags=["a"], details="old").json()
    response = alice_api.patch(
        f"/metal/v1/ips/{ip['id']}",
        {"details": "new", "tags": ["b", "c"], "customdata": {"k": 1}},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["details"], response.json()["tags"]) == ("new", ["b", "c"])
    stored = IPReservation.objects.get(uuid=ip["id"])
    assert (stored.details, stored.tags, stored.customdata) == ("new", ["b", "c"], {"k": 1})
    # Fields left out stay as they are.
    alice_api.patch(f"/metal/v1/ips/{ip['id']}", {"details": "newer"}, format="json")
    stored.refresh_from_db()
    assert (stored.details, stored.tags) == ("newer", ["b", "c"])
    assert Event.objects.filter(type="ip.updated").count() == 2
    bad = alice_api.patch(f"/metal/v1/ips/{ip['id']}", {"customdata": "x"}, format="json")
    assert bad.status_code == 422


def test_release_frees_the_subnet(alice_api, world, catalogue):
    ip = _reserve(alice_api, world.web).json()
    response = alice_api.delete(f"/metal/v1/ips/{ip['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert alice_api.get(f"/metal/v1/ips/{ip['id']}").status_code == 404
    assert _reserve(alice_api, world.web).json()["network"] == "198.51.100.0"
    assert Event.objects.filter(type="ip.released").count() == 1


def test_a_servers_own_addresses_are_not_released_here(alice_api, world, catalogue):
    [management] = services.allocate_subnets(
        kind="public_ipv4",
        prefix_length=31,
        count=1,
        project=world.web,
        metro=catalogue.sv,
        management=True,
    )
    got = alice_api.get(f"/metal/v1/ips/{management.uuid}").json()
    assert (got["management"], got["manageable"]) == (True, False)
    response = alice_api.delete(f"/metal/v1/ips/{management.uuid}")
    assert response.status_code == 422
    assert IPReservation.objects.filter(pk=management.pk).exists()


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        (30, ["198.51.100.0/30"]),
        (31, ["198.51.100.0/31", "198.51.100.2/31"]),
        (32, [f"198.51.100.{n}/32" for n in range(4)]),
    ],
)
def test_available_subnets(alice_api, world, catalogue, cidr, expected):
    ip = _reserve(alice_api, world.web).json()
    response = alice_api.get(f"/metal/v1/ips/{ip['id']}/available?cidr={cidr}")
    assert response.status_code == 200
    assert response.json() == {"available": expected}


def test_available_ipv6_is_capped(alice_api, world, catalogue):
    ip = _reserve(alice_api, world.web, type="public_ipv6", quantity=1).json()
    sixty_fours = alice_api.get(f"/metal/v1/ips/{ip['id']}/available?cidr=64").json()
    assert len(sixty_fours["available"]) == 256
    assert sixty_fours["available"][:2] == ["2001:db8::/64", "2001:db8:0:1::/64"]
    hosts = alice_api.get(f"/metal/v1/ips/{ip['id']}/available?cidr=128").json()
    assert len(hosts["available"]) == 1024
    assert hosts["available"][-1] == "2001:db8::3ff/128"


@pytest.mark.parametrize("query", ["", "?cidr=", "?cidr=29", "?cidr=33", "?cidr=x"])
def test_available_rejects_bad_sizes(alice_api, world, catalogue, query):
    ip = _reserve(alice_api, world.web).json()
    response = alice_api.get(f"/metal/v1/ips/{ip['id']}/available{query}")
    assert response.status_code == 422
    assert response.json()["errors"][0].startswith("cidr:")
