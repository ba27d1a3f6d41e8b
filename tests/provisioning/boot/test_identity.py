"""No caller can pose as another machine: the attack chain an outside probe ran against the boot
path (claim a MAC, then read the machine's user data and keys, forge its reports, take its
installer token and fail its install) gets 403/404 at every step and changes nothing, from an
address Ironyard gave nobody and from another tenant's own server alike."""

import json

import pytest
from django.test import Client

from inventory.models import Machine
from portal.models import Event, Project
from provisioning import services
from provisioning.models import Device, Operation, Step

from .conftest import activate, open_operation, stage
from .test_agent import booted

UNKNOWN = "127.9.9.9"


@pytest.fixture
def victim(deploy):
    """Alice's server, installing: its installer holds a token; its user data has a secret."""
    device = deploy("victim-01", userdata="#cloud-config\n# secret: s3cr3t\n")
    operation = open_operation(device)
    stage(operation, "await_agent")
    return device, operation, booted(operation)


@pytest.fixture
def tenant_server(rack, charlie, django_capture_on_commit_callbacks):
    """Charlie's own server, active, in the same facility: his machine's address is one
    Ironyard assigned, on the same provisioning network as the victim's."""
    with django_capture_on_commit_callbacks(execute=False):
        [device] = services.create_devices(
            project=Project.objects.for_user(charlie).get(),
            acting_user=charlie,
            request=services.DeviceRequest(
                plan=rack.plan,
                metros=[rack.metro],
                hostnames=["charlie-01"],
                operating_system=rack.os,
                userdata="#cloud-config\n# charlie's own\n",
            ),
        )
    return activate(device)


def snapshot() -> dict:
    """Everything the boot path could change, but the record of refused requests."""
    return {
        "machines": list(
            Machine.objects.order_by("pk").values_list(
                "pk", "state", "fault_reason", "provisioning_address", "provisioning_network_id"
            )
        ),
        "operations": list(
            Operation.objects.order_by("pk").values_list(
                "pk", "state", "error", "agent_token_digest", "agent_address", "agent_seen_at"
            )
        ),
        "steps": list(Step.objects.order_by("pk").values_list("pk", "state", "generation")),
        "devices": list(
            Device.objects.order_by("pk").values_list(
                "pk", "state", "current_step", "provisioning_percentage", "machine_id"
            )
        ),
        "events": list(
            Event.objects.exclude(type="machine.boot_identity_refused")
            .order_by("pk")
            .values_list("pk", "type")
        ),
    }


def attack(address: str, victim_device: Device, token: str) -> list:
    """The probe's chain, from `address`; returns every response."""
    client = Client(REMOTE_ADDR=address)
    mac = victim_device.machine.nics.first().mac_address
    agent = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def post(path, body, **extra):
        return client.post(path, json.dumps(body), content_type="application/json", **extra)

    return [
        client.get("/boot/ipxe", {"mac": mac}),
        client.get("/boot/ipxe", {"mac": mac.upper().replace(":", "-")}),
        client.get("/userdata"),
        client.get("/metadata"),
        client.get("/2009-04-04/meta-data/public-keys"),
        client.get("/2009-04-04/user-data"),
        post("/phone-home", {"instance_id": str(victim_device.uuid)}),
        post("/user-state", {"state": "failed", "code": 1000, "message": "forged"}),
        client.get("/boot/agent/v1/instructions", **agent),
        post("/boot/agent/v1/progress", {"step": "write_image", "percent": 0}, **agent),
        post("/boot/agent/v1/fail", {"step": "write_image", "message": "forged"}, **agent),
        post("/boot/agent/v1/done", {}, **agent),
        # Again, as the probe did to drain the pool.
        post("/boot/agent/v1/fail", {"step": "wipe_disks", "message": "forged"}, **agent),
    ]


def leaks(response, victim_device: Device) -> bool:
    body = response.content.decode(errors="replace")
    return "s3cr3t" in body or str(victim_device.uuid) in body or "victim-01" in body


@pytest.mark.parametrize("allowed", [[], ["127.0.0.0/8"]])
def test_an_address_ironyard_gave_nobody_gets_nothing_and_changes_nothing(
    victim, settings, allowed
):
    settings.BOOT_ALLOWED_NETWORKS = allowed
    device, operation, token = victim
    before = snapshot()
    responses = attack(UNKNOWN, device, token)
    assert [r.status_code for r in responses] == [404] * 8 + [403] * 5
    assert not any(leaks(r, device) for r in responses)
    assert snapshot() == before
    _still_the_victims(device, operation, token)


def test_another_tenants_server_cannot_pose_as_the_victim(victim, tenant_server, rack, settings):
    # The provisioning network is the only place the boot path answers: the attacker is on it.
    settings.BOOT_ALLOWED_NETWORKS = [rack.facility.provisioning_networks.get().network]
    device, operation, token = victim
    attacker = tenant_server.machine.provisioning_address
    before = snapshot()
    responses = attack(attacker, device, token)
    statuses = [r.status_code for r in responses]
    # Its own metadata service answers it about its own server, and only that; its own reports
    # are its own server's. Everything aimed at the victim is refused.
    assert statuses[:2] == [403, 403]
    assert statuses[8:] == [403] * 5
    assert not any(leaks(r, device) for r in responses)
    assert responses[3].json()["id"] == str(tenant_server.uuid)
    assert "charlie's own" in responses[2].content.decode()
    after = snapshot()
    own = Event.objects.filter(relations__object_id=tenant_server.uuid).values_list("pk", "type")
    assert {e for e in after["events"] if e not in before["events"]} == set(own) - set(
        before["events"]
    )
    assert {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"
    }
    # The MAC claims are on the record of the machine whose address made them.
    refused = Event.objects.filter(type="machine.boot_identity_refused")
    machines = {r.object_id for e in refused for r in e.relations.all()}
    assert machines == {tenant_server.machine.uuid, device.machine.uuid}
    _still_the_victims(device, operation, token)


def _still_the_victims(device: Device, operation: Operation, token: str) -> None:
    """The victim itself is unaffected: its token works from its address, and its next network
    boot gets the installer."""
    own = Client(REMOTE_ADDR=device.machine.provisioning_address)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert own.get("/boot/agent/v1/instructions", **auth).status_code == 200
    script = own.get("/boot/ipxe", {"mac": device.machine.nics.first().mac_address})
    assert script.status_code == 200
    assert "ironyard.token=" in script.content.decode()
    operation.refresh_from_db()
    assert operation.state == Operation.State.RUNNING
