"""How operations end: finished, failed (a machine fault parks the machine and moves a
provision to other hardware), an installer that went silent; and what settles with them: the
device's state, its machine, its batch, its addresses."""

from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inventory.models import IPReservation, Machine
from portal import audit

from .. import allocation, metrics
from ..billing import usage
from ..models import Batch, Device, IPAssignment, Operation, Step, duration_words
from ..workflows import WAITING_STEPS, WORKFLOWS
from .opening import ring, start_operation

# Kinds whose failure to get through the installer is the machine's fault (it would not boot,
# or its installer died): its machine goes to maintenance (a provision retries elsewhere).
MACHINE_FAULT_KINDS = (
    Operation.Kind.PROVISION,
    Operation.Kind.REINSTALL,
    Operation.Kind.DEPROVISION,
)


@contextmanager
def audit_as_system():
    """Record events as the runner does in a worker (no client address), whoever calls."""
    token = audit.set_context(audit.AuditContext())
    try:
        yield
    finally:
        audit.reset_context(token)


def fail(operation: Operation, reason: str, *, machine_fault: bool = False) -> None:
    """End an operation as failed. A machine fault during provisioning parks the machine in
    maintenance and retries the device on another machine of the plan (bounded)."""
    if not Operation.objects.filter(pk=operation.pk, state=Operation.State.RUNNING).update(
        state=Operation.State.FAILED,
        finished_at=timezone.now(),
        error=reason[:2000],
        # Its installer's token dies with it.
        agent_token_digest="",
        agent_address=None,
    ):
        return
    metrics.operation_ended(operation, Operation.State.FAILED)
    machine = operation.machine
    if machine_fault:
        Machine.objects.filter(pk=machine.pk).update(
            state=Machine.State.MAINTENANCE, fault_reason=reason[:2000]
        )
        audit.record(
            "machine.fault",
            actor=None,
            text=f"{machine.name}: {reason}",
            user=None,
            objects=[machine],
        )
    if (
        operation.kind == Operation.Kind.PROVISION
        and machine_fault
        and _failover(operation, reason)
    ):
        return
    _settle(operation, succeeded=False, reason=reason)


@transaction.atomic(savepoint=False)
def installer_silent(operation: Operation, step: Step, silent_for: float) -> None:
    """The installer of `operation` (waiting in `step`, its await_agent) has not called for
    `silent_for` seconds. The first time, the machine is booted into it once more (the BMC
    steps before the wait run again and a new boot gets a new token); the second time, the
    operation fails."""
    seconds = int(silent_for)
    if step.attempts >= 2:
        fail(
            operation,
            f"The installer stopped answering ({seconds} s without a call), also after a restart.",
            machine_fault=operation.kind in MACHINE_FAULT_KINDS,
        )
        return
    # Only if nothing moved the wait on meanwhile (the agent's own done, another reconciler).
    if not Step.objects.filter(
        pk=step.pk, state=Step.State.WAITING, generation=step.generation
    ).update(state=Step.State.PENDING, lease_expires_at=None, not_before=None):
        return
    Step.objects.filter(operation=operation, index__lt=step.index).update(
        state=Step.State.PENDING, lease_expires_at=None, not_before=None, error=""
    )
    # The silent installer's token dies: a late call from it must not count.
    Operation.objects.filter(pk=operation.pk).update(
        agent_token_digest="", agent_address=None, agent_seen_at=None
    )
    device = operation.device
    audit.record(
        "provisioning.installer_restarted",
        actor=None,
        text=f"The installer on {device.hostname} stopped answering ({seconds} s without a "
        "call); booting it once more",
        project=device.project,
        objects=[device],
    )
    ring(operation)


def _failover(operation: Operation, reason: str) -> bool:
    device = operation.device
    attempt = int(operation.params.get("attempt", 1))
    if attempt > settings.PROVISION_FAILOVER_LIMIT:
        return False
    try:
        with transaction.atomic():
            [replacement] = allocation.allocate(plan=device.plan, count=1, metros=[device.metro])
    except allocation.InsufficientCapacity:
        return False
    Device.objects.filter(pk=device.pk).update(machine=replacement, facility=replacement.facility)
    device.machine, device.facility = replacement, replacement.facility
    audit.record(
        "provisioning.failover",
        actor=None,
        text=f"Hardware fault ({reason}); retrying {device.hostname} on other hardware",
        project=device.project,
        objects=[device],
    )
    start_operation(
        device, Operation.Kind.PROVISION, acting_user=None, params={"attempt": attempt + 1}
    )
    return True


@transaction.atomic(savepoint=False)
def finish(operation: Operation, *, succeeded: bool) -> None:
    """All steps done: close the operation and settle the device and machine."""
    if not Operation.objects.filter(pk=operation.pk, state=Operation.State.RUNNING).update(
        state=Operation.State.SUCCEEDED,
        finished_at=timezone.now(),
        agent_token_digest="",
        agent_address=None,
    ):
        return
    metrics.operation_ended(operation, "succeeded" if succeeded else "failed")
    _settle(operation, succeeded=succeeded)


def _settle(operation: Operation, *, succeeded: bool, reason: str = "") -> None:
    workflow = WORKFLOWS[operation.kind]
    device = operation.device
    state = workflow.succeeded if succeeded else workflow.failed
    fields = {"state": state, "current_step": "", "failure_reason": "" if succeeded else reason}
    if operation.kind in (Operation.Kind.PROVISION, Operation.Kind.REINSTALL):
        fields["provisioning_percentage"] = 100 if succeeded else None
    if operation.kind == Operation.Kind.DEPROVISION:
        fields["deleted_at"] = timezone.now()
        fields["machine"] = None
        if not succeeded:
            release_addresses(device)
        Machine.objects.filter(pk=operation.machine_id).exclude(
            state=Machine.State.MAINTENANCE
        ).update(
            state=Machine.State.AVAILABLE if succeeded else Machine.State.MAINTENANCE,
            fault_reason="" if succeeded else f"Cleaning failed: {reason}"[:2000],
        )
    elif operation.kind == Operation.Kind.PROVISION and succeeded:
        Machine.objects.filter(pk=operation.machine_id).update(state=Machine.State.IN_USE)
        usage.confirm_device(device)
        fields["time_to_active"] = timezone.now() - device.created_at
    Device.objects.filter(pk=device.pk).update(**fields)
    verb = "succeeded" if succeeded else f"failed: {reason}"
    if "time_to_active" in fields:
        verb += f": active {duration_words(fields['time_to_active'])} after it was created"
    elif succeeded and operation.kind == Operation.Kind.REINSTALL:
        verb += f" in {duration_words(timezone.now() - operation.created_at)}"
    audit.record(
        f"device.{operation.kind}.{'succeeded' if succeeded else 'failed'}",
        actor=None,
        text=f"{operation.kind.replace('_', ' ').capitalize()} of {device.hostname} {verb}",
        project=device.project,
        objects=[device],
    )
    if device.batch_id:
        _settle_batch(device.batch_id)


def _settle_batch(batch_id: int) -> None:
    # Asked as "is any still moving?" (one index probe), not by reading every device's state:
    # each of a thousand devices settling had read all thousand.
    devices = Device.objects.filter(batch_id=batch_id)
    if devices.filter(state__in=[Device.State.QUEUED, Device.State.PROVISIONING]).exists():
        return
    failed = devices.filter(state=Device.State.FAILED).exists()
    Batch.objects.filter(pk=batch_id).update(
        state=Batch.State.FAILED if failed else Batch.State.COMPLETED
    )


def release_addresses(device: Device) -> None:
    """Give the device's own addresses back (its elastic ones stay with the project)."""
    reservations = list(
        IPAssignment.objects.filter(device=device, management=True).values_list(
            "reservation_id", flat=True
        )
    )
    IPAssignment.objects.filter(device=device).delete()
    IPReservation.objects.filter(pk__in=reservations, management=True).delete()


def settle_orphan(device: Device) -> None:
    """A device in a moving state with no operation moving it (a failover that found no
    machine, say): settled as failed (deleted, if it was being deleted)."""
    final = (
        Device.State.DELETED if device.state == Device.State.DEPROVISIONING else Device.State.FAILED
    )
    with transaction.atomic():
        if Device.objects.filter(pk=device.pk, state=device.state).update(
            state=final,
            current_step="",
            failure_reason=device.failure_reason or "No operation was moving this server.",
        ):
            audit.record(
                "device.orphaned",
                actor=None,
                text=f"{device.hostname} was {device.state} with nothing moving it; now {final}",
                project=device.project,
                objects=[device],
            )


def waiting_step(operation: Operation) -> Step | None:
    """The step the operation waits on, if it is waiting on the machine."""
    return operation.steps.filter(state=Step.State.WAITING, name__in=WAITING_STEPS).first()
