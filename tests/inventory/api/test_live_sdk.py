"""The real equinix==0.19.0 Metal SDK over HTTPS: its pydantic models validate every response
strictly (number types, enums, required hrefs, the /ips/{id} oneOf), so a wrong shape fails."""

import pytest
from equinix.services import metalv1
from equinix.services.metalv1.exceptions import ApiException

from tests import factories

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sdk(tls_live_server):
    """sdk(token) → an ApiClient for the TLS live server, trusting the test CA."""
    clients = []

    def client_for(token: str) -> metalv1.ApiClient:
        conf = metalv1.Configuration(
            host=tls_live_server.url + "/metal/v1",
            api_key={"x_auth_token": token},
            ssl_ca_cert=str(tls_live_server.ca_path),
        )
        clients.append(metalv1.ApiClient(conf))
        return clients[-1]

    yield client_for
    for client in clients:
        client.rest_client.pool_manager.clear()


def test_plans(sdk, world, catalogue):
    plans = metalv1.PlansApi(sdk(world.tokens["alice"]))
    every = plans.find_plans().plans
    assert [p.slug for p in every] == ["c3.small.x86", "s3.xlarge.x86", "m3.large.x86"]
    small = every[0]
    assert small.pricing == {"hour": 0.5}
    assert small.available_in_metros[1].price.hour == 0.5
    assert [a.href for a in small.available_in] == [
        f"/metal/v1/facilities/{f.uuid}" for f in (catalogue.ny5, catalogue.sv15, catalogue.sv16)
    ]
    assert small.var_class == "c3.small.x86"
    assert small.legacy is False
    assert small.specs.cpus[0].count == 1
    # The SDK sends categories%5B%5D=storage; workload_optimized must pass the type enum.
    storage = plans.find_plans(categories=["storage"]).plans
    assert [(p.slug, p.type) for p in storage] == [("s3.xlarge.x86", "workload_optimized")]
    assert storage[0].deployment_types == ["on_demand"]
    both = plans.find_plans(categories=["storage", "current_gen"], type="workload_optimized")
    assert [p.slug for p in both.plans] == ["s3.xlarge.x86"]
    assert [p.slug for p in plans.find_plans_by_project(str(world.web.uuid)).plans] == [
        p.slug for p in every
    ]
    with pytest.raises(ApiException) as hidden:
        metalv1.PlansApi(sdk(world.tokens["charlie"])).find_plans_by_project(str(world.web.uuid))
    assert hidden.value.status == 404


def test_metros_and_operating_systems(sdk, world, catalogue):
    client = sdk(world.tokens["carol"])
    metros = metalv1.MetrosApi(client)
    assert [m.code for m in metros.find_metros().metros] == ["ny", "sv"]
    sv = metros.get_metro(str(catalogue.sv.uuid))
    assert (sv.code, sv.name, sv.country, sv.href) == (
        "sv",
        "Silicon Valley",
        "US",
        f"/metal/v1/locations/metros/{catalogue.sv.uuid}",
    )
    systems = metalv1.OperatingSystemsApi(client)
    ubuntu, windows = systems.find_operating_systems().operating_systems
    assert ubuntu.provisionable_on == ["c3.small.x86", "m3.large.x86"]
    assert ubuntu.default_operating_system is True
    assert str(windows.release_date) == "2021-08-18"
    assert windows.pricing == {"hour": 0.25}
    versions = systems.find_operating_system_version().operating_systems
    assert [o.slug for o in versions] == ["ubuntu_24_04", "windows_2022"]


def test_capacity(sdk, world, catalogue):
    capacity = metalv1.CapacityApi(sdk(world.tokens["alice"]))
    report = capacity.find_capacity_for_metro().capacity
    assert report["sv"]["c3.small.x86"].available_servers == 4
    assert report["sv"]["c3.small.x86"].level == "limited"
    assert capacity.find_capacity_for_facility().capacity["ny5"]["s3.xlarge.x86"].level == (
        "limited"
    )
    checked = capacity.check_capacity_for_metro(
        metalv1.CapacityInput(
            servers=[
                metalv1.ServerInfo(metro="sv", plan="c3.small.x86", quantity="4"),
                metalv1.ServerInfo(metro="ny", plan="s3.xlarge.x86", quantity="2"),
            ]
        )
    ).servers
    assert [(s.metro, s.plan, s.quantity, s.available) for s in checked] == [
        ("sv", "c3.small.x86", "4", True),
        ("ny", "s3.xlarge.x86", "2", False),
    ]
    with pytest.raises(ApiException) as bad:
        capacity.check_capacity_for_metro(
            metalv1.CapacityInput(servers=[metalv1.ServerInfo(metro="sv", plan="x", quantity="1")])
        )
    assert bad.value.status == 422


def test_ip_reservations(sdk, world, catalogue):
    ips = metalv1.IPAddressesApi(sdk(world.tokens["carol"]))
    web = str(world.web.uuid)
    created = ips.request_ip_reservation(
        web,
        metalv1.RequestIPReservationRequest(
            metalv1.IPReservationRequestInput(
                type="public_ipv4",
                quantity=4,
                metro="sv",
                tags=["lb"],
                customdata={"owner": "carol"},
                details="frontends",
            )
        ),
    ).actual_instance
    assert isinstance(created, metalv1.IPReservation)
    assert (created.network, created.cidr, created.type) == ("198.51.100.0", 30, "public_ipv4")
    assert created.metro.code == "sv"
    assert created.project_lite.href == f"/metal/v1/projects/{web}"
    v6 = ips.request_ip_reservation(
        web,
        metalv1.RequestIPReservationRequest(
            metalv1.IPReservationRequestInput(type="public_ipv6", quantity=1, metro="sv")
        ),
    ).actual_instance

    listed = ips.find_ip_reservations(web, types=["public_ipv4"], include=["project"])
    assert [r.actual_instance.id for r in listed.ip_addresses] == [created.id]
    assert listed.ip_addresses[0].actual_instance.project.name == "web"
    assert listed.meta.total == 1
    assert ips.find_ip_reservations(web).meta.total == 2

    # The oneOf (IPAssignment | IPReservation | VrfIpReservation) must resolve to exactly one.
    found = ips.find_ip_address_by_id(created.id).actual_instance
    assert isinstance(found, metalv1.IPReservation)
    assert found.assignments == []
    assert found.customdata == {"owner": "carol"}

    updated = ips.update_ip_address(
        created.id,
        ip_assignment_update_input=metalv1.IPAssignmentUpdateInput(
            details="edge", tags=["lb", "prod"]
        ),
    ).actual_instance
    assert isinstance(updated, metalv1.IPReservation)
    assert (updated.details, updated.tags) == ("edge", ["lb", "prod"])

    free = ips.find_ip_availabilities(created.id, "31")
    assert free.available == ["198.51.100.0/31", "198.51.100.2/31"]
    assert len(ips.find_ip_availabilities(v6.id, "64").available) == 256

    ips.delete_ip_address(created.id)
    with pytest.raises(ApiException) as gone:
        ips.find_ip_address_by_id(created.id)
    assert gone.value.status == 404


def test_limited_and_read_only_keys_cannot_reserve(sdk, world, catalogue):
    body = metalv1.RequestIPReservationRequest(
        metalv1.IPReservationRequestInput(type="public_ipv4", quantity=1, metro="sv")
    )
    for token in (world.tokens["lena"], factories.make_token(world.alice, read_only=True)):
        with pytest.raises(ApiException) as refused:
            metalv1.IPAddressesApi(sdk(token)).request_ip_reservation(str(world.web.uuid), body)
        assert refused.value.status == 403
