"""Catalogue endpoints: plans (with Metal's filters), metros, legacy facilities, operating
systems. Shapes follow the SDK-patched spec: JSON numbers for prices, enum-only values."""

import pytest

from portal.hrefs import href_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_api(api, world):
    return api(world.tokens["alice"])


def _slugs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [plan["slug"] for plan in response.json()["plans"]]


def test_plans_list_offered_plans_cheapest_first_without_meta(alice_api, catalogue):
    body = alice_api.get("/metal/v1/plans").json()
    assert [p["slug"] for p in body["plans"]] == ["c3.small.x86", "s3.xlarge.x86", "m3.large.x86"]
    assert "meta" not in body  # the catalogue is not paged in the spec


def test_plan_shape(alice_api, catalogue):
    c = catalogue
    [plan] = alice_api.get("/metal/v1/plans?slug=c3.small.x86").json()["plans"]
    assert plan["id"] == str(c.small.uuid)
    assert plan["href"] == f"/metal/v1/plans/{c.small.uuid}"
    assert plan["pricing"] == {"hour": 0.5}
    assert isinstance(plan["pricing"]["hour"], float)
    # Offered in sv and ny, so in every facility of both, each with the plan's price.
    assert plan["available_in"] == [
        {"href": href_for(f), "price": {"hour": 0.5}} for f in (c.ny5, c.sv15, c.sv16)
    ]
    assert plan["available_in_metros"] == [
        {"href": href_for(m), "price": {"hour": 0.5}} for m in (c.ny, c.sv)
    ]
    assert plan["class"] == "c3.small.x86"
    assert plan["line"] == "baremetal"
    assert plan["type"] == "standard"
    assert plan["categories"] == ["compute"]
    assert plan["deployment_types"] == ["on_demand"]
    assert plan["legacy"] is False
    assert plan["specs"]["cpus"] == [{"count": 1, "type": "Intel Xeon E-2278G"}]


def test_plan_drops_deployment_types_outside_the_sdk_enum(alice_api, catalogue):
    [plan] = alice_api.get("/metal/v1/plans?slug=s3.xlarge.x86").json()["plans"]
    assert plan["deployment_types"] == ["on_demand"]  # "reserved" would fail the SDK
    assert plan["type"] == "workload_optimized"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("categories[]=storage", ["s3.xlarge.x86"]),
        ("categories%5B%5D=current_gen", ["m3.large.x86"]),
        ("categories=compute", ["c3.small.x86", "m3.large.x86"]),
        ("categories[]=storage&categories[]=current_gen", ["s3.xlarge.x86", "m3.large.x86"]),
        ("categories=storage,current_gen", ["s3.xlarge.x86", "m3.large.x86"]),
        ("categories[]=legacy_gen", []),
        ("type=workload_optimized", ["s3.xlarge.x86"]),
        ("type=standard&categories[]=compute", ["c3.small.x86", "m3.large.x86"]),
        ("slug=m3.large.x86", ["m3.large.x86"]),
        ("slug=t1.small.x86", []),  # retired plans are not offered
    ],
)
def test_plan_filters(alice_api, catalogue, query, expected):
    assert _slugs(alice_api.get(f"/metal/v1/plans?{query}")) == expected


def test_unknown_plan_type_is_422(alice_api, catalogue):
    response = alice_api.get("/metal/v1/plans?type=huge")
    assert response.status_code == 422
    assert response.json()["errors"][0].startswith("type:")


def test_project_and_organization_plans(alice_api, world, catalogue):
    every = ["c3.small.x86", "s3.xlarge.x86", "m3.large.x86"]
    assert _slugs(alice_api.get(f"/metal/v1/projects/{world.web.uuid}/plans")) == every
    assert _slugs(alice_api.get(f"/metal/v1/organizations/{world.acme.uuid}/plans")) == every
    filtered = alice_api.get(f"/metal/v1/projects/{world.web.uuid}/plans?categories[]=storage")
    assert _slugs(filtered) == ["s3.xlarge.x86"]


def test_metros(alice_api, catalogue):
    body = alice_api.get("/metal/v1/locations/metros").json()
    assert "meta" not in body
    assert body["metros"] == [
        {
            "id": str(m.uuid),
            "href": f"/metal/v1/locations/metros/{m.uuid}",
            "code": m.code,
            "name": m.name,
            "country": "US",
        }
        for m in (catalogue.ny, catalogue.sv)
    ]


@pytest.mark.parametrize("key", ["uuid", "code"])
def test_metro_by_id_or_code(alice_api, catalogue, key):
    response = alice_api.get(f"/metal/v1/locations/metros/{getattr(catalogue.sv, key)}")
    assert response.status_code == 200
    assert response.json()["code"] == "sv"
    assert response.json()["id"] == str(catalogue.sv.uuid)


@pytest.mark.parametrize("missing", ["zz", "6a1f9a4e-0000-4000-8000-000000000000"])
def test_unknown_metro_is_404(alice_api, catalogue, missing):
    response = alice_api.get(f"/metal/v1/locations/metros/{missing}")
    assert response.status_code == 404
    assert response.json() == {"errors": ["Not found"]}


def test_facilities(alice_api, catalogue):
    body = alice_api.get("/metal/v1/facilities").json()
    assert [f["code"] for f in body["facilities"]] == ["ny5", "sv15", "sv16"]
    sv15 = body["facilities"][1]
    assert sv15["id"] == str(catalogue.sv15.uuid)
    assert sv15["href"] == f"/metal/v1/facilities/{catalogue.sv15.uuid}"
    assert sv15["features"] == ["baremetal", "layer_2"]  # legacy "storage" left out
    # Address values are strings (the SDK's Address is StrictStr), unknown keys dropped.
    assert sv15["address"] == {
        "address": "1 Infinite Loop",
        "city": "Cupertino",
        "zip_code": "95014",
    }
    assert sv15["metro"] == {
        "id": str(catalogue.sv.uuid),
        "href": f"/metal/v1/locations/metros/{catalogue.sv.uuid}",
        "code": "sv",
        "name": "Silicon Valley",
        "country": "US",
    }
    assert sv15["ip_ranges"] == []


def test_facility_metro_collapses_under_exclude(alice_api, catalogue):
    body = alice_api.get("/metal/v1/facilities?exclude=metro").json()
    assert body["facilities"][0]["metro"] == {"href": href_for(catalogue.ny)}


def test_operating_systems(alice_api, catalogue):
    body = alice_api.get("/metal/v1/operating-systems").json()
    assert "meta" not in body
    ubuntu, windows = body["operating_systems"]
    assert ubuntu["slug"] == "ubuntu_24_04"
    assert ubuntu["href"] == f"/metal/v1/operating-systems/{catalogue.ubuntu.uuid}"
    assert ubuntu["distro"] == "ubuntu"
    assert ubuntu["version"] == "24.04"
    assert ubuntu["provisionable_on"] == ["c3.small.x86", "m3.large.x86"]
    assert ubuntu["default_operating_system"] is True
    assert ubuntu["licensed"] is False
    assert ubuntu["pricing"] == {}
    assert ubuntu["lifecycle_state"] == "active"
    assert "release_date" not in ubuntu  # a date or nothing, never null
    assert windows["licensed"] is True
    assert windows["pricing"] == {"hour": 0.25}
    assert windows["release_date"] == "2021-08-18"
    assert windows["provisionable_on"] == ["m3.large.x86"]
    # How an image boots is the operator's business, not the tenant's.
    assert not {"kernel_url", "initrd_url", "image_url", "custom_ipxe"} & set(ubuntu)


def test_operating_system_versions_and_organization_list(alice_api, world, catalogue):
    from tests.inventory import factories as inv

    inv.make_os("ubuntu_22_04")
    versions = alice_api.get("/metal/v1/operating-system-versions").json()
    assert [o["slug"] for o in versions["operating_systems"]] == [
        "ubuntu_22_04",
        "ubuntu_24_04",
        "windows_2022",
    ]
    org = alice_api.get(f"/metal/v1/organizations/{world.acme.uuid}/operating-systems").json()
    assert {o["slug"] for o in org["operating_systems"]} == {
        "ubuntu_22_04",
        "ubuntu_24_04",
        "windows_2022",
    }
