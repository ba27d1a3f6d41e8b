"""Operator page fixtures: a staff operator, a small site and machines to click on.

The BMC emulator fixtures (start_redfish, redfish_url, closed_port) come from
tests/inventory/conftest.py.
"""

import pytest

from tests import factories
from tests.inventory import factories as inv


@pytest.fixture
def operator(db):
    return factories.make_user("ops@example.com", first_name="Olga", staff=True)


@pytest.fixture
def staff_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def site(db):
    """Metro sv with facility sv15 and two plans that enrollment can match (node1, node2)."""
    metro = inv.make_metro("sv")
    facility = inv.make_facility(metro, "sv15")
    big = inv.make_plan("m3.large.x86", price="3.00", metros=[metro])
    big.match_cpu_count, big.match_memory_gib = 2, 128
    big.save()
    small = inv.make_plan("c3.small.x86", metros=[metro])
    small.match_cpu_count, small.match_memory_gib = 1, 32
    small.save()
    return facility


HTMX = {"HX-Request": "true"}
