"""A server's whole life on PostgreSQL, with a real Celery worker process, the live portal's
boot path and a virtual rack: deploy → active → power off/on → reboot → reinstall → rescue →
delete, and the faults a datacenter throws at it."""

import http.client
import json

import pytest
import requests

from inventory.models import IPReservation, Machine, Metro, OperatingSystem, Plan
from portal.models import Event
from provisioning import reconciler, services
from provisioning.models import Device, Operation
from tests.waiting import wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def deploy(project, user, **fields) -> Device:
    request = services.DeviceRequest(
        plan=Plan.objects.get(slug="c3.small.x86"),
        operating_system=OperatingSystem.objects.get(slug="ubuntu_24_04"),
        metros=[Metro.objects.get(code="sv")],
        **fields,
    )
    [device] = services.create_devices(project=project, acting_user=user, request=request)
    return device


def metadata_from(e2e, source: str) -> tuple[int, dict]:
    """GET /metadata from a source address, as a server there would."""
    host, port = e2e.live_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5, source_address=(source, 0))
    try:
        connection.request("GET", "/metadata")
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def settle(e2e, device: Device, state: str, timeout: float = 60.0) -> Device:
    def reached():
        current = Device.objects.get(pk=device.pk)
        if current.state == "failed" and state != "failed":
            pytest.fail(f"{device.hostname} failed: {current.failure_reason}\n{e2e.worker.tail()}")
        return current if current.state == state else None

    return wait_until(
        reached, timeout, what=f"{device.hostname} to be {state}\n{e2e.worker.tail()}"
    )


def server_of(e2e, device: Device) -> str:
    return Machine.objects.get(device=device).name


def paths(e2e, name: str) -> list[str]:
    return [r.path.lstrip("/") for r in e2e.rack.history(name)]


def test_a_server_lives_and_dies(e2e, web, alice):
    device = deploy(web, alice, userdata="#!/bin/sh\necho hello\n")
    device = settle(e2e, device, "active")
    name = server_of(e2e, device)
    seen = paths(e2e, name)
    for expected in (
        "boot/ipxe",
        "boot/agent/v1/instructions",
        "boot/agent/v1/done",
        "metadata",
        "userdata",
        "phone-home",
    ):
        assert expected in seen, (expected, seen)
    # Every request came from the address the portal reserved for the machine at enrollment.
    machine = Machine.objects.get(pk=device.machine_id)
    assert {r.source for r in e2e.rack.history(name)} == {machine.provisioning_address}
    assert device.provisioning_percentage == 100

    # Metadata is served to the machine itself only: not to an unknown address, nor to another
    # machine's (one with no device).
    response = requests.get(f"{e2e.live_server.url}/metadata", timeout=5)  # from 127.0.0.1
    assert response.status_code == 404
    other = Machine.objects.exclude(pk=device.machine_id).first()
    assert metadata_from(e2e, other.provisioning_address)[0] == 404
    status, body = metadata_from(e2e, machine.provisioning_address)
    assert (status, body["id"]) == (200, str(device.uuid))

    services.perform_action(device=device, acting_user=alice, action="power_off")
    settle(e2e, device, "inactive")
    assert e2e.rack.status(name)["power"] == "off"
    services.perform_action(device=device, acting_user=alice, action="power_on")
    settle(e2e, device, "active")
    services.perform_action(device=device, acting_user=alice, action="reboot")
    wait_until(
        lambda: not device.operations.filter(state="running").exists(), 30, what="reboot to finish"
    )
    debian = OperatingSystem.objects.get(slug="debian_12")
    services.perform_action(
        device=Device.objects.get(pk=device.pk),
        acting_user=alice,
        action="reinstall",
        operating_system=debian,
    )
    device = settle(e2e, device, "active")
    assert device.operating_system == debian
    assert "debian_12" in e2e.rack.status(name)["os"]["image_url"]
    services.perform_action(device=device, acting_user=alice, action="rescue")
    wait_until(
        lambda: device.operations.filter(kind="rescue", state="succeeded").exists(),
        30,
        what="rescue",
    )
    assert e2e.rack.status(name)["environment"] == "rescue"

    services.delete_device(device=Device.objects.get(pk=device.pk), acting_user=alice)
    settle(e2e, device, "deleted")
    machine = Machine.objects.get(name=name)
    assert machine.state == "available"
    assert not IPReservation.objects.filter(project=web, management=True).exists()


def test_killed_worker_mid_provisioning_still_ends_settled(e2e, web, alice, settings):
    device = deploy(web, alice)
    wait_until(
        lambda: device.operations.filter(steps__state="done").exists(), 30, what="a first step done"
    )
    e2e.worker.kill()
    e2e.worker.start()
    settings.STEP_LEASE_SECONDS = 10

    def settled():
        reconciler.reconcile()  # beat's job; this test has no beat process
        return Device.objects.get(pk=device.pk).state in ("active", "failed")

    wait_until(settled, 90, interval=1, what=f"settled after SIGKILL\n{e2e.worker.tail()}")
    device.refresh_from_db()
    if device.state == "failed":
        assert device.failure_reason
    assert not Operation.objects.filter(device=device, state="running").exists()
    busy = Machine.objects.filter(state__in=["allocated", "deploying"]).count()
    assert busy == 0


def fails_over(e2e, web, alice, fault: str) -> tuple[Device, Machine]:
    """Deploy onto the first available machine, which has `fault`: the device lands active on
    another one (the reconciler runs as beat would). Returns the device and the faulty machine,
    as they end."""
    first = Machine.objects.filter(state="available").order_by("pk").first()
    e2e.rack.inject(first.name, fault)
    device = deploy(web, alice)
    assert device.machine_id == first.pk

    def landed():
        reconciler.reconcile()
        return Device.objects.get(pk=device.pk).state == "active"

    wait_until(landed, 90, interval=1, what=f"failover\n{e2e.worker.tail()}")
    first.refresh_from_db()
    device.refresh_from_db()
    assert device.machine_id != first.pk
    return device, first


def test_a_dead_server_is_parked_and_the_device_lands_elsewhere(e2e, web, alice, settings):
    settings.OPERATION_DEADLINE_SECONDS = 5
    _, first = fails_over(e2e, web, alice, "dead")
    assert first.state == "maintenance" and "Timed out" in first.fault_reason


def test_a_dead_installer_is_booted_once_more_then_its_machine_given_up(e2e, web, alice, settings):
    # Its calls are its heartbeat: an installer that dies mid-install is noticed long before
    # the operation's deadline.
    settings.AGENT_SILENCE_SECONDS = 2
    device, first = fails_over(e2e, web, alice, "agent-crash")
    assert first.state == "maintenance" and "installer stopped answering" in first.fault_reason
    # Two boots into the installer on the first machine: the second came from the restart.
    boots = [r for r in e2e.rack.history(first.name) if r.path == "/boot/ipxe" and "mac=" in r.url]
    assert len(boots) == 2
    restarted = Event.objects.filter(
        type="provisioning.installer_restarted", relations__object_id=device.uuid
    )
    assert restarted.count() == 1
