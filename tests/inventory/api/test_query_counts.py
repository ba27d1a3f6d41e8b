"""Every inventory list costs a fixed number of queries, however many rows (and includes) it
renders: plans with their metros and facilities, operating systems with their plans,
reservations with their project, metro and facility."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory import services
from tests.inventory import factories as inv

ROWS = 30


# Growers add `count` rows to one list; `tag` keeps codes unique between calls.
def _plans(world, catalogue, count, tag):
    for n in range(count):
        metro = inv.make_metro(f"m{tag}{n}", f"Metro {tag}{n}")
        inv.make_facility(metro, f"f{tag}{n}")
        inv.make_plan(f"p{tag}{n}.x86", metros=[metro, catalogue.sv])


def _metros(world, catalogue, count, tag):
    for n in range(count):
        inv.make_facility(inv.make_metro(f"m{tag}{n}", f"Metro {tag}{n}"), f"f{tag}{n}")


def _systems(world, catalogue, count, tag):
    for n in range(count):
        plan = inv.make_plan(f"p{tag}{n}.x86", metros=[catalogue.sv])
        inv.make_os(f"os{tag}{n}_1", plans=[plan, catalogue.small])


def _machines(world, catalogue, count, tag):
    for n in range(count):
        metro = inv.make_metro(f"m{tag}{n}", f"Metro {tag}{n}")
        facility = inv.make_facility(metro, f"f{tag}{n}")
        inv.make_machine(facility, inv.make_plan(f"p{tag}{n}.x86", metros=[metro]))


def _reservations(world, catalogue, count, tag):
    for n in range(count):
        services.reserve_ips(
            project=world.web,
            acting_user=world.alice,
            kind="public_ipv4",
            quantity=1,
            metro=catalogue.sv,
            facility=catalogue.sv16 if n % 2 else None,
        )


# (url template, query string, grower)
LISTS = [
    ("/plans", "", _plans),
    ("/plans", "categories[]=compute", _plans),
    ("/projects/{web}/plans", "", _plans),
    ("/organizations/{acme}/plans", "", _plans),
    ("/locations/metros", "", _metros),
    ("/facilities", "", _metros),
    ("/operating-systems", "", _systems),
    ("/operating-system-versions", "", _systems),
    ("/organizations/{acme}/operating-systems", "", _systems),
    ("/capacity", "", _machines),
    ("/capacity/metros", "", _machines),
    ("/projects/{web}/ips", "include=project.organization", _reservations),
    ("/projects/{web}/ips", "exclude=metro,facility", _reservations),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("template", "query", "grow"), LISTS, ids=[f"{row[0]}?{row[1]}" for row in LISTS]
)
def test_list_query_count_is_constant_in_rows(
    api, world, catalogue, django_assert_max_num_queries, template, query, grow
):
    client = api(world.tokens["alice"])
    url = "/metal/v1" + template.format(acme=world.acme.uuid, web=world.web.uuid)
    url += f"?per_page=100&{query}"
    grow(world, catalogue, 1, "a")  # at least one row, so every prefetch runs in the baseline
    client.get(url)  # warm-up: the token's first use records last_used_at
    with CaptureQueriesContext(connection) as few:
        before = client.get(url)
    grow(world, catalogue, ROWS, "b")
    with django_assert_max_num_queries(len(few.captured_queries)):
        after = client.get(url)
    assert before.status_code == after.status_code == 200
    key = next(k for k in after.json() if k != "meta")
    assert len(after.json()[key]) >= len(before.json()[key]) + ROWS
