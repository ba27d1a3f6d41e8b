"""Creating, changing, operating and deleting devices through the API; batches; device IPs,
events and SSH keys; user data validation. Every refusal is Metal's {"errors": [...]} with
nothing written."""

import ipaddress
import threading

import pytest
from django.db import connection

from inventory import services as inventory_services
from inventory.models import IPReservation
from portal.errors import Conflict
from portal.models import Event
from provisioning import services
from provisioning.models import Batch, Device, IPAssignment, Operation
from tests import factories

pytestmark = pytest.mark.django_db

CREATE = {"plan": "c3.small.x86", "operating_system": "ubuntu_24_04", "metro": "sv"}


def create_url(world) -> str:
    return f"/metal/v1/projects/{world.web.uuid}/devices"


def errors(response, status: int) -> list[str]:
    assert response.status_code == status, response.content
    return response.json()["errors"]


def test_create_in_a_metro(api, world, catalogue):
    body = {**CREATE, "hostname": "web-1", "tags": ["a"], "customdata": {"k": 1}}
    response = api(world.tokens["carol"]).post(create_url(world), body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["hostname"] == "web-1" and data["state"] == "queued"
    assert data["tags"] == ["a"] and data["customdata"] == {"k": 1}
    assert data["metro"]["code"] == "sv"
    device = Device.objects.get(uuid=data["id"])
    assert device.created_by == world.carol
    assert Event.objects.filter(type="device.created", project=world.web).count() == 1


def test_create_the_way_packet_python_does(api, world, catalogue, custom_ipxe):
    # packet-python's create_device body, verbatim in its quirks.
    body = {
        "billing_cycle": "hourly",
        "facility": "sv16",
        "features": {},
        "hostname": "legacy",
        "locked": False,
        "operating_system": "",
        "ipxe_script_url": "http://boot.example/ipxe",
        "always_pxe": True,
        "plan": "c3.small.x86",
        "project_id": str(world.web.uuid),
        "project_ssh_keys": [],
        "public_ipv4_subnet_size": 31,
        "tags": {},
        "user_ssh_keys": [],
        "userdata": "",
    }
    response = api(world.tokens["alice"]).post(create_url(world), body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["facility"]["code"] == "sv16"
    assert data["operating_system"]["slug"] == "custom_ipxe"
    assert data["ssh_keys"] == []  # empty lists name no keys
    assert data["ipxe_script_url"] == "http://boot.example/ipxe" and data["always_pxe"] is True


@pytest.mark.parametrize(
    "location",
    [{"metro": "any"}, {"facility": "any"}, {"facility": ["ny5", "sv15"]}, {"metro": "ny,sv"}],
)
def test_any_location_and_priority_lists(api, world, catalogue, location):
    body = {**CREATE, **location}
    body.pop("metro") if "facility" in location else None
    response = api(world.tokens["alice"]).post(create_url(world), body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["metro"]["code"] == "sv"  # ny has no c3.small.x86 machine


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"plan": "nope.x86"}, "plan"),
        ({"plan": "t1.small.x86"}, "plan"),  # retired
        ({"operating_system": "windows_2022"}, "operating_system"),  # not on this plan
        ({"operating_system": ""}, "operating_system"),
        ({"metro": "zz"}, "metro"),
        ({"metro": None, "facility": "zz9"}, "facility"),
        ({"metro": None}, "metro"),
        ({"facility": "sv15"}, "metro"),  # both forms at once
        ({"hostname": "-bad-"}, "hostname"),
        ({"billing_cycle": "weekly"}, "billing_cycle"),
        ({"customdata": "x"}, "customdata"),
        ({"tags": "x"}, "tags"),
        ({"spot_instance": True}, "spot_instance"),
        ({"hardware_reservation_id": "next-available"}, "hardware_reservation_id"),
        ({"project_ssh_keys": ["00000000-0000-0000-0000-000000000000"]}, "project_ssh_keys"),
        ({"ip_addresses": [{"address_family": 6}]}, "ip_addresses"),
    ],
)
def test_bad_create_is_422_and_writes_nothing(api, world, catalogue, change, field):
    body = {k: v for k, v in {**CREATE, **change}.items() if v is not None}
    messages = errors(api(world.tokens["alice"]).post(create_url(world), body, format="json"), 422)
    assert messages[0].startswith(f"{field}:"), messages
    assert not Device.objects.exists()


def test_no_capacity_is_422_and_writes_nothing(api, world, catalogue):
    body = {**CREATE, "metro": "ny"}  # ny offers the plan but has no free machine
    messages = errors(api(world.tokens["alice"]).post(create_url(world), body, format="json"), 422)
    assert "ny" in messages[0]
    assert not Device.objects.exists() and not IPReservation.objects.exists()


def test_who_may_create(api, world, catalogue):
    def post(token):
        return api(token).post(create_url(world), CREATE, format="json")

    assert errors(post(world.tokens["lena"]), 403)  # limited collaborator: operate only
    assert errors(post(world.tokens["charlie"]), 404)
    assert errors(post(world.tokens["bill"]), 404)
    assert errors(post(factories.make_token(world.alice, read_only=True)), 403)
    assert errors(post(factories.make_token(world.alice, project=world.ops)), 404)
    assert errors(post(None), 401)
    assert not Device.objects.exists()
    assert post(factories.make_token(world.carol, project=world.web)).status_code == 201


def test_update_with_put_or_patch(api, world, deploy):
    device = deploy(world.web, world.alice)
    url = f"/metal/v1/devices/{device.uuid}"
    client = api(world.tokens["carol"])
    data = client.put(url, {"hostname": "renamed", "tags": ["x"]}, format="json").json()
    assert data["hostname"] == "renamed" and data["tags"] == ["x"]
    # packet-python's Device.update() sends every field, nulls for "unchanged".
    data = client.patch(
        url,
        {"hostname": "again", "locked": None, "description": None, "tags": {}, "userdata": None},
        format="json",
    ).json()
    assert data["hostname"] == "again" and data["tags"] == [] and data["locked"] is False
    assert errors(client.patch(url, {"hostname": "a b"}, format="json"), 422)[0].startswith(
        "hostname:"
    )
    assert errors(api(world.tokens["lena"]).patch(url, {"hostname": "x"}, format="json"), 403)
    assert errors(api(world.tokens["charlie"]).patch(url, {"hostname": "x"}, format="json"), 404)
    assert Device.objects.get(pk=device.pk).hostname == "again"


def test_delete(api, world, deploy):
    device = deploy(world.web, world.alice)
    url = f"/metal/v1/devices/{device.uuid}"
    assert errors(api(world.tokens["lena"]).delete(url), 403)
    assert errors(api(world.tokens["charlie"]).delete(url), 404)
    response = api(world.tokens["carol"]).delete(url)
    assert response.status_code == 204 and not response.content
    assert Device.objects.get(pk=device.pk).state == "deprovisioning"
    assert errors(api(world.tokens["carol"]).delete(url), 422)  # already being deleted


def test_locked_devices_refuse_deletion_and_force_delete_ends_a_running_action(api, world, deploy):
    device = deploy(world.web, world.alice, locked=True)
    url = f"/metal/v1/devices/{device.uuid}"
    client = api(world.tokens["alice"])
    assert "locked" in errors(client.delete(url), 422)[0]
    # A lock is the owner's guard against any deletion: force_delete does not get past it.
    assert "locked" in errors(client.delete(url, QUERY_STRING="force_delete=true"), 422)[0]
    assert Device.objects.get(pk=device.pk).state != "deprovisioning"
    client.patch(url, {"locked": False}, format="json")
    assert client.post(f"{url}/actions", {"type": "reboot"}, format="json").status_code == 202
    assert errors(client.delete(url), 422)  # the reboot is still running
    assert client.delete(url, QUERY_STRING="force_delete=true").status_code == 204
    assert device.operations.get(kind="reboot").state == Operation.State.CANCELLED


@pytest.mark.parametrize(
    ("action", "running"),
    [("power_off", "powering_off"), ("reboot", "active"), ("rescue", "active")],
)
def test_actions_answer_202_empty(api, world, deploy, action, running):
    device = deploy(world.web, world.alice)
    response = api(world.tokens["lena"]).post(
        f"/metal/v1/devices/{device.uuid}/actions", {"type": action}, format="json"
    )
    assert response.status_code == 202 and response.content == b""
    assert device.operations.get(state="running").kind == action
    assert Device.objects.get(pk=device.pk).state == running


def test_reinstall(api, world, deploy, catalogue):
    device = deploy(world.web, world.alice)
    url = f"/metal/v1/devices/{device.uuid}/actions"
    body = {"type": "reinstall", "operating_system": "ubuntu_24_04", "preserve_data": True}
    assert errors(api(world.tokens["lena"]).post(url, body, format="json"), 403)
    bad = {**body, "operating_system": "plan9"}
    assert errors(api(world.tokens["carol"]).post(url, bad, format="json"), 422)
    assert api(world.tokens["carol"]).post(url, body, format="json").status_code == 202
    operation = device.operations.get(state="running")
    assert operation.params == {
        "operating_system": "ubuntu_24_04",
        "preserve_data": True,
        "deprovision_fast": False,
    }
    assert Device.objects.get(pk=device.pk).state == "reinstalling"


def test_refused_actions(api, world, deploy):
    queued = deploy(world.web, world.alice, settle=False)
    url = f"/metal/v1/devices/{queued.uuid}/actions"
    client = api(world.tokens["alice"])
    assert "queued" in errors(client.post(url, {"type": "power_off"}, format="json"), 422)[0]
    assert errors(client.post(url, {"type": "explode"}, format="json"), 422)[0].startswith("type:")
    assert errors(client.post(url, {}, format="json"), 422)
    read_only = factories.make_token(world.alice, read_only=True)
    assert errors(api(read_only).post(url, {"type": "reboot"}, format="json"), 403)
    assert errors(api(world.tokens["charlie"]).post(url, {"type": "reboot"}, format="json"), 404)
    assert queued.operations.count() == 1  # only the provisioning


def test_device_events_newest_first_and_paged(api, world, deploy):
    device = deploy(world.web, world.alice)
    other = deploy(world.web, world.alice)
    client = api(world.tokens["alice"])
    client.post(f"/metal/v1/devices/{device.uuid}/actions", {"type": "reboot"}, format="json")
    url = f"/metal/v1/devices/{device.uuid}/events"
    body = client.get(url).json()
    assert [e["type"] for e in body["events"]] == ["device.reboot", "device.created"]
    assert body["meta"]["total"] == 2
    assert f"/metal/v1/devices/{device.uuid}" in {
        r["href"] for r in body["events"][0]["relationships"]
    }
    page = client.get(url, {"per_page": 1, "page": 2}).json()
    assert [e["type"] for e in page["events"]] == ["device.created"]
    assert page["meta"]["next"] is None
    assert str(other.uuid) not in str(body)
    assert api(world.tokens["charlie"]).get(url).status_code == 404


def test_device_ssh_keys(api, world, deploy):
    device = deploy(world.web, world.alice)
    body = api(world.tokens["lena"]).get(f"/metal/v1/devices/{device.uuid}/ssh-keys").json()
    assert {k["label"] for k in body["ssh_keys"]} == {"deploy", "laptop"}


def test_device_ips_and_elastic_assignment(api, world, deploy, catalogue):
    device = deploy(world.web, world.alice)
    client = api(world.tokens["alice"])
    url = f"/metal/v1/devices/{device.uuid}/ips"
    listed = client.get(url).json()["ip_addresses"]
    assert len(listed) == 3 and all("type" not in ip for ip in listed)
    reservation = client.post(
        f"/metal/v1/projects/{world.web.uuid}/ips",
        {"type": "public_ipv4", "quantity": 4, "metro": "sv"},
        format="json",
    ).json()
    network = f"{reservation['network']}/{reservation['cidr']}"
    assert errors(client.post(url, {"address": "192.0.2.1/40"}, format="json"), 422)
    assert errors(client.post(url, {"address": "192.0.2.0/30"}, format="json"), 422)[0].startswith(
        "address:"
    )
    assert errors(api(world.tokens["lena"]).post(url, {"address": network}, format="json"), 403)
    created = client.post(url, {"address": network, "manageable": True}, format="json")
    assert created.status_code == 201, created.content
    assignment = created.json()
    assert assignment["assigned_to"] == {"href": f"/metal/v1/devices/{device.uuid}"}
    assert "type" not in assignment
    assert errors(client.post(url, {"address": network}, format="json"), 422)  # taken

    # /ips/{id} answers for both: an assignment (assigned_to, no type) and a reservation.
    one = client.get(f"/metal/v1/ips/{assignment['id']}").json()
    assert one["assigned_to"] == assignment["assigned_to"] and "type" not in one
    held = client.get(f"/metal/v1/ips/{reservation['id']}").json()
    assert held["type"] == "public_ipv4" and "assigned_to" not in held
    assert held["assignments"] == [{"href": f"/metal/v1/ips/{assignment['id']}"}]
    free = client.get(f"/metal/v1/ips/{reservation['id']}/available", {"cidr": 32}).json()
    assert free["available"] == []  # the whole /30 is on the device
    assert api(world.tokens["charlie"]).get(f"/metal/v1/ips/{assignment['id']}").status_code == 404

    assert client.delete(f"/metal/v1/ips/{assignment['id']}").status_code == 204
    assert not IPAssignment.objects.filter(uuid=assignment["id"]).exists()
    own = listed[0]["id"]
    assert errors(client.delete(f"/metal/v1/ips/{own}"), 422)  # the server's own address


def test_userdata_validation(api, world):
    client = api(world.tokens["lena"])
    url = "/metal/v1/userdata/validate"
    assert client.post(url, QUERY_STRING="userdata=%23cloud-config%0Aa%3A%201").status_code == 204
    assert client.post(url, {"userdata": "#!/bin/sh\necho hi\n"}, format="json").status_code == 204
    assert errors(client.post(url, {"userdata": "echo hi"}, format="json"), 422)[0].startswith(
        "userdata:"
    )
    bad_yaml = {"userdata": "#cloud-config\na: [\n"}
    assert errors(client.post(url, bad_yaml, format="json"), 422)
    assert (
        api(factories.make_token(world.lena, read_only=True))
        .post(url, {"userdata": ""}, format="json")
        .status_code
        == 204
    )
    assert errors(api().post(url, {"userdata": ""}, format="json"), 401)


def test_batches(api, world, catalogue):
    client = api(world.tokens["carol"])
    url = f"/metal/v1/projects/{world.web.uuid}/devices/batch"
    body = {
        "batches": [
            {**CREATE, "hostnames": ["b-1", "b-2"], "quantity": 2},
            {**CREATE, "hostname": "solo", "facility": "sv16", "metro": None},
        ]
    }
    body["batches"][1].pop("metro")
    response = client.post(url, body, format="json")
    assert response.status_code == 201, response.content
    batches = response.json()["batches"]
    assert [b["quantity"] for b in batches] == [2, 1]
    assert all(b["state"] in {"queued", "in_progress", "completed", "failed"} for b in batches)
    first = Batch.objects.get(uuid=batches[0]["id"])
    assert set(first.devices.values_list("hostname", flat=True)) == {"b-1", "b-2"}
    assert len(batches[0]["devices"]) == 2 and set(batches[0]["devices"][0]) == {"href"}

    listed = client.get(f"/metal/v1/projects/{world.web.uuid}/batches").json()["batches"]
    assert {b["id"] for b in listed} == {b["id"] for b in batches}
    one = client.get(f"/metal/v1/batches/{first.uuid}", {"include": "devices"}).json()
    assert {d["hostname"] for d in one["devices"]} == {"b-1", "b-2"}
    assert client.get(f"/metal/v1/batches/{first.uuid}").status_code == 200
    assert api(world.tokens["charlie"]).get(f"/metal/v1/batches/{first.uuid}").status_code == 404
    assert errors(api(world.tokens["lena"]).delete(f"/metal/v1/batches/{first.uuid}"), 403)

    # Devices still settling cannot be deleted without force: settle them as a worker would.
    Operation.objects.update(state="succeeded")
    Device.objects.update(state="active")
    deleted = client.delete(
        f"/metal/v1/batches/{first.uuid}", QUERY_STRING="remove_associated_instances=true"
    )
    assert deleted.status_code == 204
    assert not Batch.objects.filter(pk=first.pk).exists()
    states = dict(Device.objects.values_list("hostname", "state"))
    assert states == {"b-1": "deprovisioning", "b-2": "deprovisioning", "solo": "active"}
    second = batches[1]["id"]
    assert client.delete(f"/metal/v1/batches/{second}").status_code == 204
    assert Device.objects.get(hostname="solo").state == "active"  # kept


def test_a_batch_that_cannot_be_built_creates_nothing(api, world, catalogue):
    url = f"/metal/v1/projects/{world.web.uuid}/devices/batch"
    body = {"batches": [{**CREATE, "quantity": 2}, {**CREATE, "quantity": 9}]}
    messages = errors(api(world.tokens["alice"]).post(url, body, format="json"), 422)
    assert messages[0].startswith("batch 2:"), messages
    assert not Batch.objects.exists() and not Device.objects.exists()
    assert errors(api(world.tokens["alice"]).post(url, {"batches": []}, format="json"), 422)
    body = {"batches": [{**CREATE, "plan": "nope"}]}
    assert errors(api(world.tokens["alice"]).post(url, body, format="json"), 422)
    assert errors(api(world.tokens["lena"]).post(url, {"batches": [CREATE]}, format="json"), 403)


def test_one_address_of_an_elastic_block(api, world, deploy, catalogue):
    # Terraform's equinix_metal_ip_attachment assigns "x.x.x.x/32" out of a larger block.
    web1, web2 = deploy(world.web, world.alice), deploy(world.web, world.alice, hostnames=["web-2"])
    client = api(world.tokens["alice"])
    reservation = client.post(
        f"/metal/v1/projects/{world.web.uuid}/ips",
        {"type": "public_ipv4", "quantity": 4, "metro": "sv"},
        format="json",
    ).json()
    block = ipaddress.ip_network(f"{reservation['network']}/{reservation['cidr']}")
    first, second = (f"{block[i]}/32" for i in (1, 2))

    def assign(device, address):
        url = f"/metal/v1/devices/{device.uuid}/ips"
        return client.post(url, {"address": address}, format="json")

    one = assign(web1, first)
    assert one.status_code == 201, one.content
    assert one.json()["address"] == str(block[1]) and one.json()["cidr"] == 32
    two = assign(web2, second)
    assert two.status_code == 201, two.content
    assert errors(assign(web2, first), 422)  # that address is taken
    assert errors(assign(web2, str(block)), 422)[0].startswith("address:")  # overlaps both
    held = client.get(f"/metal/v1/ips/{reservation['id']}").json()["assignments"]
    assert {h["href"] for h in held} == {
        f"/metal/v1/ips/{one.json()['id']}",
        f"/metal/v1/ips/{two.json()['id']}",
    }
    free = client.get(f"/metal/v1/ips/{reservation['id']}/available", {"cidr": 32}).json()
    assert sorted(free["available"]) == sorted(f"{block[i]}/32" for i in (0, 3))


@pytest.mark.django_db(transaction=True)
def test_parallel_assignments_of_one_block_never_overlap(world, deploy, catalogue):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is under test; run with DATABASE_URL=postgres://…")
    devices = [deploy(world.web, world.alice, hostnames=[f"web-{i}"]) for i in range(2)]
    reservation = inventory_services.reserve_ips(
        project=world.web,
        acting_user=world.alice,
        kind="public_ipv4",
        quantity=4,
        metro=catalogue.sv,
    )
    block = ipaddress.ip_network(reservation.network)
    # Every thread wants an address the others want too, or the whole block.
    wanted = [
        f"{block[1]}/32",
        f"{block[1]}/32",
        f"{block[2]}/32",
        str(block),
        str(block),
        f"{block[2]}/32",
    ]
    barrier = threading.Barrier(len(wanted))
    outcomes: list[str] = []

    def assign(device, network):
        try:
            barrier.wait()
            services.assign_ip(
                reservation=reservation, device=device, acting_user=world.alice, network=network
            )
            outcomes.append("assigned")
        except Conflict:
            outcomes.append("refused")
        finally:
            connection.close()

    pairs = [(devices[i % 2], network) for i, network in enumerate(wanted)]
    threads = [threading.Thread(target=assign, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [
        ipaddress.ip_network(n) for n in reservation.assignments.values_list("network", flat=True)
    ]
    assert len(outcomes) == len(wanted) and outcomes.count("assigned") == len(held) >= 1
    assert not any(a.overlaps(b) for i, a in enumerate(held) for b in held[i + 1 :])
