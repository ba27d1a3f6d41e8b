"""The rack's in-band side against the portal's real boot path (a live server, the real views,
the ledger), not the protocol double: a server network-boots, runs the installer agent, reboots
into what it installed, reads its metadata, runs its user data and phones home, and the ledger
sees each step land. No worker runs: the test plays the BMC steps the runner would, so what is
checked is the conversation between the rack and the portal alone.

(test_inband.py keeps the double for what the real portal cannot be made to do on demand:
answer 503, lose a connection, refuse a token half-way.)"""

import pytest
from django.db import connection

from inventory import demo
from inventory.models import Machine, Metro, OperatingSystem, Plan
from portal.models import Event
from provisioning import services
from provisioning.models import Device, Operation, Step
from provisioning.virtualrack import RackConfig, VirtualRack
from provisioning.virtualrack.dhcp import Dhcp, from_portal_database
from provisioning.virtualrack.enroll import enroll_rack
from provisioning.virtualrack.server import ON
from tests import factories
from tests.waiting import wait_until

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def rack(settings, live_server):
    if connection.vendor != "postgresql":
        pytest.skip("the rack's threads and the live server share the database: PostgreSQL")
    settings.BOOT_BASE_URL = settings.SITE_URL = live_server.url
    demo.seed_catalogue()
    config = RackConfig(servers=2, facilities=("sv15",), portal_url=live_server.url).zero_delay()
    rack = VirtualRack(config, dhcp=Dhcp(from_portal_database)).start()
    operator = factories.make_user("ops@example.com", staff=True)
    assert all(r.ok for r in enroll_rack(rack.inventory(), acting_user=operator))
    yield rack
    rack.stop()


def _deploy(user, project, **fields) -> Device:
    # on_commit is real here (transactional test): the doorbell goes to a broker no worker of
    # this test reads, and the runner's part is played below.
    [device] = services.create_devices(
        project=project,
        acting_user=user,
        request=services.DeviceRequest(
            plan=Plan.objects.get(slug="c3.small.x86"),
            operating_system=OperatingSystem.objects.get(slug="ubuntu_24_04"),
            metros=[Metro.objects.get(code="sv")],
            **fields,
        ),
    )
    return device


def _power_cycle_into_the_installer(rack, operation: Operation) -> None:
    """What set_boot_pxe and power_cycle do through the BMC, and the ledger's record of it."""
    machine = operation.machine
    Step.objects.filter(operation=operation, name__in=["set_boot_pxe", "power_cycle"]).update(
        state=Step.State.DONE
    )
    Step.objects.filter(operation=operation, name="await_agent").update(state=Step.State.WAITING)
    server = rack.servers[machine.name]
    server.set_boot("pxe", persistent=False)
    server.request_power(ON, "test power cycle")


def test_a_provision_runs_through_the_real_boot_path(rack, alice, web):
    device = _deploy(
        alice,
        web,
        hostnames=["real-01"],
        userdata="#!/bin/sh\n# ironyard-user-state: succeeded 1001 configured\n",
    )
    operation = device.operations.get()
    _power_cycle_into_the_installer(rack, operation)

    def done():
        # The user data's own report comes last, after the phone-home made the device active.
        return Event.objects.filter(
            type="user_state.succeeded", relations__object_id=device.uuid
        ).exists()

    wait_until(done, 30, what="the server to install, boot, phone home and report")
    assert Device.objects.get(pk=device.pk).state == "active"
    operation.refresh_from_db()
    assert operation.state == Operation.State.SUCCEEDED
    assert list(operation.steps.order_by("index").values_list("state", flat=True)) == ["done"] * 4
    machine = Machine.objects.get(pk=device.machine_id)
    history = rack.history(machine.name)
    # Every request from the address the portal reserved for the machine, in the protocol's
    # order, each answered with success (a zero-delay install's reports travel with its done).
    assert {r.source for r in history} == {machine.provisioning_address}
    assert [r.path for r in history] == [
        "/boot/ipxe",
        "/boot/agent/v1/instructions",
        "/boot/agent/v1/done",
        "/metadata",
        "/userdata",
        "/phone-home",
        "/user-state",
    ]
    assert all(200 <= r.status < 300 for r in history), [(r.path, r.status) for r in history]
    status = rack.status(machine.name)
    assert status["os"]["hostname"] == "real-01" and status["first_booted"]
    timeline = set(
        Event.objects.filter(relations__object_id=device.uuid).values_list("type", flat=True)
    )
    assert {
        "provisioning.wipe_disks",
        "provisioning.write_image",
        "provisioning.configure",
        "provisioning.agent_done",
        "device.phoned_home",
        "user_state.succeeded",
        "device.provision.succeeded",
    } <= timeline


def test_a_rescue_boots_the_rescue_agent_and_keeps_the_device_active(rack, alice, web):
    device = _deploy(alice, web, hostnames=["real-02"])
    Operation.objects.filter(device=device).update(state=Operation.State.SUCCEEDED)
    Device.objects.filter(pk=device.pk).update(state="active")
    device.refresh_from_db()
    rescue = services.perform_action(device=device, acting_user=alice, action="rescue")
    _power_cycle_into_the_installer(rack, rescue)
    wait_until(
        lambda: Operation.objects.get(pk=rescue.pk).state == Operation.State.SUCCEEDED,
        30,
        what="the rescue agent to report",
    )
    machine = Machine.objects.get(pk=device.machine_id)
    assert rack.status(machine.name)["environment"] == "rescue"
    assert Device.objects.get(pk=device.pk).state == "active"
