"""The catalogue editors: create and edit through the page, model errors next to the field."""

import pytest
from django.urls import reverse

from inventory.models import Facility, IPBlock, Metro, OperatingSystem, Plan, ProvisioningNetwork
from portal.models import Event
from tests.inventory import factories as inv

from .conftest import HTMX


def plan_post(metros, **overrides):
    data = {
        "slug": "n3.xlarge.x86",
        "name": "n3.xlarge.x86",
        "plan_class": "n3.xlarge.x86",
        "type": "standard",
        "categories": "compute, network",
        "description": "Network-heavy.",
        "hourly_price": "2.25",
        "specs": '{"cpus": [{"count": 2, "type": "AMD EPYC"}], "memory": {"total": "512GB"}}',
        "deployment_types": ["on_demand", "spot_market"],
        "metros": [m.uuid for m in metros],
        "match_cpu_count": "2",
        "match_memory_gib": "512",
        "active": "on",
    }
    return {**data, **overrides}


def test_create_a_plan(staff_client, site, operator):
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["plans"]), plan_post([site.metro])
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("inventory:catalogue-list", args=["plans"])
    plan = Plan.objects.get(slug="n3.xlarge.x86")
    assert plan.categories == ["compute", "network"]
    assert plan.deployment_types == ["on_demand", "spot_market"]
    assert plan.specs["memory"] == {"total": "512GB"}
    assert (plan.match_cpu_count, plan.match_memory_gib, str(plan.hourly_price)) == (
        2,
        512,
        "2.2500",
    )
    assert list(plan.metros.values_list("code", flat=True)) == ["sv"]
    assert Event.objects.filter(type="plan.created", modified_by=operator).exists()
    listing = staff_client.get(response["Location"]).content.decode()
    assert "n3.xlarge.x86" in listing and "2 CPU · 512 GiB" in listing


def test_edit_a_plan_keeps_the_rest(staff_client, site):
    plan = Plan.objects.get(slug="c3.small.x86")
    url = reverse("inventory:catalogue-edit", args=["plans", plan.uuid])
    form = staff_client.get(url).content.decode()
    assert 'value="c3.small.x86"' in form and "Intel Xeon E-2278G" in form
    response = staff_client.post(
        url,
        plan_post(
            [],
            slug="c3.small.x86",
            name="C3 Small",
            hourly_price="0.60",
            specs='{"cpus": [{"count": 1, "type": "Intel Xeon E-2278G"}]}',
            match_cpu_count="1",
            match_memory_gib="32",
        ),
        headers=HTMX,
    )
    assert response.status_code == 200 and response["HX-Redirect"].endswith("/catalogue/plans/")
    plan.refresh_from_db()
    assert (plan.name, str(plan.hourly_price)) == ("C3 Small", "0.6000")
    assert not plan.metros.exists()


def test_bad_slug_is_shown_at_the_field_and_the_input_is_kept(staff_client, site):
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["plans"]),
        plan_post([site.metro], slug="Bad Slug!", description="Keep me"),
        headers=HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert 'id="id_slug_error"' in page and "Lower-case slug" in page
    assert 'value="Bad Slug!"' in page and "Keep me" in page and "512GB" in page
    assert 'class="form-control is-invalid"' in page
    assert not Plan.objects.filter(name="n3.xlarge.x86").exists()


def test_specs_must_have_the_metal_shape(staff_client, site):
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["plans"]),
        plan_post([site.metro], specs='{"cpus": {"count": 2}}'),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "&quot;cpus&quot; must be a list of objects." in page
    assert not Plan.objects.filter(slug="n3.xlarge.x86").exists()


def test_create_and_edit_an_ip_block(staff_client, site):
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["ip-blocks"]),
        {"kind": "public_ipv4", "network": "203.0.113.0/24", "metro": site.metro.pk},
    )
    assert response.status_code == 302
    block = IPBlock.objects.get(network="203.0.113.0/24")
    assert block.metro == site.metro
    response = staff_client.post(
        reverse("inventory:catalogue-edit", args=["ip-blocks", block.uuid]),
        {
            "kind": "public_ipv4",
            "network": "203.0.113.0/24",
            "metro": site.metro.pk,
            "facility": site.pk,
            "description": "rack row A",
        },
    )
    assert response.status_code == 302
    block.refresh_from_db()
    assert (block.facility, block.description) == (site, "rack row A")
    assert "203.0.113.0/24" in staff_client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ("203.0.113.5/24", "has host bits set"),
        ("not-a-network", "does not appear to be an IPv4 or IPv6 network"),
        ("2001:db8::/48", "A public_ipv4 block must be IPv4."),
    ],
)
def test_invalid_cidr_is_shown_at_the_field_and_kept(staff_client, site, network, message):
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["ip-blocks"]),
        {"kind": "public_ipv4", "network": network, "metro": site.metro.pk, "description": "x1"},
        headers=HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 200 and "<html" not in page
    assert 'id="id_network_error"' in page and message in page
    assert f'value="{network}"' in page and 'value="x1"' in page
    assert not IPBlock.objects.exists()


def test_non_global_block_needs_a_metro(staff_client, db):
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["ip-blocks"]),
        {"kind": "private_ipv4", "network": "10.0.0.0/16"},
    )
    assert 'id="id_metro_error"' in response.content.decode()


def test_create_a_metro_and_a_facility_with_features_and_address(staff_client, db):
    staff_client.post(
        reverse("inventory:catalogue-new", args=["metros"]),
        {"code": "am", "name": "Amsterdam", "country": "NL"},
    )
    metro = Metro.objects.get(code="am")
    page = staff_client.get(reverse("inventory:catalogue-new", args=["facilities"])).content
    assert b'value="baremetal"' in page and b'value="layer_2"' in page
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["facilities"]),
        {
            "code": "am6",
            "name": "AM6 Amsterdam",
            "metro": metro.pk,
            "features": ["baremetal", "ibx"],
            "address_city": "Amsterdam",
            "address_country": "NL",
        },
    )
    assert response.status_code == 302
    facility = Facility.objects.get(code="am6")
    assert facility.features == ["baremetal", "ibx"]
    assert facility.address == {"city": "Amsterdam", "country": "NL"}
    edit = staff_client.get(reverse("inventory:catalogue-edit", args=["facilities", facility.uuid]))
    assert b'value="Amsterdam"' in edit.content


def test_duplicate_metro_code_is_a_field_error(staff_client, site):
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["metros"]),
        {"code": "sv", "name": "Again", "country": "US"},
    )
    assert 'id="id_code_error"' in response.content.decode()
    assert Metro.objects.count() == 1


def test_operating_system_needs_a_boot_path_unless_custom_ipxe(staff_client, site):
    plan = Plan.objects.get(slug="c3.small.x86")
    url = reverse("inventory:catalogue-new", args=["operating-systems"])
    data = {
        "slug": "debian_13",
        "name": "Debian 13",
        "distro": "debian",
        "version": "13",
        "provisionable_on": [plan.uuid],
        "hourly_price": "0",
        "lifecycle_state": "active",
        "release_date": "2025-08-09",
    }
    refused = staff_client.post(url, data).content.decode()
    assert "An installable OS needs a kernel URL and an image URL." in refused
    assert 'value="2025-08-09"' in refused
    data.update(kernel_url="http://img.invalid/vmlinuz", image_url="http://img.invalid/d13.raw")
    refused = staff_client.post(url, data).content.decode()
    assert "An image needs its SHA-256 checksum." in refused
    data.update(image_checksum="sha256:" + "0" * 63 + "A")
    assert (
        "sha256: followed by the 64 lower-case hex digits"
        in staff_client.post(url, data).content.decode()
    )
    # The portal's own builds are named by their path on it.
    data.update(
        image_checksum="sha256:" + "0" * 64,
        kernel_url="/boot/files/installer/0123abcd/vmlinuz",
        image_format="raw",
    )
    assert staff_client.post(url, data).status_code == 302
    os_ = OperatingSystem.objects.get(slug="debian_13")
    assert list(os_.provisionable_on.all()) == [plan]
    assert str(os_.release_date) == "2025-08-09"


def test_a_provisioning_network_is_added_and_addresses_the_facilitys_machines(staff_client, site):
    site.provisioning_networks.all().delete()
    waiting = inv.make_machine(site, None)
    assert waiting.provisioning_address is None
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["provisioning-networks"]),
        {"facility": site.pk, "network": "10.250.0.0/22", "gateway": "10.250.0.1"},
    )
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.provisioning_address == "10.250.0.2"
    listing = staff_client.get(response["Location"]).content.decode()
    assert "10.250.0.0/22" in listing and "sv15" in listing
    detail = staff_client.get(reverse("inventory:machine", args=[waiting.uuid])).content.decode()
    assert "10.250.0.2" in detail and "10.250.0.0/22" in detail


def test_an_overlapping_provisioning_network_is_a_field_error(staff_client, site):
    taken = site.provisioning_networks.get().network
    response = staff_client.post(
        reverse("inventory:catalogue-new", args=["provisioning-networks"]),
        {"facility": site.pk, "network": taken, "description": "dup"},
        headers=HTMX,
    )
    page = response.content.decode()
    assert response.status_code == 200 and 'id="id_network_error"' in page
    assert f"Overlaps {taken}" in page and 'value="dup"' in page
    assert ProvisioningNetwork.objects.count() == 1
