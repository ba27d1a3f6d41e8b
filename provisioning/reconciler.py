"""The reconciler (Celery beat): finds work that stalled and moves it on, or ends it honestly.

- a step whose lease expired (its worker died) goes back to pending, fenced by generation;
- a pending step nobody is running gets its doorbell rung again (lost or unsent message);
- an installer silent for AGENT_SILENCE_SECONDS (its calls are its heartbeat) is booted once
  more through the BMC, and if it stays silent its operation fails;
- an operation past its deadline fails (a machine that never booted or never phoned home is a
  hardware fault: the device is retried elsewhere);
- a device in a moving state with no open operation is settled as failed (orphaned);
- power drift (the BMC says off while the device is active, or on while inactive) is recorded
  as an event and never "fixed" by power-cycling a customer's server on our own.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from inventory import bmc_access
from inventory.bmc import BmcError
from inventory.models import Machine
from portal import audit

from . import doorbell, ledger
from .models import Device, Operation, Step

logger = logging.getLogger(__name__)

MOVING_STATES = (
    Device.State.QUEUED,
    Device.State.PROVISIONING,
    Device.State.REINSTALLING,
    Device.State.POWERING_ON,
    Device.State.POWERING_OFF,
    Device.State.DEPROVISIONING,
)
# A pending step older than this without a worker on it is assumed to have lost its message.
STALE_PENDING = timedelta(seconds=30)


def expire_leases(now) -> int:
    """Steps held by a worker that stopped renewing: back to pending (the next claim fences)."""
    stale = Step.objects.filter(state=Step.State.RUNNING, lease_expires_at__lt=now)
    rows = list(stale.values_list("pk", "operation_id", "operation__device__facility__code"))
    for step_id, operation_id, facility in rows:
        if ledger.expire_lease(step_id, now):
            doorbell.ring(operation_id, facility)
    return len(rows)


def ring_stalled(now) -> int:
    """Operations whose next step is pending and due, but nobody picked it up lately."""
    due = (
        Step.objects.filter(state=Step.State.PENDING, operation__state=Operation.State.RUNNING)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now - STALE_PENDING))
        .filter(
            Q(started_at__isnull=True, operation__created_at__lte=now - STALE_PENDING)
            | Q(started_at__lte=now - STALE_PENDING)
        )
        .values_list("operation_id", "operation__device__facility__code")
        .distinct()
    )
    rows = list(due)
    for operation_id, facility in rows:
        doorbell.ring(operation_id, facility)
    return len(rows)


def fail_overdue(now) -> int:
    """Operations past their deadline: a hardware fault (the machine never got there)."""
    overdue = list(
        Operation.objects.select_related("device__facility", "machine").filter(
            state=Operation.State.RUNNING, deadline__lt=now
        )
    )
    for operation in overdue:
        waiting = ledger.waiting_step(operation)
        what = waiting.name.replace("_", " ") if waiting else "the operation"
        ledger.fail(
            operation,
            f"Timed out waiting for {what}.",
            machine_fault=operation.kind in ledger.MACHINE_FAULT_KINDS,
        )
    return len(overdue)


def restart_silent_installers(now) -> int:
    """Installers that have not called for AGENT_SILENCE_SECONDS since their wait began and
    since their last sign of life (network boot or call): booted once more, then failed."""
    quiet_since = now - timedelta(seconds=settings.AGENT_SILENCE_SECONDS)
    silent = list(
        Step.objects.filter(
            name="await_agent",
            state=Step.State.WAITING,
            operation__state=Operation.State.RUNNING,
            started_at__lt=quiet_since,
        )
        .filter(
            Q(operation__agent_seen_at__isnull=True) | Q(operation__agent_seen_at__lt=quiet_since)
        )
        .select_related("operation__device__facility", "operation__device__project__organization")
        .select_related("operation__machine")
    )
    for step in silent:
        operation = step.operation
        last_sign = max(filter(None, [step.started_at, operation.agent_seen_at]))
        ledger.installer_silent(operation, step, (now - last_sign).total_seconds())
    return len(silent)


def settle_orphans(now) -> int:
    """Devices in a moving state with no operation moving them (e.g. a failed failover)."""
    orphans = list(
        Device.objects.filter(state__in=MOVING_STATES, updated_at__lt=now - STALE_PENDING)
        .exclude(operations__state=Operation.State.RUNNING)
        .select_related("project")
    )
    for device in orphans:
        ledger.settle_orphan(device)
    return len(orphans)


def queue_power_checks(now) -> int:
    """Schedule power readings of in-use machines not checked recently, per site."""
    due = now - timedelta(seconds=settings.POWER_DRIFT_CHECK_SECONDS)
    machines = list(
        Machine.objects.filter(state=Machine.State.IN_USE)
        .filter(Q(power_checked_at__isnull=True) | Q(power_checked_at__lt=due))
        .exclude(device__operations__state=Operation.State.RUNNING)
        .values_list("pk", "facility__code")[: settings.POWER_DRIFT_BATCH]
    )
    for machine_id, facility in machines:
        doorbell.check_power(machine_id, facility)
    return len(machines)


EXPECTED_POWER = {Device.State.ACTIVE: "on", Device.State.INACTIVE: "off"}


def check_power_drift(machine_id: int) -> str | None:
    """Read one machine's power and record drift against its device's state."""
    machine = Machine.objects.filter(pk=machine_id).first()
    device = Device.objects.filter(machine_id=machine_id).select_related("project").first()
    if machine is None or device is None:
        return None
    try:
        reading = bmc_access.check_power(machine)
    except BmcError as error:
        logger.info("power check of %s failed: %s", machine.name, error)
        return "unknown"
    expected = EXPECTED_POWER.get(device.state)
    # Only a definite reading that contradicts a settled state counts; never act on it.
    if expected and reading in ("on", "off") and reading != expected:
        audit.record(
            "device.power_drift",
            actor=None,
            text=f"{device.hostname} is {device.state} but its BMC reports power "
            f"{reading}; left as it is",
            project=device.project,
            objects=[device],
        )
    return reading


def reconcile() -> dict[str, int]:
    """One pass of every check (the beat task)."""
    now = timezone.now()
    return {
        "expired_leases": expire_leases(now),
        "rang_stalled": ring_stalled(now),
        "restarted_installers": restart_silent_installers(now),
        "failed_overdue": fail_overdue(now),
        "settled_orphans": settle_orphans(now),
        "power_checks": queue_power_checks(now),
    }
