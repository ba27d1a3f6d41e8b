"""The catalogue every signed-in user reads: plans, specs, prices, capacity, operating systems."""

import re

from django.urls import reverse

from inventory.models import Plan
from tests.inventory import factories as inv


def badges(page: str) -> list[str]:
    return re.findall(r'class="badge text-bg-(\w+)" title="[^"]*">([^<]+)</span>', page)


def test_plans_show_specs_price_metros_and_live_capacity(client, alice, site, settings):
    settings.CAPACITY_LIMITED_THRESHOLD = 1
    ny = inv.make_metro("ny", "New York")
    small = Plan.objects.get(slug="c3.small.x86")
    small.metros.add(ny)
    big = Plan.objects.get(slug="m3.large.x86")
    for _ in range(2):
        inv.make_machine(site, small)
    inv.make_machine(site, big)
    inv.make_machine(site, big, state="in_use")
    client.force_login(alice)
    page = client.get(reverse("inventory:catalogue")).content.decode()
    assert "$0.50" in page and "$3.00" in page
    assert "1 × Intel Xeon E-2278G" in page and "32GB RAM" in page
    found = badges(page)
    assert ("success", "sv: normal") in found  # two available small ones, above the threshold
    assert ("secondary", "ny: unavailable") in found
    assert ("warning", "sv: limited") in found  # one big one available
    # Tenants see levels, not the operator's machine counts.
    assert "(2)" not in page


def test_operators_also_see_how_many_machines_are_free(client, operator, site):
    inv.make_machine(site, Plan.objects.get(slug="c3.small.x86"))
    client.force_login(operator)
    page = client.get(reverse("inventory:catalogue")).content.decode()
    assert ("warning", "sv: limited (1)") in badges(page)


def test_inactive_plans_are_not_offered(client, alice, site):
    Plan.objects.filter(slug="m3.large.x86").update(active=False)
    client.force_login(alice)
    page = client.get(reverse("inventory:catalogue")).content.decode()
    assert "c3.small.x86" in page and "m3.large.x86" not in page


def test_operating_systems_with_what_they_install_on(client, alice, site):
    small = Plan.objects.get(slug="c3.small.x86")
    inv.make_os("ubuntu_24_04", plans=[small])
    inv.make_os("rocky_9")
    client.force_login(alice)
    page = client.get(reverse("inventory:catalogue")).content.decode()
    table = page[page.index('id="operating-systems"') :]
    assert re.search(r"ubuntu_24_04.*?c3\.small\.x86", table, re.S)
    assert re.search(r"rocky_9.*?no plan", table, re.S)
