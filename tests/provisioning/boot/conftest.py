"""Boot-path fixtures: a small rack in metro "sv" with address space, and devices deployed
through the real service with their workflows held still (no Celery task runs), so each test
stages the step it needs the way the runner would leave it."""

from types import SimpleNamespace

import pytest

from inventory.models import IPBlock
from portal import services as portal_services
from provisioning import services
from provisioning.models import Device, Operation, Step
from tests import factories
from tests.inventory import factories as inv


@pytest.fixture
def rack(db):
    metro = inv.make_metro("sv")
    facility = inv.make_facility(metro)
    plan = inv.make_plan("c3.small.x86", metros=[metro])
    os_ = inv.make_os("ubuntu_24_04", plans=[plan])
    os_.image_checksum = "sha256:" + "ab" * 32
    os_.save()
    IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/24", metro=metro)
    IPBlock.objects.create(kind="private_ipv4", network="10.70.0.0/24", metro=metro)
    IPBlock.objects.create(kind="public_ipv6", network="2001:db8:70::/56", metro=metro)
    machines = [inv.make_machine(facility, plan) for _ in range(3)]
    return SimpleNamespace(metro=metro, facility=facility, plan=plan, os=os_, machines=machines)


@pytest.fixture
def web_key(web, alice):
    return portal_services.create_ssh_key(
        acting_user=alice, project=web, label="deploy", key=factories.new_ssh_public_key("deploy")
    )


@pytest.fixture
def deploy(rack, web, alice, web_key, django_capture_on_commit_callbacks):
    """deploy(hostname, **DeviceRequest fields) → a queued device with its provision open."""

    def make(hostname: str = "web-01", **fields) -> Device:
        fields.setdefault("operating_system", rack.os)
        with django_capture_on_commit_callbacks(execute=False):
            [device] = services.create_devices(
                project=web,
                acting_user=alice,
                request=services.DeviceRequest(
                    plan=rack.plan, metros=[rack.metro], hostnames=[hostname], **fields
                ),
            )
        return device

    return make


def open_operation(device: Device) -> Operation:
    return device.operations.get(state=Operation.State.RUNNING)


def stage(operation: Operation, waiting_on: str) -> None:
    """Leave the operation as the runner would while it waits on `waiting_on`: the steps
    before it done, that one waiting, the rest pending."""
    steps = list(operation.steps.order_by("index"))
    target = next(s for s in steps if s.name == waiting_on)
    for step in steps:
        if step.index < target.index:
            step.state = Step.State.DONE
        elif step.index == target.index:
            step.state = Step.State.WAITING
        else:
            step.state = Step.State.PENDING
    Step.objects.bulk_update(steps, ["state"])


def activate(device: Device) -> Device:
    """Finish the device's provisioning as the runner would: active, machine in use."""
    Operation.objects.filter(device=device, state=Operation.State.RUNNING).update(
        state=Operation.State.SUCCEEDED
    )
    Device.objects.filter(pk=device.pk).update(state=Device.State.ACTIVE)
    device.refresh_from_db()
    return device


def step_state(operation: Operation, name: str) -> str:
    return operation.steps.filter(name=name).order_by("index").first().state
