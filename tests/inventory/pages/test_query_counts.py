"""Inventory list pages cost a constant number of queries, with 1 row or 31."""

import pytest
from django.urls import reverse

from inventory.models import IPBlock, Rack
from inventory.views import KINDS
from tests.inventory import factories as inv

ROWS = 30


@pytest.fixture
def measure(django_assert_max_num_queries):
    """Query count with one row, then with ROWS more: they must be equal."""

    def count(client, url, limit):
        with django_assert_max_num_queries(limit) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return len(captured.captured_queries)

    def run(client, url, add_rows, limit=20):
        add_rows("a", 1)
        few = count(client, url, limit)
        add_rows("b", ROWS)
        many = count(client, url, limit)
        assert many == few, url
        return many

    return run


def test_machine_list(staff_client, site, measure):
    plan = inv.make_plan()

    def add(batch, count):
        for n in range(count):
            machine = inv.make_machine(site, plan)
            machine.rack = Rack.objects.create(facility=site, name=f"r{batch}{n}")
            machine.save()

    measure(staff_client, reverse("inventory:machines"), add)


def test_machine_detail_history(staff_client, site, operator, measure):
    from inventory import services

    machine = inv.make_machine(site, inv.make_plan())

    def add(batch, count):
        for _ in range(count):
            services.set_machines_maintenance(machines=[machine], acting_user=operator, on=True)
            services.set_machines_maintenance(machines=[machine], acting_user=operator, on=False)

    measure(staff_client, reverse("inventory:machine", args=[machine.uuid]), add)


@pytest.mark.parametrize("kind", list(KINDS))
def test_catalogue_lists(staff_client, site, measure, kind):
    plan = inv.make_plan()

    def add(batch, count):
        for n in range(count):
            metro = inv.make_metro(f"m{batch}{n}", f"Metro {batch}{n}")
            inv.make_facility(metro, f"f{batch}{n}")
            inv.make_plan(f"p{batch}{n}.x86", metros=[metro, site.metro])
            inv.make_os(f"os_{batch}{n}", plans=[plan])
            IPBlock.objects.create(
                kind="private_ipv4", network=f"10.{ord(batch)}.{n}.0/24", metro=metro
            )

    measure(staff_client, reverse("inventory:catalogue-list", args=[kind]), add)


def test_catalogue_page(client, alice, site, measure):
    client.force_login(alice)

    def add(batch, count):
        for n in range(count):
            metro = inv.make_metro(f"m{batch}{n}", f"Metro {batch}{n}")
            facility = inv.make_facility(metro, f"f{batch}{n}")
            plan = inv.make_plan(f"p{batch}{n}.x86", metros=[metro, site.metro])
            inv.make_machine(facility, plan)
            inv.make_os(f"os_{batch}{n}", plans=[plan])

    measure(client, reverse("inventory:catalogue"), add)
