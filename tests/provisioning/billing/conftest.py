"""Usage fixtures: a site with priced plans and OS, a controllable clock, and helpers that walk
a device through its life with the real services and runner (the BMC steps are skipped: they
do not decide what is billed, the state changes do)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from inventory.models import OperatingSystem
from provisioning import ledger, services
from provisioning.models import Device, Operation
from tests.inventory import factories as inv
from tests.provisioning.factories import make_site, request_for


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def clock():
    """clock(datetime) moves the frozen time there; the clock does not tick on its own."""
    traveller = None

    def move(when: datetime):
        nonlocal traveller
        if traveller is not None:
            traveller.stop()
        traveller = time_machine.travel(when, tick=False)
        traveller.start()

    yield move
    if traveller is not None:
        traveller.stop()


@pytest.fixture
def site(db):
    """(metro, plan at 0.50/h, free OS) with four machines; a licensed OS at 0.10/h too."""
    metro, plan, os_ = make_site(machines=4)
    windows = inv.make_os("windows_2022", plans=[plan])
    OperatingSystem.objects.filter(pk=windows.pk).update(
        licensed=True, hourly_price=Decimal("0.10")
    )
    windows.refresh_from_db()
    return metro, plan, os_, windows


@pytest.fixture
def deploy(site, django_capture_on_commit_callbacks):
    """deploy(project, user, os=None) → a device allocated now (provisioning not finished)."""

    def make(project, user, os_=None, hostname=None):
        metro, plan, default_os, _ = site
        request = request_for(metro, plan, os_ or default_os)
        if hostname:
            request.hostnames = [hostname]
        with django_capture_on_commit_callbacks():
            [device] = services.create_devices(project=project, acting_user=user, request=request)
        return device

    return make


def finish(device: Device, succeeded: bool = True) -> Device:
    """The device's open operation ends (as the runner ends it when its last step is done)."""
    operation = device.operations.get(state=Operation.State.RUNNING)
    if succeeded:
        ledger.finish(operation, succeeded=True)
    else:
        ledger.fail(operation, "installer crashed")
    device.refresh_from_db()
    return device


def act(device: Device, user, action: str, **kwargs) -> Device:
    services.perform_action(device=device, acting_user=user, action=action, **kwargs)
    return finish(device)


def delete(device: Device, user) -> Device:
    services.delete_device(device=device, acting_user=user)
    return finish(device)
