"""Enrollment through the page, against the real sushy-tools emulator."""

from django.urls import reverse

from inventory.models import Machine
from tests.inventory.conftest import NODE1, NODE2, PASSWORD, USERNAME

from .conftest import HTMX

URL = "/operator/enroll/"


def single(url, **overrides):
    data = {
        "mode": "single",
        "single-driver": "redfish",
        "single-address": url,
        "single-username": USERNAME,
        "single-password": PASSWORD,
        "single-facility": "sv15",
        "single-rack": "r1",
        "single-rack_unit": "12",
        "single-verify_tls": "on",
    }
    return {**data, **overrides}


def test_one_good_bmc_is_enrolled_and_shown(staff_client, site, redfish_url):
    response = staff_client.post(URL, single(redfish_url), headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    machine = Machine.objects.get()
    assert (machine.name, machine.plan.slug) == ("SN-0001", "m3.large.x86")
    assert machine.state == "available"
    assert (machine.rack.name, machine.rack_unit) == ("r1", 12)
    assert "Results: 1 of 1 enrolled" in page
    assert f'href="{reverse("inventory:machine", args=[machine.uuid])}"' in page
    assert "Enrolled as" in page and "m3.large.x86" in page
    assert PASSWORD not in page
    listing = staff_client.get(reverse("inventory:machines")).content.decode()
    assert "SN-0001" in listing


def test_a_refused_bmc_keeps_the_form_but_never_the_password(staff_client, site, redfish_url):
    response = staff_client.post(
        URL, single(redfish_url, **{"single-password": "wrong-pw-123", "single-name": "keepme"})
    )
    page = response.content.decode()
    assert "The BMC refused the credentials" in page
    assert 'value="keepme"' in page and f'value="{redfish_url}"' in page
    assert "wrong-pw-123" not in page
    assert not Machine.objects.exists()


def test_missing_fields_are_field_errors_before_any_bmc_call(staff_client, site):
    page = staff_client.post(URL, {"mode": "single", "single-driver": "redfish"}).content
    assert b'id="id_single-address_error"' in page and b'id="id_single-password_error"' in page
    assert b"Results:" not in page


def test_csv_with_a_good_row_and_a_wrong_password(staff_client, site, start_redfish):
    url = start_redfish(systems=[NODE1, NODE2])
    text = "\n".join(
        [
            "driver,address,username,password,facility,system_id",
            f"redfish,{url},{USERNAME},{PASSWORD},sv15,{NODE1['uuid']}",
            f"redfish,{url},{USERNAME},not-it-42,sv15,{NODE2['uuid']}",
        ]
    )
    response = staff_client.post(URL, {"mode": "csv", "csv-csv_text": text}, headers=HTMX)
    page = response.content.decode()
    assert list(Machine.objects.values_list("serial_number", flat=True)) == ["SN-0001"]
    assert "Results: 1 of 2 enrolled" in page
    assert page.count('class="table-success"') == 1 and page.count('class="table-danger"') == 1
    assert "The BMC refused the credentials" in page
    # The CSV holds passwords: it is not rendered back into the textarea.
    assert PASSWORD not in page and "not-it-42" not in page


def test_csv_upload_as_a_file(staff_client, site, redfish_url):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "bmcs.csv", f"redfish,{redfish_url},{USERNAME},{PASSWORD},sv15\n".encode(), "text/csv"
    )
    page = staff_client.post(URL, {"mode": "csv", "csv-csv_file": upload}).content.decode()
    assert "Results: 1 of 1 enrolled" in page
    assert Machine.objects.filter(serial_number="SN-0001").exists()


def test_redfish_bmc_on_a_closed_port_is_an_unreachable_row(staff_client, site, closed_port):
    text = f"redfish,http://127.0.0.1:{closed_port},{USERNAME},{PASSWORD},sv15"
    page = staff_client.post(URL, {"mode": "csv", "csv-csv_text": text}).content.decode()
    assert "Results: 0 of 1 enrolled" in page
    assert "The BMC is unreachable or not answering" in page
    assert not Machine.objects.exists()


def test_malformed_csv_is_a_form_error(staff_client, site):
    page = staff_client.post(
        URL, {"mode": "csv", "csv-csv_text": "redfish,http://127.0.0.1:1,admin,,sv15"}
    ).content.decode()
    assert "CSV row 1: missing password." in page
    assert "Results:" not in page
