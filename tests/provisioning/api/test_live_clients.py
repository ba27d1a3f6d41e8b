"""The whole story with clients nobody here wrote, on PostgreSQL with a real Celery worker and
a zero-delay virtual rack (tests/e2e): catalogue, capacity, project, SSH key, a device deployed
to active, pages, power off/on, reboot, reinstall, events, IPs, update, delete, and the refusals
(bad plan 422, foreign project 404, read-only key 403, no key 401).

packet-python speaks only HTTPS (tests/tls_server.py); the equinix SDK validates every
response with its strict pydantic models. One device per client carries the whole story."""

import time

import packet
import pytest
from equinix.services import metalv1
from equinix.services.metalv1.exceptions import ApiException

from provisioning.models import Device
from tests import factories
from tests.e2e.conftest import e2e  # noqa: F401 - the fixture, for this module

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def wait_for_state(read, state: str, e2e, timeout: float = 90.0):  # noqa: F811
    """Poll `read()` (a client call returning the device) until it reports `state`."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = read()
        if seen.state == state:
            return seen
        assert seen.state != "failed", e2e.worker.tail()
        time.sleep(0.2)
    pytest.fail(f"device stayed {seen.state if seen else '?'}, wanted {state}\n{e2e.worker.tail()}")


def wait_settled(device_id, e2e):  # noqa: F811
    """Until no operation runs on the device (reboot and rescue keep it active throughout)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not Device.objects.get(uuid=device_id).operations.filter(state="running").exists():
            return
        time.sleep(0.2)
    pytest.fail(f"operation did not finish\n{e2e.worker.tail()}")


@pytest.fixture
def people(e2e):  # noqa: F811
    """An owner with an organization and a token, a read-only token, and an outsider's project."""
    owner = factories.make_user("olive@example.com", first_name="Olive")
    org = factories.make_org(owner, "Olive Co")
    outsider = factories.make_user("oscar@example.com")
    return {
        "owner": owner,
        "org": org,
        "token": factories.make_token(owner),
        "read_only": factories.make_token(owner, read_only=True),
        "foreign_project": factories.make_project(factories.make_org(outsider, "Oscar Co")),
    }


def test_packet_python_story(e2e, tls_live_server, people):  # noqa: F811
    manager = packet.Manager(auth_token=people["token"])
    manager.end_point = f"{tls_live_server.netloc}/metal/v1"

    assert "c3.small.x86" in {p.slug for p in manager.list_plans()}
    assert "sv" in {m.code for m in manager.list_metros()}
    assert "ubuntu_24_04" in {o.slug for o in manager.list_operating_systems()}
    assert manager.validate_metro_capacity([("sv", "c3.small.x86", 1)]) is True

    project = manager.create_project("pp")
    manager.create_project_ssh_key(project.id, "ci", factories.new_ssh_public_key())
    device = manager.create_device(
        project_id=project.id,
        hostname="pp-1",
        plan="c3.small.x86",
        metro="sv",
        operating_system="ubuntu_24_04",
        tags=["story"],
    )
    assert device.state == "queued" and device.operating_system.slug == "ubuntu_24_04"
    device = wait_for_state(lambda: manager.get_device(device.id), "active", e2e)

    assert [d.id for d in manager.list_all_devices(project.id)] == [device.id]
    assert manager.meta["next"] is None

    device.power_off()
    wait_for_state(lambda: manager.get_device(device.id), "inactive", e2e)
    device.power_on()
    wait_for_state(lambda: manager.get_device(device.id), "active", e2e)
    device.reboot()
    wait_settled(device.id, e2e)
    device.reinstall(operating_system="debian_12")
    device = wait_for_state(lambda: manager.get_device(device.id), "active", e2e)
    assert device.operating_system.slug == "debian_12"

    types = [e.type for e in manager.list_device_events(device.id)]
    assert types[0].startswith("device.reinstall")  # newest first
    assert {"device.reboot", "device.reinstall"} <= set(types)
    assert manager.meta["total"] > len(types)  # created, power off/on, outcomes: on page 2
    ips = manager.list_device_ips(device.id)
    assert sorted((ip.address_family, ip.public) for ip in ips) == [
        (4, False),
        (4, True),
        (6, True),
    ]

    device.hostname, device.tags = "pp-renamed", ["story", "renamed"]
    device.update()  # PATCH with every field, nulls included
    again = manager.get_device(device.id)
    assert (again.hostname, again.tags) == ("pp-renamed", ["story", "renamed"])
    again.delete()
    wait_for_state(lambda: Device.objects.get(uuid=device.id), "deleted", e2e)

    with pytest.raises(packet.baseapi.ResponseError, match="422"):
        manager.create_device(
            project.id, "x", "nope.x86", metro="sv", operating_system="ubuntu_24_04"
        )
    with pytest.raises(packet.baseapi.ResponseError, match="404"):
        manager.list_devices(str(people["foreign_project"].uuid))
    read_only = packet.Manager(auth_token=people["read_only"])
    read_only.end_point = manager.end_point
    with pytest.raises(packet.baseapi.ResponseError, match="403"):
        read_only.create_device(
            project.id, "x", "c3.small.x86", metro="sv", operating_system="ubuntu_24_04"
        )
    anonymous = packet.Manager(auth_token="")
    anonymous.end_point = manager.end_point
    with pytest.raises(packet.baseapi.ResponseError, match="401"):
        anonymous.list_devices(project.id)


def test_equinix_sdk_story(e2e, tls_live_server, people):  # noqa: F811
    def client(token: str | None) -> metalv1.ApiClient:
        conf = metalv1.Configuration(
            host=tls_live_server.url + "/metal/v1", ssl_ca_cert=str(tls_live_server.ca_path)
        )
        if token:
            conf.api_key["x_auth_token"] = token
        return metalv1.ApiClient(conf)

    sdk = client(people["token"])
    assert "c3.small.x86" in {p.slug for p in metalv1.PlansApi(sdk).find_plans().plans}
    assert "sv" in {m.code for m in metalv1.MetrosApi(sdk).find_metros().metros}
    systems = metalv1.OperatingSystemsApi(sdk).find_operating_systems().operating_systems
    assert "debian_12" in {o.slug for o in systems}
    capacity = metalv1.CapacityApi(sdk).check_capacity_for_metro(
        metalv1.CapacityInput(
            servers=[metalv1.ServerInfo(metro="sv", plan="c3.small.x86", quantity="2")]
        )
    )
    assert capacity.servers[0].available is True

    project = metalv1.ProjectsApi(sdk).create_project(
        metalv1.ProjectCreateFromRootInput(name="sdk", organization_id=str(people["org"].uuid))
    )
    metalv1.SSHKeysApi(sdk).create_ssh_key(
        metalv1.SSHKeyCreateInput(label="laptop", key=factories.new_ssh_public_key())
    )
    devices = metalv1.DevicesApi(sdk)
    batches = metalv1.BatchesApi(sdk).create_device_batch(
        str(project.id),
        metalv1.InstancesBatchCreateInput(
            batches=[
                metalv1.InstancesBatchCreateInputBatchesInner(
                    hostnames=["sdk-1", "sdk-2"],
                    quantity=2,
                    metro=metalv1.MetroInputMetro("sv"),
                    plan="c3.small.x86",
                    operating_system="ubuntu_24_04",
                )
            ]
        ),
    )
    assert batches.batches[0].quantity == 2
    created = devices.create_device(
        str(project.id),
        metalv1.CreateDeviceRequest(
            metalv1.DeviceCreateInMetroInput(
                metro=metalv1.MetroInputMetro("sv"),
                hostname="sdk-3",
                plan="c3.small.x86",
                operating_system="ubuntu_24_04",
                tags=["story"],
            )
        ),
    )
    device_id = str(created.id)
    device = wait_for_state(lambda: devices.find_device_by_id(device_id), "active", e2e)
    assert device.created_by.short_id and device.ip_addresses[0].assigned_to.href

    every = devices.find_project_devices_all_pages(str(project.id), per_page=1)
    assert sorted(d.hostname for d in every.devices) == ["sdk-1", "sdk-2", "sdk-3"]

    def act(kind: str, **extra):
        devices.perform_action(device_id, metalv1.DeviceActionInput(type=kind, **extra))

    act("power_off")
    wait_for_state(lambda: devices.find_device_by_id(device_id), "inactive", e2e)
    act("power_on")
    wait_for_state(lambda: devices.find_device_by_id(device_id), "active", e2e)
    act("reboot")
    wait_settled(device_id, e2e)
    act("reinstall", operating_system="debian_12")
    device = wait_for_state(lambda: devices.find_device_by_id(device_id), "active", e2e)
    assert device.operating_system.slug == "debian_12"

    events = metalv1.EventsApi(sdk).find_device_events(device_id).events
    assert events[0].type.startswith("device.reinstall")
    assignments = devices.find_ip_assignments(device_id).ip_addresses
    assert len(assignments) == 3
    one = metalv1.IPAddressesApi(sdk).find_ip_address_by_id(str(assignments[0].id))
    assert one.actual_instance.assigned_to.href == f"/metal/v1/devices/{device_id}"

    updated = devices.update_device(
        device_id, metalv1.DeviceUpdateInput(hostname="sdk-renamed", tags=["x"])
    )
    assert (updated.hostname, updated.tags) == ("sdk-renamed", ["x"])
    devices.delete_device(device_id)
    metalv1.BatchesApi(sdk).delete_batch(
        str(batches.batches[0].id), remove_associated_instances=True
    )
    assert devices.find_project_devices(str(project.id)).devices == [] or all(
        d.state == "deprovisioning" for d in devices.find_project_devices(str(project.id)).devices
    )

    def refused(call, token=people["token"]) -> int:
        with pytest.raises(ApiException) as error:
            call(metalv1.DevicesApi(client(token)))
        assert error.value.body and '"errors"' in error.value.body
        return error.value.status

    request = metalv1.CreateDeviceRequest(
        metalv1.DeviceCreateInMetroInput(
            metro=metalv1.MetroInputMetro("sv"), plan="nope.x86", operating_system="ubuntu_24_04"
        )
    )
    assert refused(lambda api: api.create_device(str(project.id), request)) == 422
    foreign = str(people["foreign_project"].uuid)
    assert refused(lambda api: api.find_project_devices(foreign)) == 404
    good = metalv1.CreateDeviceRequest(
        metalv1.DeviceCreateInMetroInput(
            metro=metalv1.MetroInputMetro("sv"),
            plan="c3.small.x86",
            operating_system="ubuntu_24_04",
        )
    )
    assert refused(lambda api: api.create_device(str(project.id), good), people["read_only"]) == 403
    assert refused(lambda api: api.find_project_devices(str(project.id)), None) == 401
