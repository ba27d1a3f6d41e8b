"""The step runner: moves an operation through its steps, one fenced lease at a time.

Celery only rings the doorbell (`tasks.run_operation(id)`); the database ledger says what is
done. Each step is claimed by bumping its generation under a compare-and-set, runs, and is
completed only if the generation is still ours, so a worker that was presumed dead and comes
back late cannot overwrite newer work. Waiting steps (the installer agent, the first boot's
phone-home) hold no worker: the boot endpoints call `advance_waiting()`, the reconciler expires
them.
"""

import logging
import random
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from inventory import bmc_access
from inventory.bmc import BmcError, BmcPermanentError, BootDevice, PowerState
from inventory.bmc.pool import DriverPool
from inventory.enrollment import describe_bmc_error
from inventory.models import IPReservation, Machine
from portal import audit

from . import allocation, sql, tasks, usage
from .models import Batch, Device, IPAssignment, Operation, Step
from .workflows import STEP_LABELS, WAITING_STEPS, WORKFLOWS

logger = logging.getLogger(__name__)


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


def _waits(operation: Operation) -> bool:
    """Does a waiting step of this operation wait? A custom iPXE install has no installer agent
    and need not phone home: the user's script owns the machine from its first network boot."""
    return not (
        operation.device.operating_system.custom_ipxe
        and operation.kind in (Operation.Kind.PROVISION, Operation.Kind.REINSTALL)
    )


def _release(operation: Operation, step: Step) -> None:
    """Give the device's own addresses back; the machine goes back to the pool at the end."""
    device = operation.device
    reservations = list(
        IPAssignment.objects.filter(device=device, management=True).values_list(
            "reservation_id", flat=True
        )
    )
    IPAssignment.objects.filter(device=device).delete()
    IPReservation.objects.filter(pk__in=reservations, management=True).delete()


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


def _enqueue(operation: Operation, countdown: float = 0) -> None:
    """Ring the doorbell once the current transaction (if any) commits."""
    facility = operation.device.facility.code
    transaction.on_commit(lambda: tasks.ring(operation.pk, facility, countdown))


def _backoff(attempt: int) -> float:
    """Exponential back-off with full jitter, capped (seconds)."""
    base = settings.STEP_RETRY_BASE_SECONDS * (2 ** (attempt - 1))
    return random.uniform(base / 2, min(base, settings.STEP_RETRY_MAX_SECONDS))  # noqa: S311


def _progress(operation: Operation, step: Step) -> None:
    """Show the step on the device's progress bar; the first step of a provision also moves
    the device out of `queued` and the machine into `deploying`."""
    begins = step.index == 0 and step.attempts == 1 and operation.kind == Operation.Kind.PROVISION
    _show_step(operation, step.index, begins=begins)


def _show_step(operation: Operation, index: int, *, begins: bool = False) -> None:
    workflow = WORKFLOWS[operation.kind]
    name = workflow.steps[index]
    percentage = int(100 * index / len(workflow.steps))
    sql.show_progress(operation.device, STEP_LABELS.get(name, name), percentage, begins=begins)


def run(operation_id: int) -> None:
    """Advance an operation as far as it can go now (the body of tasks.run_operation)."""
    _drivers.pool.close_idle(settings.BMC_SESSION_IDLE_SECONDS)
    _run(operation_id)


def _load(operation_id: int) -> tuple[Operation | None, list[Step]]:
    operation = sql.running_operation(operation_id)
    if operation is None:
        return None, []  # gone, finished or cancelled: a redelivered message has nothing to do
    return operation, sql.steps(operation)


def _run(operation_id: int) -> None:
    # The operation and its steps are read once and then walked in memory: every claim is a
    # compare-and-set on what we believe (generation, state, operation still running), so a
    # stale picture (the agent finished a waiting step early, the operation was failed, another
    # worker took over) only costs one re-read, after which a lost claim means "not ours".
    # A step whose action succeeded is marked done by the statement that claims the next one.
    operation, steps = _load(operation_id)
    fresh = True
    acted: tuple[Step, int] | None = None  # (step, generation) done, not yet recorded
    while operation is not None:
        step = next(
            (
                s
                for s in steps
                if s.state not in (Step.State.DONE, Step.State.SKIPPED)
                and (acted is None or s is not acted[0])
            ),
            None,
        )
        now = timezone.now()
        due = None if step is None else _due_in(step, now)
        if due != 0:
            if acted is not None and not _complete(operation, *acted):
                return
            if step is None:
                finish(operation, succeeded=True)
            elif due is not None:
                _enqueue(operation, due)
            return
        outcome = _claim_outcome(operation, step, now)
        generation = step.generation + 1
        claimed = _claim(step, generation, outcome, now, acted)
        if claimed is None:  # the step just acted on was taken from us: our result is stale
            return
        if acted is not None:
            acted[0].state, acted = Step.State.DONE, None
        if not claimed:
            if fresh:
                return
            operation, steps = _load(operation_id)
            fresh = True
            continue
        step.state, step.generation, step.attempts = (
            outcome["state"],
            generation,
            step.attempts + 1,
        )
        _progress(operation, step)
        if step.state == Step.State.RUNNING:
            if not _act(operation, step, generation):
                return
            acted = (step, generation)
        elif step.state == Step.State.WAITING:
            return
        fresh = False


def _due_in(step: Step, now) -> float | None:
    """Seconds until this worker may take the step: 0 now, None not at all (the machine or an
    operator has it, or another worker's lease runs)."""
    if step.state in (Step.State.WAITING, Step.State.FAILED):
        return None
    if step.state == Step.State.RUNNING and step.lease_expires_at and step.lease_expires_at > now:
        return None  # another worker holds it
    if step.not_before and step.not_before > now:
        return (step.not_before - now).total_seconds()
    return 0


def _claim_outcome(operation: Operation, step: Step, now) -> dict:
    """What claiming the step writes. A waiting step acts on nothing: it is claimed straight
    into its outcome (waiting, or done when there is nothing to wait for), with no lease."""
    if step.name not in WAITING_STEPS:
        return {
            "state": Step.State.RUNNING,
            "lease_expires_at": now + timedelta(seconds=settings.STEP_LEASE_SECONDS),
        }
    if _waits(operation):
        return {"state": Step.State.WAITING, "lease_expires_at": None, "error": ""}
    return {"state": Step.State.DONE, "lease_expires_at": None, "error": "", "finished_at": now}


def _claim(
    step: Step, generation: int, outcome: dict, now, acted: tuple[Step, int] | None
) -> bool | None:
    """Claim `step` (compare-and-set on its generation and state, the operation running) and,
    in the same statement, record the step `acted` on as done if our lease on it holds.

    True: claimed (and `acted` recorded). False: not claimed, `acted` recorded. None: `acted`
    was taken over by another worker, so our result is stale and nothing of ours stands."""
    updated = sql.claim(step, generation, outcome, now, acted)
    if acted is None:
        return bool(updated)
    if updated == 2:
        return True
    done, held = acted
    # Only one row, or none: which statement part applied, the rows say.
    rows = {
        pk: (state, gen)
        for pk, state, gen in Step.objects.filter(pk__in=[done.pk, step.pk]).values_list(
            "pk", "state", "generation"
        )
    }
    if rows.get(done.pk) == (Step.State.DONE, held):
        return False  # recorded; the next step changed under us (the agent was early, say)
    logger.info("stale result for step %s of operation %s ignored", done.name, done.operation_id)
    if rows.get(step.pk, (None, None))[1] == generation:
        # Claimed in a race with the worker that took the step before over: hand it back.
        Step.objects.filter(pk=step.pk, generation=generation).update(
            state=step.state, lease_expires_at=None, attempts=F("attempts") - 1
        )
        _enqueue(done.operation)
    return None


def _act(operation: Operation, step: Step, generation: int) -> bool:
    """Run one claimed step's action; True if it succeeded (the caller records it done).
    A retry, a failure or a crash is recorded here."""
    try:
        ACTIONS[step.name](operation, step)
    except NotYet as wait:
        Step.objects.filter(pk=step.pk, generation=generation).update(
            state=Step.State.PENDING,
            attempts=F("attempts") - 1,
            not_before=timezone.now() + timedelta(seconds=wait.delay),
        )
        _enqueue(operation, wait.delay)
        return False
    except BmcError as error:
        return _bmc_failed(operation, step, generation, error)
    except DatabaseError:
        raise  # the lease expires and the reconciler rings again: the database may be back
    except Exception as error:
        # A bug must end the operation visibly, not loop through lease expiries forever.
        logger.exception("step %s of operation %s crashed", step.name, operation.pk)
        with transaction.atomic():
            if Step.objects.filter(pk=step.pk, generation=generation).update(
                state=Step.State.FAILED, error=repr(error)[:2000], finished_at=timezone.now()
            ):
                fail(operation, f"Internal error in {step.name}; operators have the details.")
        return False
    return True


def _complete(operation: Operation, step: Step, generation: int) -> bool:
    """Record a step done, if our lease on it still holds (a stale result is thrown away)."""
    completed = sql.complete(step, generation, timezone.now())
    if not completed:
        logger.info("stale result for step %s of operation %s ignored", step.name, operation.pk)
    return bool(completed)


def _bmc_failed(operation: Operation, step: Step, generation: int, error: BmcError) -> bool:
    raw = {
        "status_code": error.raw.status_code,
        "body": error.raw.body,
        "completion_code": error.raw.completion_code,
        "message": error.raw.message,
    }
    message = describe_bmc_error(error)
    retryable = not isinstance(error, BmcPermanentError)
    if retryable and step.attempts < settings.STEP_MAX_ATTEMPTS:
        delay = _backoff(step.attempts)
        Step.objects.filter(pk=step.pk, generation=generation).update(
            state=Step.State.PENDING,
            error=message,
            raw=raw,
            not_before=timezone.now() + timedelta(seconds=delay),
        )
        _enqueue(operation, delay)
        return False
    with transaction.atomic():
        if not Step.objects.filter(pk=step.pk, generation=generation).update(
            state=Step.State.FAILED, error=message, raw=raw, finished_at=timezone.now()
        ):
            return False
        fail(
            operation,
            f"{STEP_LABELS.get(step.name, step.name)} failed: {message}",
            machine_fault=True,
        )
    return False


# The ledger's transitions below are all-or-nothing with their caller's transaction when they
# run inside one (the boot endpoints record their events around them): no savepoint, which
# would cost two more round trips per call, since nobody carries on after their errors.
@transaction.atomic(savepoint=False)
def advance_waiting(
    operation: Operation, step_name: str, *, record_event: Callable[[], None] | None = None
) -> bool:
    """A waiting step's condition happened (agent finished, server phoned home): complete it
    and let the runner continue, or finish the operation here when nothing is left to run.
    False if the operation is not at that point. `record_event` writes the caller's timeline
    entry for what happened, so that it precedes the operation's own outcome.

    A fast machine can get there before the runner does (the agent finishes while the worker
    is still marking the power cycle done), so the step also counts as met while pending or
    running, provided every waiting step before it is done; the runner's own completion only
    applies to a step still RUNNING, so it cannot undo this. Which step that is, and whether
    the waiting steps before it are done, is decided inside the one UPDATE that completes it.
    """
    if operation.state != Operation.State.RUNNING:
        return False
    now = timezone.now()
    # The last step (the first boot's phone-home), with every other step done: settling here
    # spares a worker pass that would only read the ledger to find nothing to run.
    if WORKFLOWS[operation.kind].steps[-1] == step_name and sql.complete_waiting(
        operation, step_name, now, last=True
    ):
        if record_event is not None:
            record_event()
        with audit_as_system():
            finish(operation, succeeded=True)
        return True
    if not sql.complete_waiting(operation, step_name, now, last=False):
        return False
    if record_event is not None:
        record_event()
    if not _wait_next(operation, step_name, now):
        _enqueue(operation)
    return True


def _wait_next(operation: Operation, step_name: str, now) -> bool:
    """When the step after `step_name` waits for the machine too (the installer's end, then the
    first boot's phone-home), put it in waiting here and show it, sparing a worker pass that
    would do only that; False when the runner has to (a step to act on, or one still running).
    """
    workflow = WORKFLOWS[operation.kind]
    index = workflow.steps.index(step_name) + 1
    if index == len(workflow.steps) or workflow.steps[index] not in WAITING_STEPS:
        return False
    if not _waits(operation) or not sql.start_waiting(operation, index, now):
        return False
    _show_step(operation, index)
    return True


@contextmanager
def audit_as_system():
    """Record events as the runner does in a worker (no client address), whoever calls."""
    token = audit.set_context(audit.AuditContext())
    try:
        yield
    finally:
        audit.reset_context(token)


def record_progress(
    operation: Operation, reports: list[tuple[str, int, str]], *, move_bar: bool = True
) -> None:
    """Installer progress reports (step, percent, message), in the order they happened: the
    last one moves the device's progress bar (unless the installer's end takes it over); each
    that starts a step (0 %) is also its timeline entry, so the timeline reads one line per
    installer step however often an agent reports."""
    device = operation.device
    if move_bar and reports:
        workflow = WORKFLOWS[operation.kind]
        base = 100 * workflow.steps.index("await_agent") // len(workflow.steps)
        span = 100 // len(workflow.steps)
        step, percent, message = reports[-1]
        overall = min(99, base + span * max(0, min(100, percent)) // 100)
        Device.objects.filter(pk=device.pk).update(
            provisioning_percentage=overall, current_step=message[:100] or step
        )
    for step, percent, message in reports:
        if percent == 0:
            audit.record(
                f"provisioning.{step}",
                actor=None,
                text=message or f"{step}: started",
                project=device.project,
                objects=[device],
            )


@transaction.atomic(savepoint=False)
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


# Kinds whose failure to get through the installer is the machine's fault (it would not boot,
# or its installer died): its machine goes to maintenance (a provision retries elsewhere).
MACHINE_FAULT_KINDS = (
    Operation.Kind.PROVISION,
    Operation.Kind.REINSTALL,
    Operation.Kind.DEPROVISION,
)


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
    _enqueue(operation)


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
    from .services import start_operation

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
            _release(operation, None)
        Machine.objects.filter(pk=operation.machine_id).exclude(
            state=Machine.State.MAINTENANCE
        ).update(
            state=Machine.State.AVAILABLE if succeeded else Machine.State.MAINTENANCE,
            fault_reason="" if succeeded else f"Cleaning failed: {reason}"[:2000],
        )
    elif operation.kind == Operation.Kind.PROVISION and succeeded:
        Machine.objects.filter(pk=operation.machine_id).update(state=Machine.State.IN_USE)
        usage.confirm_device(device)
    Device.objects.filter(pk=device.pk).update(**fields)
    verb = "succeeded" if succeeded else f"failed: {reason}"
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


def waiting_step(operation: Operation) -> Step | None:
    """The step the operation waits on, if it is waiting on the machine."""
    return operation.steps.filter(state=Step.State.WAITING, name__in=WAITING_STEPS).first()
