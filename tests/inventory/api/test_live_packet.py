"""packet-python 1.44.3 against the app over HTTPS (it cannot speak plain HTTP): the legacy
client's calls for the catalogue, capacity and IP reservations, including its `//capacity`
paths and the removed /facilities and POST /capacity endpoints."""

import packet
import pytest

from inventory.models import IPReservation

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def manager(tls_live_server, world, catalogue):
    """A packet.Manager for alice, pointed at the TLS live server's /metal/v1."""
    client = packet.Manager(auth_token=world.tokens["alice"])
    client.end_point = f"{tls_live_server.netloc}/metal/v1"
    return client


def test_catalogue(manager, catalogue):
    plans = manager.list_plans()
    assert [p.slug for p in plans] == ["c3.small.x86", "s3.xlarge.x86", "m3.large.x86"]
    assert plans[0].pricing == {"hour": 0.5}
    assert len(plans[0].available_in) == 3
    storage = manager.list_plans(params={"categories[]": "storage"})
    assert [p.slug for p in storage] == ["s3.xlarge.x86"]

    metros = manager.list_metros()
    assert [(m.code, m.name, m.country) for m in metros] == [
        ("ny", "New York", "US"),
        ("sv", "Silicon Valley", "US"),
    ]
    assert metros[1].id == str(catalogue.sv.uuid)

    facilities = manager.list_facilities()
    assert [f.code for f in facilities] == ["ny5", "sv15", "sv16"]
    assert facilities[1].features == ["baremetal", "layer_2"]
    assert facilities[1].address["city"] == "Cupertino"

    systems = manager.list_operating_systems()
    assert [(o.slug, o.distro, o.version) for o in systems] == [
        ("ubuntu_24_04", "ubuntu", "24.04"),
        ("windows_2022", "windows", "2022"),
    ]
    assert systems[0].provisionable_on == ["c3.small.x86", "m3.large.x86"]


def test_capacity(manager):
    # packet-python asks for "//capacity": the server collapses the doubled slash.
    capacity = manager.get_capacity()
    assert capacity["sv15"]["c3.small.x86"] == {"level": "limited"}
    assert manager.get_capacity(legacy="include") == capacity
    assert manager.validate_metro_capacity([("sv", "c3.small.x86", 4)]) is True
    assert manager.validate_metro_capacity([("sv", "c3.small.x86", 5)]) is False
    assert (
        manager.validate_metro_capacity([("sv", "c3.small.x86", 1), ("ny", "s3.xlarge.x86", 2)])
        is False
    )
    assert manager.validate_capacity([("sv15", "c3.small.x86", 3)]) is True
    assert manager.validate_capacity([("sv16", "c3.small.x86", 2)]) is False
    with pytest.raises(packet.baseapi.ResponseError) as unknown:
        manager.validate_metro_capacity([("zz", "c3.small.x86", 1)])
    assert "servers.0.metro: Unknown metro." in str(unknown.value)


def test_ip_reservations(manager, world, catalogue):
    ip = manager.reserve_ip_address(
        str(world.web.uuid), "public_ipv4", 2, metro="sv", details="vip", tags=["lb"]
    )
    assert (ip.network, ip.cidr, ip.address_family, ip.public) == ("198.51.100.0", 31, 4, True)
    assert ip.metro.code == "sv"
    assert ip.assigned_to is None  # a reservation, not an assignment
    legacy = manager.reserve_ip_address(str(world.web.uuid), "public_ipv4", 1, facility="sv16")
    assert legacy.facility.code == "sv16"

    listed = manager.list_project_ips(str(world.web.uuid))
    assert [i.id for i in listed] == [legacy.id, ip.id]
    assert manager.meta["total"] == 2
    only_v4 = manager.list_project_ips(str(world.web.uuid), params={"types": "public_ipv6"})
    assert only_v4 == []

    got = manager.get_ip(ip.id)
    assert (got.details, got.tags, got.gateway) == ("vip", ["lb"], "198.51.100.0")
    manager.delete_ip(ip.id)
    assert not IPReservation.objects.filter(uuid=ip.id).exists()
    with pytest.raises(packet.baseapi.ResponseError) as gone:
        manager.get_ip(ip.id)
    assert "Error 404" in str(gone.value)


def test_a_bad_token_is_refused(tls_live_server, world, catalogue):
    client = packet.Manager(auth_token="not-a-token")
    client.end_point = f"{tls_live_server.netloc}/metal/v1"
    with pytest.raises(packet.baseapi.ResponseError) as refused:
        client.list_plans()
    assert "Error 401" in str(refused.value)
