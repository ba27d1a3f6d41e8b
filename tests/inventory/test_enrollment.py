"""Enrollment through real BMC protocols: sushy against sushy-tools, pyghmi against a fake BMC."""

import pytest
from django.db import connection

from inventory import bmc_access, enrollment
from inventory.models import Machine
from portal.errors import Forbidden
from tests import factories
from tests.inventory import factories as inv
from tests.inventory.conftest import NODE1, NODE2, PASSWORD, USERNAME


@pytest.fixture
def operator(db):
    return factories.make_user("ops@example.com", staff=True)


@pytest.fixture
def site(db):
    metro = inv.make_metro("sv")
    facility = inv.make_facility(metro, "sv15")
    big = inv.make_plan("m3.large.x86", price="3.00", metros=[metro])
    big.match_cpu_count, big.match_memory_gib = 2, 128
    big.save()
    small = inv.make_plan("c3.small.x86", metros=[metro])
    small.match_cpu_count, small.match_memory_gib = 1, 32
    small.save()
    return facility


def request(url, **overrides):
    fields = {
        "driver": "redfish",
        "address": url,
        "username": USERNAME,
        "password": PASSWORD,
        "facility": "sv15",
    }
    return enrollment.EnrollmentRequest(**{**fields, **overrides})


def test_redfish_machine_is_discovered_matched_and_made_available(site, operator, redfish_url):
    result = enrollment.enroll(request(redfish_url, rack="r1", rack_unit=12), acting_user=operator)
    assert result.error == ""
    machine = Machine.objects.get(pk=result.machine.pk)
    assert (machine.plan.slug, machine.state) == ("m3.large.x86", "available")
    assert (machine.serial_number, machine.cpu_count, machine.memory_gib) == ("SN-0001", 2, 128)
    assert str(machine.system_uuid) == NODE1["uuid"]
    assert sorted(machine.nics.values_list("mac_address", flat=True)) == [
        "52:54:00:aa:00:01",
        "52:54:00:aa:00:02",
    ]
    assert (machine.rack.name, machine.rack_unit) == ("r1", 12)


def test_bmc_credentials_are_encrypted_at_rest(site, operator, redfish_url):
    result = enrollment.enroll(request(redfish_url), acting_user=operator)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bmc_password, bmc_username FROM inventory_machine WHERE id = %s",
            [result.machine.pk],
        )
        stored_password, stored_user = cursor.fetchone()
    assert PASSWORD not in stored_password and USERNAME not in stored_user
    assert Machine.objects.get(pk=result.machine.pk).bmc_password == PASSWORD


def test_wrong_password_is_a_clear_error_and_creates_nothing(site, operator, redfish_url):
    result = enrollment.enroll(request(redfish_url, password="wrong"), acting_user=operator)
    assert result.error.startswith("The BMC refused the credentials")
    assert not Machine.objects.exists()


def test_unreachable_bmc_is_reported(site, operator, closed_port):
    result = enrollment.enroll(request(f"http://127.0.0.1:{closed_port}"), acting_user=operator)
    assert "unreachable" in result.error
    assert not Machine.objects.exists()


def test_hardware_matching_no_plan_is_refused_unless_a_plan_is_named(site, operator, start_redfish):
    odd = {**NODE2, "memory_gib": 48}
    url = start_redfish(systems=[odd])
    assert (
        "Unknown hardware: 1 CPU socket(s), 48 GiB"
        in enrollment.enroll(request(url), acting_user=operator).error
    )
    named = enrollment.enroll(request(url, plan="c3.small.x86"), acting_user=operator)
    assert named.ok and named.machine.plan.slug == "c3.small.x86"


def test_enrolling_the_same_bmc_twice_is_refused(site, operator, redfish_url):
    assert enrollment.enroll(request(redfish_url), acting_user=operator).ok
    again = enrollment.enroll(request(redfish_url), acting_user=operator)
    assert "already belongs to" in again.error
    assert Machine.objects.count() == 1


def test_csv_enrollment_reports_each_row(site, operator, start_redfish, closed_port):
    url = start_redfish(systems=[NODE1, NODE2])
    text = "\n".join(
        [
            "driver,address,username,password,facility,system_id",
            f"redfish,{url},{USERNAME},{PASSWORD},sv15,{NODE1['uuid']}",
            f"redfish,{url},{USERNAME},{PASSWORD},sv15,{NODE2['uuid']}",
            f"redfish,{url},{USERNAME},nope,sv15,{NODE2['uuid']}",
            f"redfish,http://127.0.0.1:{closed_port},{USERNAME},{PASSWORD},sv15,x",
            f"redfish,{url},{USERNAME},{PASSWORD},nowhere,x",
        ]
    )
    results = enrollment.enroll_many(enrollment.parse_csv(text), acting_user=operator)
    assert [r.ok for r in results] == [True, True, False, False, False]
    assert results[0].machine.plan.slug == "m3.large.x86"
    assert results[1].machine.plan.slug == "c3.small.x86"
    assert "credentials" in results[2].error
    assert "unreachable" in results[3].error
    assert results[4].error == "Unknown facility 'nowhere'."
    assert Machine.objects.count() == 2


def test_several_systems_behind_one_bmc_need_a_system_id(site, operator, start_redfish):
    url = start_redfish(systems=[NODE1, NODE2])
    result = enrollment.enroll(request(url), acting_user=operator)
    assert NODE1["uuid"] in result.error and NODE2["uuid"] in result.error


def test_ipmi_machine_enrolls_with_a_named_plan_and_given_macs(site, operator, ipmi_bmcs):
    result = enrollment.enroll(
        request(
            ipmi_bmcs["ipmi1"], driver="ipmi", plan="m3.large.x86", macs=("52:54:00:CC:00:01",)
        ),
        acting_user=operator,
    )
    assert result.ok, result.error
    assert (result.machine.serial_number, result.machine.bmc_driver) == ("SN-0001", "ipmi")
    assert list(result.machine.nics.values_list("mac_address", flat=True)) == ["52:54:00:cc:00:01"]


def test_a_machine_without_any_known_mac_cannot_be_enrolled(site, operator, ipmi_bmcs):
    # IPMI reports no NICs; without a MAC the machine could never boot from the network.
    result = enrollment.enroll(
        request(ipmi_bmcs["ipmi1"], driver="ipmi", plan="m3.large.x86"), acting_user=operator
    )
    assert "MAC addresses" in result.error
    assert not Machine.objects.exists()


def test_csv_macs_column_is_read(site):
    [parsed] = enrollment.parse_csv(
        "driver,address,username,password,facility,macs\n"
        "ipmi,127.0.0.1:623,admin,pw,sv15,52:54:00:00:00:01;52:54:00:00:00:02\n"
    )
    assert parsed.macs == ("52:54:00:00:00:01", "52:54:00:00:00:02")


def test_check_power_reads_the_bmc_and_stores_it(site, operator, redfish_url):
    machine = enrollment.enroll(request(redfish_url), acting_user=operator).machine
    assert bmc_access.check_power(machine, acting_user=operator) == "off"
    machine.refresh_from_db()
    assert machine.power_state == "off" and machine.power_checked_at is not None


def test_only_operators_enroll(site, alice, redfish_url):
    with pytest.raises(Forbidden):
        enrollment.enroll(request(redfish_url), acting_user=alice)


def test_csv_rows_missing_fields_are_refused_before_any_bmc_call():
    with pytest.raises(enrollment.ServiceError, match="CSV row 1: missing password"):
        enrollment.parse_csv("redfish,http://127.0.0.1:1,admin,,sv15")


def test_enroll_command_prints_one_line_per_machine(site, operator, start_redfish, tmp_path):
    import io

    from django.core.management import CommandError, call_command

    url = start_redfish(systems=[NODE1, NODE2])
    csv_file = tmp_path / "rack.csv"
    csv_file.write_text(
        f"redfish,{url},{USERNAME},{PASSWORD},sv15,{NODE1['uuid']}\n"
        f"redfish,{url},{USERNAME},bad,sv15,{NODE2['uuid']}\n"
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2"):
        call_command("enroll_machines", "--as", operator.email, "--csv", str(csv_file), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("enrolled SN-0001 (m3.large.x86)")
    assert lines[1].startswith(f"FAILED {url}: The BMC refused the credentials")
