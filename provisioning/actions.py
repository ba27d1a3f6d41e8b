"""The BMC step actions: what a claimed step does to the hardware, and nothing else. The runner
calls one per claimed step and records its outcome in the ledger; an action writes no lifecycle
state of its own.

A step is check-then-act and idempotent: run twice (a worker presumed dead and its successor),
it leaves the machine as once. The drivers a worker thread uses are kept across its passes (see
inventory.bmc.pool), so an operation's steps share one BMC session.
"""

import threading
from contextlib import contextmanager

from django.conf import settings
from django.utils import timezone

from inventory import bmc_access
from inventory.bmc import BmcError, BootDevice, PowerState
from inventory.bmc.pool import DriverPool
from inventory.models import Machine

from . import ledger
from .models import Operation, Step


class NotYet(Exception):
    """The step's condition is not met yet; check again after `delay` seconds."""

    def __init__(self, delay: float):
        super().__init__(delay)
        self.delay = delay


class _Drivers(threading.local):
    """The BMC drivers this worker thread keeps across run() calls (see inventory.bmc.pool)."""

    def __init__(self) -> None:
        self.pool = DriverPool()


_drivers = _Drivers()


def close_sessions() -> None:
    """Log out of every BMC this thread holds a session with (worker shutdown, tests)."""
    _drivers.pool.close_idle(0)


def close_idle_sessions() -> None:
    """Log out of the BMC sessions this thread has not used for BMC_SESSION_IDLE_SECONDS."""
    _drivers.pool.close_idle(settings.BMC_SESSION_IDLE_SECONDS)


@contextmanager
def _driver(operation: Operation):
    machine = operation.machine
    bmc = _drivers.pool.take(machine.pk, bmc_access.endpoint(machine))
    try:
        yield bmc
    except BmcError:
        _drivers.pool.failed(machine.pk)
        raise


def _set_boot_pxe(operation: Operation, step: Step) -> None:
    with _driver(operation) as bmc:
        bmc.set_boot_device(BootDevice.PXE, persistent=operation.device.always_pxe)


def _set_boot_disk(operation: Operation, step: Step) -> None:
    # Only operations opened before installs stopped setting the disk (see workflows.INSTALL)
    # still list this step. An always-PXE device keeps network booting.
    if not operation.device.always_pxe:
        with _driver(operation) as bmc:
            bmc.set_boot_device(BootDevice.DISK, persistent=True)


def _power_cycle(operation: Operation, step: Step) -> None:
    with _driver(operation) as bmc:
        bmc.power_cycle()


def _power_on(operation: Operation, step: Step) -> None:
    with _driver(operation) as bmc:
        bmc.power_on()


def _power_off(operation: Operation, step: Step) -> None:
    with _driver(operation) as bmc:
        bmc.power_off(force=True)


def _await_power(wanted: PowerState):
    def check(operation: Operation, step: Step) -> None:
        with _driver(operation) as bmc:
            state = bmc.power_state()
        # What the BMC said is a fact about the machine, not a step of its lifecycle.
        Machine.objects.filter(pk=operation.machine_id).update(
            power_state=str(state), power_checked_at=timezone.now()
        )
        if state != wanted:
            raise NotYet(settings.POWER_POLL_SECONDS)

    return check


def _reboot(operation: Operation, step: Step) -> None:
    with _driver(operation) as bmc:
        if operation.device.always_pxe:
            bmc.set_boot_device(BootDevice.PXE, persistent=True)
        bmc.reset(force=True)


def _release(operation: Operation, step: Step) -> None:
    """Give the device's own addresses back; the machine goes back to the pool at the end."""
    ledger.release_addresses(operation.device)


ACTIONS = {
    "set_boot_pxe": _set_boot_pxe,
    "set_boot_disk": _set_boot_disk,
    "power_cycle": _power_cycle,
    "power_on": _power_on,
    "power_off": _power_off,
    "await_power_on": _await_power(PowerState.ON),
    "await_power_off": _await_power(PowerState.OFF),
    "reboot": _reboot,
    "release": _release,
}
