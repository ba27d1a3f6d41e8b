"""IPAM: subnet arithmetic, reservations, and no address handed out twice under concurrency."""

import ipaddress
import threading

import pytest
from django.db import connection, transaction

from inventory import ipam, services
from inventory.models import IPBlock, IPReservation, Metro
from portal.errors import Forbidden, ServiceError

net = ipaddress.ip_network


def test_free_subnets_are_aligned_and_skip_taken_space():
    block = net("198.51.100.0/28")
    taken = [net("198.51.100.0/31"), net("198.51.100.4/30")]
    assert [str(s) for s in ipam.free_subnets(block, 31, taken)] == [
        "198.51.100.2/31",
        "198.51.100.8/31",
        "198.51.100.10/31",
        "198.51.100.12/31",
        "198.51.100.14/31",
    ]
    # A /29 must start on an 8-address boundary: .0/29 overlaps what is taken, .8/29 is free.
    assert ipam.first_free(block, 29, taken) == net("198.51.100.8/29")
    assert ipam.first_free(block, 28, taken) is None


def test_free_subnets_work_for_ipv6_without_enumerating_the_block():
    block = net("2001:db8::/32")
    taken = [net("2001:db8::/127")]
    assert ipam.first_free(block, 127, taken) == net("2001:db8::2/127")
    assert ipam.first_free(block, 56, taken) == net("2001:db8:0:100::/56")


def test_a_prefix_larger_than_the_block_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        list(ipam.free_subnets(net("10.0.0.0/24"), 16, []))


@pytest.fixture
def sv(db):
    metro = Metro.objects.create(code="sv", name="Silicon Valley", country="US")
    IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/28", metro=metro)
    return metro


def test_reservation_takes_the_lowest_free_subnet_and_records_an_event(sv, web, alice):
    first = services.reserve_ips(
        project=web, acting_user=alice, kind="public_ipv4", quantity=4, metro=sv
    )
    second = services.reserve_ips(
        project=web, acting_user=alice, kind="public_ipv4", quantity=2, metro=sv
    )
    assert (first.network, second.network) == ("198.51.100.0/30", "198.51.100.4/31")
    assert web.events.filter(type="ip.reserved").count() == 2


def test_exhausted_space_is_a_clear_error_and_nothing_is_saved(sv, web, alice):
    services.reserve_ips(project=web, acting_user=alice, kind="public_ipv4", quantity=16, metro=sv)
    with pytest.raises(services.InsufficientAddresses, match="No public ipv4 space left"):
        services.reserve_ips(
            project=web, acting_user=alice, kind="public_ipv4", quantity=1, metro=sv
        )
    assert IPReservation.objects.count() == 1


@pytest.mark.parametrize("quantity", [0, 3, 64])
def test_bad_quantities_are_refused(sv, web, alice, quantity):
    with pytest.raises(ServiceError) as excinfo:
        services.reserve_ips(
            project=web, acting_user=alice, kind="public_ipv4", quantity=quantity, metro=sv
        )
    assert excinfo.value.field == "quantity"


def test_limited_collaborator_cannot_reserve(sv, web, lena):
    with pytest.raises(Forbidden):
        services.reserve_ips(
            project=web, acting_user=lena, kind="public_ipv4", quantity=1, metro=sv
        )


@pytest.mark.django_db(transaction=True)
def test_parallel_allocations_never_share_an_address(alice, web):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is under test; run with DATABASE_URL=postgres://…")
    metro = Metro.objects.create(code="ny", name="New York", country="US")
    IPBlock.objects.create(kind="private_ipv4", network="10.20.0.0/24", metro=metro)
    workers, per_worker = 8, 12
    barrier = threading.Barrier(workers)
    errors: list[Exception] = []

    def allocate():
        try:
            barrier.wait()
            for _ in range(per_worker):
                with transaction.atomic():
                    services.allocate_subnets(
                        kind="private_ipv4", prefix_length=31, count=1, project=web, metro=metro
                    )
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    networks = [net(n) for n in IPReservation.objects.values_list("network", flat=True)]
    assert len(networks) == workers * per_worker
    addresses = [a for n in networks for a in (n.network_address, n.broadcast_address)]
    assert len(set(addresses)) == len(addresses)
