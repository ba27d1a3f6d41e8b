"""The Metal API for usages and invoices: shapes, the created[] window, who sees what, and
a number of queries that does not grow with the rows."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from provisioning import tasks
from provisioning.billing import usage
from provisioning.models import Invoice
from tests import factories

from .conftest import at, delete, finish


def client(user, **kwargs) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_X_AUTH_TOKEN=factories.make_token(user, **kwargs))
    return api


@pytest.fixture
def january(web, ops, alice, deploy, clock, site):
    """web: one server 10 h in January (0.50/h) and one Windows server 2 h; ops: one 3 h."""
    clock(at(2031, 1, 10, 0, 0))
    a = finish(deploy(web, alice, hostname="a"))
    b = finish(deploy(web, alice, os_=site[3], hostname="b"))
    c = finish(deploy(ops, alice, hostname="c"))
    clock(at(2031, 1, 10, 2, 0))
    delete(b, alice)
    clock(at(2031, 1, 10, 3, 0))
    delete(c, alice)
    clock(at(2031, 1, 10, 10, 0))
    delete(a, alice)
    clock(at(2031, 2, 1, 0, 30))
    return a


def test_project_usages_shape_and_window(january, web, alice):
    api = client(alice)
    url = f"/metal/v1/projects/{web.uuid}/usages"
    body = api.get(url, {"created[after]": "2031-01-01", "created[before]": "2031-02-01"}).json()
    assert sorted(body["usages"], key=lambda u: (u["name"], u["type"])) == [
        {
            "name": "a",
            "type": "Instance",
            "plan": "c3.small.x86",
            "plan_version": "1",
            "facility": "sv1",
            "unit": "hour",
            "price": "0.5",
            "quantity": "10",
            "total": "5",
        },
        {
            "name": "b",
            "type": "Instance",
            "plan": "c3.small.x86",
            "plan_version": "1",
            "facility": "sv1",
            "unit": "hour",
            "price": "0.5",
            "quantity": "2",
            "total": "1",
        },
        {
            "name": "b",
            "type": "License",
            "plan": "windows_2022",
            "plan_version": "1",
            "facility": "sv1",
            "unit": "hour",
            "price": "0.1",
            "quantity": "2",
            "total": "0.2",
        },
    ]
    # Month-to-date by default: February has nothing yet.
    assert api.get(url).json() == {"usages": []}
    # A window of the first two hours only.
    narrow = api.get(
        url, {"created[after]": "2031-01-10T00:00:00Z", "created[before]": "2031-01-10T01:00:00Z"}
    ).json()
    assert sorted(u["quantity"] for u in narrow["usages"]) == ["1", "1", "1"]


def test_device_usages(january, alice):
    body = (
        client(alice)
        .get(f"/metal/v1/devices/{january.uuid}/usages", {"created[after]": "2031-01-01"})
        .status_code
    )
    assert body == 404  # deleted devices leave the device endpoints


def test_live_device_usages(web, alice, deploy, clock):
    clock(at(2031, 3, 2, 0, 0))
    device = finish(deploy(web, alice))
    clock(at(2031, 3, 2, 4, 10))
    r = client(alice).get(f"/metal/v1/devices/{device.uuid}/usages")
    assert r.json() == {"usages": [{"unit": "hour", "quantity": "5", "total": "2.5"}]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"created[after]": "last tuesday"}, "created[after]: Give a date"),
        ({"created[before]": "2031-02-30"}, "created"),
        ({"created[after]": "2031-02-01", "created[before]": "2031-01-01"}, "Must be after"),
    ],
)
def test_bad_window_is_422(web, alice, params, message):
    r = client(alice).get(f"/metal/v1/projects/{web.uuid}/usages", params)
    assert r.status_code == 422
    assert message in r.json()["errors"][0]


def test_usages_are_scoped(january, web, ops, carol, bill, charlie):
    assert client(carol).get(f"/metal/v1/projects/{web.uuid}/usages").status_code == 200
    assert client(carol).get(f"/metal/v1/projects/{ops.uuid}/usages").status_code == 404
    assert client(charlie).get(f"/metal/v1/projects/{web.uuid}/usages").status_code == 404
    # Billing members see invoices, not projects or their servers.
    assert client(bill).get(f"/metal/v1/projects/{web.uuid}/usages").status_code == 404
    seen = {p["id"] for p in client(bill).get("/metal/v1/projects").json()["projects"]}
    assert not seen & {str(web.uuid), str(ops.uuid)}  # only his own personal project


def test_monthly_run_twice_gives_one_invoice(january, acme):
    assert tasks.generate_invoices.apply().get() == 1
    assert tasks.generate_invoices.apply().get() == 0
    invoice = Invoice.objects.get()
    assert (invoice.organization, invoice.period_start.isoformat()) == (acme, "2031-01-01")
    assert invoice.amount == Decimal("7.70")
    lines = [(x.project_name, x.name, x.quantity, x.amount) for x in invoice.lines.all()]
    assert lines == [
        ("ops", "c3.small.x86", Decimal("3"), Decimal("1.50")),
        ("web", "c3.small.x86", Decimal("12"), Decimal("6.00")),
        ("web", "windows_2022", Decimal("2"), Decimal("0.20")),
    ]


def test_database_keeps_one_invoice_per_org_and_month(january):
    from django.db import IntegrityError

    [invoice] = usage.generate_invoices(usage.previous_month())
    invoice.pk, invoice.uuid, invoice.number = None, None, "IY-other"
    with pytest.raises(IntegrityError):
        invoice.save()


def test_invoice_endpoints_shape_and_who_sees_them(january, acme, alice, adam, bill, carol, web):
    [invoice] = usage.generate_invoices(usage.previous_month())
    listing = client(bill).get(f"/metal/v1/organizations/{acme.uuid}/invoices").json()
    assert listing["meta"]["total"] == 1 and listing["meta"]["next"] is None
    [item] = listing["invoices"]
    assert item["id"] == str(invoice.uuid)
    assert item["href"] == f"/metal/v1/invoices/{invoice.uuid}"
    assert (item["amount"], item["balance"], item["currency"]) == (7.7, 7.7, "USD")
    assert (item["target_date"], item["due_on"], item["status"]) == (
        "2031-01-31",
        "2031-02-08",
        "open",
    )
    assert item["items"][1] == {
        "description": "c3.small.x86 servers, project web",
        "details": "web",
        "item_type": "plan",
        "unit": "hour",
        "quantity": 12.0,
        "unit_price": 0.5,
        "amount": 6.0,
        "currency": "USD",
        "start_date": "2031-01-01",
        "end_date": "2031-01-31",
        "project": {"id": str(web.uuid), "name": "web", "href": f"/metal/v1/projects/{web.uuid}"},
        "plan": {
            "id": str(invoice.lines.all()[1].plan.uuid),
            "name": "c3.small.x86",
            "href": f"/metal/v1/plans/{invoice.lines.all()[1].plan.uuid}",
        },
    }
    for user in (alice, adam, bill):
        assert client(user).get(f"/metal/v1/invoices/{invoice.uuid}").json()["id"] == item["id"]
    # A collaborator sees the organization but not its bills; an invoice is not theirs at all.
    assert client(carol).get(f"/metal/v1/organizations/{acme.uuid}/invoices").status_code == 403
    assert client(carol).get(f"/metal/v1/invoices/{invoice.uuid}").status_code == 404
    # A project key is not for organization business, even the owner's.
    assert client(alice, project=web).get(f"/metal/v1/invoices/{invoice.uuid}").status_code == 403


def test_outsider_gets_404(january, acme, charlie):
    [invoice] = usage.generate_invoices(usage.previous_month())
    assert client(charlie).get(f"/metal/v1/organizations/{acme.uuid}/invoices").status_code == 404
    assert client(charlie).get(f"/metal/v1/invoices/{invoice.uuid}").status_code == 404


def test_list_queries_do_not_grow_with_rows(web, acme, alice, deploy, clock):
    api = client(alice)

    def measure(url) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url).status_code == 200
        return len(ctx)

    clock(at(2031, 4, 1, 0, 0))
    finish(deploy(web, alice, hostname="one"))
    clock(at(2031, 5, 1, 1, 0))
    usage.generate_invoices(usage.previous_month())
    usages_url = f"/metal/v1/projects/{web.uuid}/usages?created[after]=2031-04-01"
    invoices_url = f"/metal/v1/organizations/{acme.uuid}/invoices?per_page=100"
    few = measure(usages_url), measure(invoices_url)
    for n in range(3):
        finish(deploy(web, alice, hostname=f"more-{n}"))
    clock(at(2031, 6, 1, 1, 0))
    usage.generate_invoices(usage.previous_month())
    clock(at(2031, 7, 1, 1, 0))
    usage.generate_invoices(usage.previous_month())
    assert Invoice.objects.count() == 3
    assert (measure(usages_url), measure(invoices_url)) == few
