"""Machines list (filters, search, counts, pages, bulk actions) and machine detail (facts,
power check against the real sushy-tools emulator, history)."""

import re

import pytest
from django.urls import reverse

from inventory import enrollment, services
from inventory.models import Machine
from portal.models import Event
from tests.inventory import factories as inv
from tests.inventory.conftest import PASSWORD, USERNAME

from .conftest import HTMX

LIST = "/operator/"
ACTIONS = "/operator/machines/actions/"


def names(page: str) -> list[str]:
    return re.findall(r'class="fw-semibold" href="/operator/machines/[^"]+/">([^<]+)</a>', page)


@pytest.fixture
def fleet(site):
    """Machines in two metros, one in use and one in maintenance with a fault."""
    ny = inv.make_facility(inv.make_metro("ny", "New York"), "ny5")
    small, big = (inv.make_plan(s) for s in ("c3.small.x86", "m3.large.x86"))
    machines = {
        "sv-small": inv.make_machine(site, small),
        "sv-big": inv.make_machine(site, big),
        "sv-busy": inv.make_machine(site, small, state="in_use"),
        "ny-small": inv.make_machine(ny, small),
        "ny-fault": inv.make_machine(ny, big, state="maintenance"),
    }
    Machine.objects.filter(pk=machines["ny-fault"].pk).update(fault_reason="PSU 2 failed")
    for machine in machines.values():
        machine.refresh_from_db()
    return machines


def test_filters_narrow_the_list(staff_client, fleet):
    f = fleet
    cases = {
        "?metro=ny": {f["ny-small"].name, f["ny-fault"].name},
        "?facility=sv15&plan=c3.small.x86": {f["sv-small"].name, f["sv-busy"].name},
        "?state=in_use": {f["sv-busy"].name},
        "?fault=on": {f["ny-fault"].name},
        "?metro=nowhere": set(Machine.objects.values_list("name", flat=True)),
    }
    for query, expected in cases.items():
        assert set(names(staff_client.get(LIST + query).content.decode())) == expected, query


def test_search_by_name_serial_mac_and_bmc_address(staff_client, fleet):
    machine = fleet["sv-big"]
    mac = machine.nics.get().mac_address
    for term in (
        machine.name,
        machine.serial_number.lower(),
        mac.upper().replace(":", "-"),
        machine.bmc_address.split("//")[1],
    ):
        page = staff_client.get(LIST, {"q": term}).content.decode()
        assert names(page) == [machine.name], term


def test_counts_per_state_follow_the_other_filters(staff_client, fleet):
    page = staff_client.get(LIST + "?metro=sv").content.decode()
    assert 'data-state="available">2<' in page and 'data-state="in_use">1<' in page
    # States with no machine under the filters are left out, unless they are the one picked.
    assert 'data-state="maintenance"' not in page
    assert 'data-state="retired">0<' in staff_client.get(LIST + "?state=retired").content.decode()


def test_filtering_by_htmx_returns_only_the_list_with_real_links(staff_client, fleet):
    response = staff_client.get(LIST + "?metro=ny", headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith('<div id="machines">')
    assert 'href="?metro=ny&amp;state=available"' in page
    assert response["Vary"] == "HX-Request" or "HX-Request" in response["Vary"]


def test_pages_link_with_htmx_and_plain_hrefs(staff_client, site, settings):
    plan = inv.make_plan()
    for _ in range(51):
        inv.make_machine(site, plan)
    first = staff_client.get(LIST + "?plan=c3.small.x86").content.decode()
    assert len(names(first)) == 50
    assert 'href="?plan=c3.small.x86&amp;page=2" hx-get="?plan=c3.small.x86&amp;page=2"' in first
    second = staff_client.get(LIST + "?plan=c3.small.x86&page=2", headers=HTMX).content.decode()
    assert len(names(second)) == 1 and "Page 2 of 2" in second
    # Past the end (a page number no database offset can hold, too): the last page.
    beyond = staff_client.get(LIST + "?plan=c3.small.x86&page=99999999999999999999")
    assert beyond.status_code == 200 and "Page 2 of 2" in beyond.content.decode()


def test_bulk_maintenance_on_reports_each_machine(staff_client, fleet, operator):
    picked = [fleet["sv-small"], fleet["sv-busy"]]
    response = staff_client.post(
        ACTIONS + "?metro=sv",
        {"machines": [m.uuid for m in picked], "action": "maintenance_on", "reason": "DIMM swap"},
        headers=HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert f"<strong>{fleet['sv-small'].name}</strong>: now maintenance" in page
    assert f"<strong>{fleet['sv-busy'].name}</strong>: unchanged: in_use" in page
    fresh = {m.name: m for m in Machine.objects.all()}
    assert (fresh[fleet["sv-small"].name].state, fresh[fleet["sv-small"].name].fault_reason) == (
        "maintenance",
        "DIMM swap",
    )
    assert fresh[fleet["sv-busy"].name].state == "in_use"
    # The list under the result kept the operator's filter.
    assert set(names(page)) == {fleet[k].name for k in ("sv-small", "sv-big", "sv-busy")}
    assert Event.objects.filter(type="machine.maintenance_on", modified_by=operator).count() == 1


def test_bulk_maintenance_off_and_retire(staff_client, fleet):
    faulty, busy, idle = fleet["ny-fault"], fleet["sv-busy"], fleet["ny-small"]
    page = staff_client.post(
        ACTIONS, {"machines": [faulty.uuid, idle.uuid], "action": "maintenance_off"}
    ).content.decode()
    assert f"<strong>{faulty.name}</strong>: now available" in page
    assert f"<strong>{idle.name}</strong>: unchanged: available" in page
    page = staff_client.post(
        ACTIONS, {"machines": [idle.uuid, busy.uuid], "action": "retire"}
    ).content.decode()
    assert f"<strong>{idle.name}</strong>: retired" in page
    assert f"<strong>{busy.name}</strong>: unchanged: in_use" in page
    states = dict(Machine.objects.values_list("name", "state"))
    assert (states[faulty.name], states[idle.name], states[busy.name]) == (
        "available",
        "retired",
        "in_use",
    )


def test_bulk_action_without_machines_says_so(staff_client, fleet):
    page = staff_client.post(ACTIONS, {"action": "retire"}).content.decode()
    assert "Select at least one machine." in page
    assert not Machine.objects.filter(state="retired").exists()


@pytest.fixture
def enrolled(site, operator, redfish_url):
    """node1, enrolled through the emulator as an operator would."""
    request = enrollment.EnrollmentRequest(
        driver="redfish",
        address=redfish_url,
        username=USERNAME,
        password=PASSWORD,
        facility="sv15",
        rack="r7",
        rack_unit=3,
    )
    return enrollment.enroll(request, acting_user=operator).machine


def test_detail_shows_facts_bmc_and_history_but_never_the_password(staff_client, enrolled):
    url = reverse("inventory:machine", args=[enrolled.uuid])
    page = staff_client.get(url).content.decode()
    for fact in (
        "m3.large.x86",
        "sv15",
        "r7",
        "unit 3",
        "SN-0001",
        "Acme Servers R640",
        "2 × Xeon Gold 6338",
        "128 GiB",
        "nvme0n1",
        "52:54:00:aa:00:01",
        enrolled.bmc_address,
        "Redfish",
        "never checked",
    ):
        assert fact in page, fact
    assert f"Olga enrolled {enrolled.name} (m3.large.x86) in sv15" in page
    assert PASSWORD not in page


def test_history_is_newest_first(staff_client, enrolled, operator):
    services.set_machines_maintenance(machines=[enrolled], acting_user=operator, on=True)
    page = staff_client.get(reverse("inventory:machine", args=[enrolled.uuid])).content.decode()
    assert page.index("put SN-0001 in maintenance") < page.index("enrolled SN-0001")
    assert "Set by an operator" in page  # the fault reason the service recorded


def test_check_power_against_the_emulator(staff_client, enrolled, operator):
    url = reverse("inventory:machine-power", args=[enrolled.uuid])
    response = staff_client.post(url, headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith('<section id="power"')
    assert 'data-power="off"' in page
    assert "checked 0\xa0minutes ago" in re.sub(r"<[^>]+>", "", page)
    assert "machine-changed" in response["HX-Trigger"]
    enrolled.refresh_from_db()
    assert enrolled.power_state == "off" and enrolled.power_checked_at is not None
    assert Event.objects.filter(type="machine.power_checked", modified_by=operator).exists()
    history = staff_client.get(
        reverse("inventory:machine", args=[enrolled.uuid]), headers=HTMX
    ).content.decode()
    assert history.lstrip().startswith('<div id="history"') and "power: off" in history


def test_check_power_on_a_closed_port_shows_the_error_sentence(staff_client, site, closed_port):
    machine = inv.make_machine(site, None)
    Machine.objects.filter(pk=machine.pk).update(
        bmc_address=f"http://127.0.0.1:{closed_port}", power_state="on"
    )
    response = staff_client.post(
        reverse("inventory:machine-power", args=[machine.uuid]), headers=HTMX
    )
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert "The BMC is unreachable or not answering" in page
    assert 'data-power="unknown"' in page
    machine.refresh_from_db()
    assert machine.power_state == "unknown"
