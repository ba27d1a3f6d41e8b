"""Usage and billing pages: who sees them, the chart and table, downloads, bad input."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from provisioning.billing import usage

from .conftest import at, delete, finish


@pytest.fixture
def january(web, alice, deploy, clock):
    clock(at(2031, 1, 10, 0, 0))
    device = finish(deploy(web, alice, hostname="db-1"))
    clock(at(2031, 1, 11, 2, 0))  # 26 hours
    delete(device, alice)
    clock(at(2031, 2, 1, 0, 30))
    [invoice] = usage.generate_invoices(usage.previous_month())
    return invoice


def test_project_usage_page_draws_the_month(client, january, web, carol):
    client.force_login(carol)
    r = client.get(f"/projects/{web.uuid}/usage/", {"month": "2031-01"})
    assert r.status_code == 200
    page = r.content.decode()
    assert 'id="usage-chart"' in page and "<rect" in page and "cdn" not in page.lower()
    assert "13.00 USD" in page  # 26 hours at 0.50
    chart = page.split('id="usage-chart"')[1].split("</svg>")[0]
    assert chart.count("<rect") == 2  # the 10th and the 11th (the legend's swatches are after)
    assert "db-1" in page
    # This month (February) so far: nothing yet.
    assert (
        "Nothing billed in this period."
        in client.get(f"/projects/{web.uuid}/usage/").content.decode()
    )


@pytest.mark.parametrize(
    ("month", "error"), [("January", "Give a month as YYYY-MM."), ("2099-01", "not started yet")]
)
def test_bad_month_is_an_error_next_to_the_field(client, web, alice, month, error):
    client.force_login(alice)
    r = client.get(f"/projects/{web.uuid}/usage/", {"month": month})
    assert r.status_code == 200
    page = r.content.decode()
    assert 'id="id_month_error"' in page and error in page
    assert f'value="{month}"' in page  # what was typed stays in the field


def test_project_usage_is_scoped(client, web, ops, carol, bill, charlie):
    client.force_login(carol)
    assert client.get(f"/projects/{ops.uuid}/usage/").status_code == 404
    for outsider in (bill, charlie):
        client.force_login(outsider)
        assert client.get(f"/projects/{web.uuid}/usage/").status_code == 404


def test_billing_page_and_downloads(client, january, acme, bill, clock, web, alice, deploy):
    clock(at(2031, 2, 3, 0, 0))
    finish(deploy(web, alice, hostname="db-2"))
    clock(at(2031, 2, 3, 3, 30))
    client.force_login(bill)
    page = client.get(f"/orgs/{acme.uuid}/billing/").content.decode()
    assert "2.00 USD" in page  # month to date: 4 started hours
    assert january.number in page and "13.00" in page
    r = client.get(f"/invoices/{january.uuid}.csv")
    assert r["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[1] == [
        "web",
        "c3.small.x86",
        "c3.small.x86 servers, project web",
        "26",
        "hour",
        "0.5",
        "13.00",
    ]
    assert rows[-1][-1] == "13.00"
    r = client.get(f"/invoices/{january.uuid}.pdf")
    assert r["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(r.content)).pages[0].extract_text()
    assert january.number in text and "13.00" in text and "Acme" in text
    assert client.get(f"/invoices/{january.uuid}.exe").status_code == 404


def test_billing_is_for_owners_admins_and_billing_only(
    client, january, acme, alice, adam, carol, lena, charlie
):
    for user in (alice, adam):
        client.force_login(user)
        assert client.get(f"/orgs/{acme.uuid}/billing/").status_code == 200
    for member in (carol, lena):
        client.force_login(member)
        assert client.get(f"/orgs/{acme.uuid}/billing/").status_code == 403
        assert client.get(f"/invoices/{january.uuid}.pdf").status_code == 404
        assert "Billing</a>" not in client.get(f"/orgs/{acme.uuid}/team/").content.decode()
    client.force_login(charlie)
    assert client.get(f"/orgs/{acme.uuid}/billing/").status_code == 404
    assert client.get(f"/invoices/{january.uuid}.csv").status_code == 404


def test_page_queries_do_not_grow_with_rows(client, web, acme, alice, deploy, clock):
    def measure(url) -> int:
        client.force_login(alice)  # the clock moves months: sessions expire
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx)

    clock(at(2031, 4, 1, 0, 0))
    finish(deploy(web, alice, hostname="one"))
    clock(at(2031, 5, 1, 1, 0))
    usage.generate_invoices(usage.previous_month())
    urls = (f"/projects/{web.uuid}/usage/?month=2031-04", f"/orgs/{acme.uuid}/billing/")
    few = [measure(url) for url in urls]
    for n in range(3):
        finish(deploy(web, alice, hostname=f"more-{n}"))
    for month in (6, 7):
        clock(at(2031, month, 1, 1, 0))
        usage.generate_invoices(usage.previous_month())
    assert [measure(url) for url in urls] == few
