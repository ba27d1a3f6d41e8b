"""Capacity per metro × plan, derived from available machines."""

import pytest

from inventory import services
from inventory.models import Machine
from tests.inventory import factories as inv


@pytest.fixture
def catalogue(db, settings):
    settings.CAPACITY_LIMITED_THRESHOLD = 2
    sv, ny = inv.make_metro("sv"), inv.make_metro("ny", "New York")
    small = inv.make_plan("c3.small.x86", metros=[sv, ny])
    large = inv.make_plan("m3.large.x86", price="2.00", metros=[sv])
    return sv, ny, small, large


def test_levels_follow_available_machines(catalogue):
    sv, ny, small, large = catalogue
    for _ in range(3):
        inv.make_machine(inv.make_facility(sv), small)
    inv.make_machine(inv.make_facility(ny), small)
    inv.make_machine(inv.make_facility(sv), large, state=Machine.State.IN_USE)
    report = services.capacity_report()
    assert report["sv"]["c3.small.x86"] == {"level": "normal", "available_servers": 3}
    assert report["ny"]["c3.small.x86"] == {"level": "limited", "available_servers": 1}
    assert report["sv"]["m3.large.x86"] == {"level": "unavailable", "available_servers": 0}


def test_machines_in_maintenance_do_not_count(catalogue):
    sv, _, small, _ = catalogue
    inv.make_machine(inv.make_facility(sv), small, state=Machine.State.MAINTENANCE)
    assert services.capacity_report()["sv"]["c3.small.x86"]["available_servers"] == 0


def test_facility_report_uses_facility_codes(catalogue):
    sv, _, small, _ = catalogue
    inv.make_machine(inv.make_facility(sv, "sv15"), small)
    assert services.capacity_report(by="facility")["sv15"]["c3.small.x86"]["available_servers"] == 1


def test_report_costs_two_queries_whatever_the_size(catalogue, django_assert_num_queries):
    sv, _, small, _ = catalogue
    for _ in range(20):
        inv.make_machine(inv.make_facility(sv), small)
    with django_assert_num_queries(2):
        services.capacity_report()
