"""Device API fixtures: the tenancy world of tests/api, the inventory catalogue (machines in
sv15/sv16, address space in sv) and devices deployed through the same service the API uses."""

import pytest
from django.utils import timezone

from inventory.models import OperatingSystem
from provisioning import services
from provisioning.models import Device, Operation
from tests.inventory.api.conftest import catalogue
from tests.portal.api.conftest import api, world
from tests.tls_server import _tls_server_thread, tls_ca, tls_live_server

__all__ = [
    "_tls_server_thread",
    "api",
    "catalogue",
    "deploy",
    "tls_ca",
    "tls_live_server",
    "world",
]


@pytest.fixture
def deploy(catalogue):
    """deploy(project, user, settle=True, **request fields) → a device on a c3.small.x86 in sv.

    Settled devices are active with their provisioning operation finished (what the runner
    leaves behind), so actions can start; without on_commit nothing reaches a worker here.
    """

    def make(project, user, *, settle: bool = True, **fields) -> Device:
        fields.setdefault("metros", [catalogue.sv])
        request = services.DeviceRequest(
            plan=catalogue.small, operating_system=catalogue.ubuntu, **fields
        )
        [device] = services.create_devices(project=project, acting_user=user, request=request)
        if settle:
            Operation.objects.filter(device=device).update(
                state=Operation.State.SUCCEEDED, finished_at=timezone.now()
            )
            Device.objects.filter(pk=device.pk).update(
                state=Device.State.ACTIVE, provisioning_percentage=100
            )
            device.refresh_from_db()
        return device

    return make


@pytest.fixture
def custom_ipxe(catalogue):
    """The custom iPXE pseudo-OS that `operating_system: ""` with an ipxe_script_url means."""
    os_ = OperatingSystem.objects.create(
        slug="custom_ipxe", name="Custom iPXE", distro="custom", custom_ipxe=True
    )
    os_.provisionable_on.add(catalogue.small)
    return os_
