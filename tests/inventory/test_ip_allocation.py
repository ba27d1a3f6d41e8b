"""The free-space search behind allocate_subnets: it walks a block's reservations from an index,
starting at the block's search hint, instead of reading them all. Every test here checks what
was handed out against the arithmetic (aligned, inside the block, overlapping nothing)."""

import ipaddress
import itertools
import random
import threading

import pytest
from django.db import connection, transaction

from inventory import ipam, services
from inventory.models import IPBlock, IPReservation, Metro
from tests.inventory import factories as inv

net = ipaddress.ip_network


@pytest.fixture
def sv(db):
    return Metro.objects.create(code="sv", name="Silicon Valley", country="US")


def _allocate(metro, prefix, count=1, kind="public_ipv4", project=None, **kwargs):
    """The networks allocate_subnets hands out, as text."""
    made = services.allocate_subnets(
        kind=kind, prefix_length=prefix, count=count, project=project, metro=metro, **kwargs
    )
    return [r.network for r in made]


def _assert_sound(block: IPBlock) -> None:
    """Every reservation of the block is a CIDR subnet (aligned: host bits clear) inside it,
    overlapping no other, with its packed span matching its network."""
    parent = net(block.network)
    rows = list(block.reservations.values_list("network", "first_packed", "last_packed"))
    subnets = []
    for network, first, last in rows:
        subnet = ipaddress.ip_network(network, strict=True)
        assert subnet.subnet_of(parent), f"{subnet} is outside {parent}"
        assert bytes(first) == subnet.network_address.packed
        assert bytes(last) == subnet.broadcast_address.packed
        subnets.append(subnet)
    subnets.sort(key=lambda s: int(s.network_address))
    for below, above in itertools.pairwise(subnets):
        assert below.broadcast_address < above.network_address, f"{below} overlaps {above}"


# The pure walk


def test_free_between_starts_at_an_aligned_address_at_or_above_start():
    block = net("10.0.0.0/24")
    # A start inside a /29 rounds up to the next /29 boundary, never down.
    assert next(ipam.free_between(block, 29, [], start=int(net("10.0.0.3/32")[0]))) == net(
        "10.0.0.8/29"
    )
    assert next(ipam.free_between(block, 31, [], start=int(net("10.0.0.8/32")[0]))) == net(
        "10.0.0.8/31"
    )


def test_free_between_skips_a_span_that_contains_start():
    block = net("10.0.0.0/24")
    spans = [(int(net("10.0.0.0/28")[0]), int(net("10.0.0.0/28")[-1]) + 1)]
    start = int(net("10.0.0.4/32")[0])
    assert next(ipam.free_between(block, 30, spans, start=start)) == net("10.0.0.16/30")


def test_free_between_reads_spans_only_as_far_as_it_needs():
    block = net("10.0.0.0/16")
    read = []

    def spans():
        for n in range(0, 65536, 2):  # every /31 but the ones at 10.0.0.8 and 10.0.0.10
            if n not in (8, 10):
                read.append(n)
                yield n + int(block[0]), n + 2 + int(block[0])

    found = ipam.free_between(block, 31, spans())
    assert next(found) == net("10.0.0.8/31")
    assert next(found) == net("10.0.0.10/31")
    assert len(read) <= 6


def test_free_between_in_ipv6_yields_ipv6_networks_even_for_low_addresses():
    block = net("::/64")
    assert next(ipam.free_between(block, 127, [(0, 2)])) == net("::2/127")


def test_free_between_stops_at_the_end_of_the_block():
    block = net("10.0.0.0/29")
    assert list(ipam.free_between(block, 30, [(int(block[0]), int(block[0]) + 4)])) == [
        net("10.0.0.4/30")
    ]
    assert list(ipam.free_between(block, 30, [], start=int(block[-1]))) == []


# Through the database


def test_a_larger_subnet_is_aligned_and_the_gap_below_it_is_filled_later(sv, web):
    block = IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/26", metro=sv)
    assert _allocate(sv, 31, project=web) == ["198.51.100.0/31"]
    # A /29 cannot start at .2: it takes the next 8-address boundary.
    assert _allocate(sv, 29, project=web) == ["198.51.100.8/29"]
    # The /31s fill the gap below it first, then continue past it.
    assert _allocate(sv, 31, count=4, project=web) == [
        "198.51.100.2/31",
        "198.51.100.4/31",
        "198.51.100.6/31",
        "198.51.100.16/31",
    ]
    assert _allocate(sv, 29, project=web) == ["198.51.100.24/29"]
    _assert_sound(block)


def test_gaps_smaller_than_the_request_are_skipped(sv, web, alice):
    block = IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/27", metro=sv)
    _allocate(sv, 31, count=8, project=web)  # .0 – .15
    # Give back .2/31 and .8/31: two free /31s, no free /30 below .16.
    for network in ("198.51.100.2/31", "198.51.100.8/31"):
        services.release_ips(
            reservation=IPReservation.objects.get(network=network), acting_user=alice
        )
    assert _allocate(sv, 30, project=web) == ["198.51.100.16/30"]
    assert _allocate(sv, 31, count=2, project=web) == ["198.51.100.2/31", "198.51.100.8/31"]
    assert _allocate(sv, 31, project=web) == ["198.51.100.20/31"]
    _assert_sound(block)


def test_a_full_block_hands_over_to_the_next_and_is_not_walked_again(
    sv, web, django_assert_max_num_queries
):
    first = IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/28", metro=sv)
    second = IPBlock.objects.create(kind="public_ipv4", network="203.0.113.0/28", metro=sv)
    # A batch that does not fit in the first block takes the rest from the second.
    made = _allocate(sv, 31, count=10, project=web)
    assert made == [f"198.51.100.{n}/31" for n in range(0, 16, 2)] + [
        "203.0.113.0/31",
        "203.0.113.2/31",
    ]
    first.refresh_from_db()
    assert first.next_free["31"] == "198.51.100.15"  # full at /31: its last address
    # Lock, walk the second block, move its hint, insert: the full one costs no read.
    with django_assert_max_num_queries(4):
        assert _allocate(sv, 31, project=web) == ["203.0.113.4/31"]
    _assert_sound(first)
    _assert_sound(second)


def test_every_block_full_is_a_clear_error(sv, web):
    IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/30", metro=sv)
    _allocate(sv, 31, count=2, project=web)
    with pytest.raises(services.InsufficientAddresses, match=r"2 × /31 in sv"):
        _allocate(sv, 31, count=2, project=web)
    with pytest.raises(services.InsufficientAddresses):
        _allocate(sv, 32, project=web)
    assert IPReservation.objects.count() == 2


def test_mixed_prefix_lengths_never_overlap(sv, web):
    block = IPBlock.objects.create(kind="private_ipv4", network="10.0.0.0/24", metro=sv)
    got = []
    for prefix in (32, 29, 31, 28, 32, 30, 25, 31, 32, 27, 29, 31):
        got += _allocate(sv, prefix, kind="private_ipv4", project=web)
    assert got == [
        "10.0.0.0/32",
        "10.0.0.8/29",
        "10.0.0.2/31",
        "10.0.0.16/28",
        "10.0.0.1/32",
        "10.0.0.4/30",
        "10.0.0.128/25",
        "10.0.0.32/31",
        "10.0.0.34/32",
        "10.0.0.64/27",
        "10.0.0.40/29",
        "10.0.0.36/31",
    ]
    _assert_sound(block)


def test_ipv6_servers_take_127s_and_projects_56s_side_by_side(sv, web):
    block = IPBlock.objects.create(kind="public_ipv6", network="2001:db8::/48", metro=sv)
    v6 = {"kind": "public_ipv6", "project": web}
    assert _allocate(sv, 127, count=2, **v6) == ["2001:db8::/127", "2001:db8::2/127"]
    assert _allocate(sv, 56, **v6) == ["2001:db8:0:100::/56"]
    assert _allocate(sv, 127, **v6) == ["2001:db8::4/127"]
    assert _allocate(sv, 56, count=2, **v6) == ["2001:db8:0:200::/56", "2001:db8:0:300::/56"]
    assert _allocate(sv, 127, **v6) == ["2001:db8::6/127"]
    block.refresh_from_db()
    assert block.next_free == {"127": "2001:db8::8", "56": "2001:db8:0:400::"}
    _assert_sound(block)


def test_an_ipv6_block_full_of_56s(sv, web):
    block = IPBlock.objects.create(kind="public_ipv6", network="2001:db8::/54", metro=sv)
    made = _allocate(sv, 56, count=4, kind="public_ipv6", project=web)
    assert made == [
        "2001:db8::/56",
        "2001:db8:0:100::/56",
        "2001:db8:0:200::/56",
        "2001:db8:0:300::/56",
    ]
    with pytest.raises(services.InsufficientAddresses):
        _allocate(sv, 56, kind="public_ipv6", project=web)
    _assert_sound(block)


def test_blocks_restricted_to_a_facility(sv, web):
    sv15, sv16 = inv.make_facility(sv, "sv15"), inv.make_facility(sv, "sv16")
    own = IPBlock.objects.create(
        kind="public_ipv4", network="192.0.2.0/30", metro=sv, facility=sv15
    )
    shared = IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/30", metro=sv)
    # sv15 uses its own block first, then the metro-wide one.
    assert _allocate(sv, 31, count=3, project=web, facility=sv15) == [
        "192.0.2.0/31",
        "192.0.2.2/31",
        "198.51.100.0/31",
    ]
    # Another facility never gets sv15's space, even with the metro-wide block full.
    assert _allocate(sv, 31, project=web, facility=sv16) == ["198.51.100.2/31"]
    with pytest.raises(services.InsufficientAddresses, match="sv16"):
        _allocate(sv, 32, project=web, facility=sv16)
    # What a facility request takes is recorded as that facility's.
    assert set(own.reservations.values_list("facility__code", flat=True)) == {"sv15"}
    assert dict(shared.reservations.values_list("network", "facility__code")) == {
        "198.51.100.0/31": "sv15",
        "198.51.100.2/31": "sv16",
    }
    _assert_sound(own)
    _assert_sound(shared)


def test_space_deleted_below_the_hint_is_found_once_the_rest_is_full(sv, web):
    """The ledger deletes a deleted server's addresses without touching the block's hints:
    the allocator goes on above them, and comes back for the freed space when nothing is left
    above instead of saying the block is full."""
    block = IPBlock.objects.create(kind="private_ipv4", network="10.0.0.0/28", metro=sv)
    _allocate(sv, 31, count=4, kind="private_ipv4", project=web)
    IPReservation.objects.filter(network__in=["10.0.0.0/31", "10.0.0.4/31"]).delete()
    assert _allocate(sv, 31, count=4, kind="private_ipv4", project=web) == [
        f"10.0.0.{n}/31" for n in (8, 10, 12, 14)
    ]
    assert _allocate(sv, 31, count=2, kind="private_ipv4", project=web) == [
        "10.0.0.0/31",
        "10.0.0.4/31",
    ]
    _assert_sound(block)


def test_allocation_reads_a_few_rows_whatever_the_block_holds(sv, web, django_assert_num_queries):
    """A block with thousands of reservations costs the same four queries once the allocator
    has been through it: lock, one short index read past the hint, the hint, the insert."""
    block = IPBlock.objects.create(kind="private_ipv4", network="10.0.0.0/16", metro=sv)
    IPReservation.objects.bulk_create(
        IPReservation(block=block, project=web, network=str(subnet), metro=sv)
        for subnet in list(net("10.0.0.0/16").subnets(new_prefix=31))[:5000]
    )
    # The first allocation walks the block from its start (growing batches), once.
    assert _allocate(sv, 31, kind="private_ipv4", project=web) == ["10.0.39.16/31"]
    with django_assert_num_queries(4):
        assert _allocate(sv, 31, count=10, kind="private_ipv4", project=web)[0] == ("10.0.39.18/31")
    with django_assert_num_queries(4):
        assert _allocate(sv, 29, kind="private_ipv4", project=web) == ["10.0.39.40/29"]


def test_reservations_created_anywhere_get_their_span(sv, web):
    block = IPBlock.objects.create(kind="public_ipv6", network="2001:db8::/48", metro=sv)
    created = IPReservation.objects.create(block=block, project=web, network="2001:db8::/127")
    [bulk] = IPReservation.objects.bulk_create(
        [IPReservation(block=block, project=web, network="2001:db8:0:100::/56")]
    )
    created.refresh_from_db()
    assert bytes(created.first_packed) == net("2001:db8::/127").network_address.packed
    assert bytes(bulk.last_packed) == net("2001:db8:0:100::/56").broadcast_address.packed
    # The allocator sees both, though it made neither.
    assert _allocate(sv, 56, kind="public_ipv6", project=web) == ["2001:db8:0:200::/56"]
    assert _allocate(sv, 127, kind="public_ipv6", project=web) == ["2001:db8::2/127"]


@pytest.mark.parametrize("seed", range(6))
def test_random_allocations_and_releases_match_the_lowest_first_arithmetic(sv, web, alice, seed):
    """Against `ipam.free_subnets` over every reservation (what the allocator used to do):
    the same subnets, whatever the mix of sizes, releases and full blocks. Deletions that skip
    release_ips (the ledger's) may only change which free subnet is chosen, never hand out a
    taken one, nor refuse while space is left."""
    rng = random.Random(seed)
    blocks = [
        IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/26", metro=sv),
        IPBlock.objects.create(kind="public_ipv4", network="198.51.100.64/27", metro=sv),
    ]
    exact = True  # False once the ledger's kind of delete has happened
    for _ in range(120):
        roll = rng.random()
        existing = list(IPReservation.objects.order_by("pk"))
        if existing and roll < 0.3:
            victim = rng.choice(existing)
            if rng.random() < 0.5:
                services.release_ips(reservation=victim, acting_user=alice)
            else:
                IPReservation.objects.filter(pk=victim.pk).delete()
                exact = False
            continue
        prefix, count = rng.choice([28, 29, 30, 31, 31, 32, 32]), rng.choice([1, 1, 1, 2, 3])
        expected = []
        for block in blocks:
            taken = [net(n) for n in block.reservations.values_list("network", flat=True)]
            for subnet in ipam.free_subnets(net(block.network), prefix, taken):
                if len(expected) < count:
                    expected.append(str(subnet))
        if len(expected) < count:
            with pytest.raises(services.InsufficientAddresses):
                _allocate(sv, prefix, count=count, project=web)
        elif exact:
            assert _allocate(sv, prefix, count=count, project=web) == expected
        else:
            assert len(_allocate(sv, prefix, count=count, project=web)) == count
        for block in blocks:
            _assert_sound(block)


@pytest.mark.django_db(transaction=True)
def test_parallel_mixed_allocations_by_metro_and_facility_never_overlap(alice, web):
    """Facility and metro requests lock the same blocks in the same order (no deadlock), and
    with sizes mixed nothing handed out overlaps."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is under test; run with DATABASE_URL=postgres://…")
    metro = Metro.objects.create(code="ny", name="New York", country="US")
    ny5 = inv.make_facility(metro, "ny5")
    blocks = [
        IPBlock.objects.create(kind="private_ipv4", network="10.30.0.0/26", metro=metro),
        IPBlock.objects.create(
            kind="private_ipv4", network="10.20.0.0/25", metro=metro, facility=ny5
        ),
    ]
    workers, per_worker = 6, 10
    barrier = threading.Barrier(workers)
    errors: list[Exception] = []

    def allocate(n: int):
        rng = random.Random(n)
        try:
            barrier.wait()
            for _ in range(per_worker):
                with transaction.atomic():
                    services.allocate_subnets(
                        kind="private_ipv4",
                        prefix_length=rng.choice([29, 30, 31, 32]),
                        count=rng.choice([1, 2]),
                        project=web,
                        metro=metro,
                        facility=ny5 if n % 2 else None,
                    )
        except services.InsufficientAddresses:
            pass  # space may run out; what is handed out must still never overlap
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert IPReservation.objects.count() > workers
    for block in blocks:
        _assert_sound(block)
