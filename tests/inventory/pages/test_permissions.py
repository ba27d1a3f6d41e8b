"""Who gets what on every inventory page and POST.

Operator pages: anonymous → the login page, signed in but not staff → 404, staff → 200.
The catalogue page: anyone signed in. A staff POST here answers 200 (an empty or invalid post
re-renders its form with errors; the power check shows the BMC's error in its panel).
"""

import pytest
from django.urls import reverse

from inventory.models import IPBlock
from tests.inventory import factories as inv

KINDS = ["metros", "facilities", "plans", "operating-systems", "ip-blocks"]


@pytest.fixture
def rows(site, closed_port):
    metro = site.metro
    plan = inv.make_plan("c3.small.x86")
    machine = inv.make_machine(site, plan)
    # A BMC nobody answers on: the staff power check ends quickly with an error sentence.
    machine.bmc_address = f"http://127.0.0.1:{closed_port}"
    machine.save()
    return {
        "machine": machine,
        "metros": metro,
        "facilities": site,
        "plans": plan,
        "operating-systems": inv.make_os(plans=[plan]),
        "ip-blocks": IPBlock.objects.create(
            kind="public_ipv4", network="198.51.100.0/24", metro=metro
        ),
    }


def operator_pages(rows):
    machine = rows["machine"]
    pages = [
        reverse("inventory:machines"),
        reverse("inventory:machine", args=[machine.uuid]),
        reverse("inventory:enroll"),
    ]
    for kind in KINDS:
        pages.append(reverse("inventory:catalogue-list", args=[kind]))
        pages.append(reverse("inventory:catalogue-new", args=[kind]))
        pages.append(reverse("inventory:catalogue-edit", args=[kind, rows[kind].uuid]))
    return pages


def operator_posts(rows):
    machine = rows["machine"]
    posts = [
        reverse("inventory:machine-actions"),
        reverse("inventory:machine-power", args=[machine.uuid]),
        reverse("inventory:enroll"),
    ]
    for kind in KINDS:
        posts.append(reverse("inventory:catalogue-new", args=[kind]))
        posts.append(reverse("inventory:catalogue-edit", args=[kind, rows[kind].uuid]))
    return posts


def test_anonymous_is_sent_to_log_in_everywhere(client, rows):
    login = reverse("portal:login")
    for url in [*operator_pages(rows), reverse("inventory:catalogue")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{login}?next="), url
    for url in operator_posts(rows):
        response = client.post(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{login}?next="), url


def test_signed_in_non_staff_get_404_on_operator_pages_and_posts(client, alice, rows):
    client.force_login(alice)
    for url in operator_pages(rows):
        assert client.get(url).status_code == 404, url
    for url in operator_posts(rows):
        assert client.post(url).status_code == 404, url


def test_staff_see_every_operator_page_and_post(staff_client, rows):
    for url in operator_pages(rows):
        assert staff_client.get(url).status_code == 200, url
    for url in operator_posts(rows):
        assert staff_client.post(url).status_code == 200, url


def test_non_staff_posts_change_nothing(client, alice, rows):
    client.force_login(alice)
    machine = rows["machine"]
    client.post(
        reverse("inventory:machine-actions"),
        {"machines": [machine.uuid], "action": "retire"},
    )
    client.post(
        reverse("inventory:catalogue-new", args=["metros"]),
        {"code": "ny", "name": "New York", "country": "US"},
    )
    machine.refresh_from_db()
    assert machine.state == "available"
    assert not type(rows["metros"]).objects.filter(code="ny").exists()


def test_catalogue_page_is_for_everyone_signed_in(client, alice, charlie, operator, rows):
    for user in (alice, charlie, operator):
        client.force_login(user)
        assert client.get(reverse("inventory:catalogue")).status_code == 200


def test_unknown_catalogue_kind_is_404_for_staff(staff_client, db):
    assert staff_client.get("/operator/catalogue/racks/").status_code == 404


def test_navbar_offers_operator_only_to_staff(client, alice, operator, rows):
    client.force_login(alice)
    page = client.get(reverse("inventory:catalogue")).content.decode()
    assert 'href="/catalogue/"' in page and 'href="/operator/"' not in page
    client.force_login(operator)
    page = client.get(reverse("inventory:catalogue")).content.decode()
    assert 'href="/operator/"' in page
