"""Steps: claimed under a fenced lease, completed only while the lease is still the claimer's,
retried later, failed; waits moved on by the machine itself; the device's progress bar.

Every write here is a compare-and-set on what the caller believes (generation, state, the
operation still running), so a worker presumed dead that comes back late, or a machine faster
than the worker, changes nothing it should not.
"""

import logging
import random
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from portal import audit

from .. import metrics
from ..models import Device, Operation, Step
from ..workflows import STEP_LABELS, WAITING_STEPS, WORKFLOWS
from . import sql
from .opening import ring
from .outcomes import audit_as_system, fail, finish

logger = logging.getLogger(__name__)


def waits(operation: Operation) -> bool:
    """Does a waiting step of this operation wait? A custom iPXE install has no installer agent
    and need not phone home: the user's script owns the machine from its first network boot."""
    return not (
        operation.device.operating_system.custom_ipxe
        and operation.kind in (Operation.Kind.PROVISION, Operation.Kind.REINSTALL)
    )


def claim_outcome(operation: Operation, step: Step, now) -> dict:
    """What claiming the step writes. A waiting step acts on nothing: it is claimed straight
    into its outcome (waiting, or done when there is nothing to wait for), with no lease."""
    if step.name not in WAITING_STEPS:
        return {
            "state": Step.State.RUNNING,
            "lease_expires_at": now + timedelta(seconds=settings.STEP_LEASE_SECONDS),
        }
    if waits(operation):
        return {"state": Step.State.WAITING, "lease_expires_at": None, "error": ""}
    return {"state": Step.State.DONE, "lease_expires_at": None, "error": "", "finished_at": now}


def claim(operation: Operation, step: Step, now) -> bool:
    """Claim `step` into its outcome (see claim_outcome) if its row is still as read and the
    operation still running, bumping its generation; show it on the progress bar. False: it
    was not ours to claim."""
    outcome = claim_outcome(operation, step, now)
    generation = step.generation + 1
    if not sql.claim(step, generation, outcome, now):
        return False
    step.state, step.generation, step.attempts = outcome["state"], generation, step.attempts + 1
    step.started_at = now  # as written: the step's duration runs from here
    # The first step of a provision also moves the device out of `queued` and the machine into
    # `deploying`.
    begins = step.index == 0 and step.attempts == 1 and operation.kind == Operation.Kind.PROVISION
    show_step(operation, step.index, begins=begins)
    return True


def complete(operation: Operation, step: Step) -> bool:
    """Record a step done, if our lease on it still holds (a stale result is thrown away)."""
    now = timezone.now()
    if sql.complete(step, step.generation, now):
        step.state = Step.State.DONE
        metrics.step_ended(step.name, step.started_at, Step.State.DONE, now)
        return True
    logger.info("stale result for step %s of operation %s ignored", step.name, operation.pk)
    return False


def retry_later(operation: Operation, step: Step, delay: float, **recorded) -> None:
    """The step is not done yet: back to pending, due in `delay` seconds (with what the try
    `recorded`: error, raw BMC answer), and rung for then."""
    Step.objects.filter(pk=step.pk, generation=step.generation).update(
        state=Step.State.PENDING,
        not_before=timezone.now() + timedelta(seconds=delay),
        **recorded,
    )
    ring(operation, delay)


def check_again(operation: Operation, step: Step, delay: float) -> None:
    """The step's condition is not met yet (power still on its way): like retry_later, but
    it does not count as an attempt."""
    Step.objects.filter(pk=step.pk, generation=step.generation).update(
        state=Step.State.PENDING,
        attempts=F("attempts") - 1,
        not_before=timezone.now() + timedelta(seconds=delay),
    )
    ring(operation, delay)


def backoff(attempt: int) -> float:
    """Exponential back-off with full jitter, capped (seconds)."""
    base = settings.STEP_RETRY_BASE_SECONDS * (2 ** (attempt - 1))
    return random.uniform(base / 2, min(base, settings.STEP_RETRY_MAX_SECONDS))  # noqa: S311


@transaction.atomic(savepoint=False)
def fail_step(
    operation: Operation, step: Step, reason: str, *, error: str, machine_fault: bool, raw=None
) -> None:
    """The step failed for good, if it is still ours: it and its operation end failed."""
    now = timezone.now()
    if Step.objects.filter(pk=step.pk, generation=step.generation).update(
        state=Step.State.FAILED, error=error[:2000], raw=raw or {}, finished_at=now
    ):
        metrics.step_ended(step.name, step.started_at, Step.State.FAILED, now)
        fail(operation, reason, machine_fault=machine_fault)


def show_step(operation: Operation, index: int, *, begins: bool = False) -> None:
    """Put the operation's step at `index` on the device: its name, and its place on the
    progress bar if the operation fills one."""
    workflow = WORKFLOWS[operation.kind]
    name = workflow.steps[index]
    percentage = int(100 * index / len(workflow.steps)) if workflow.fills_bar else None
    sql.show_progress(operation.device, STEP_LABELS.get(name, name), percentage, begins=begins)


def expire_lease(step_id: int, now) -> bool:
    """A step held by a worker that stopped renewing its lease: back to pending (the next
    claim fences the old holder out)."""
    return bool(
        Step.objects.filter(pk=step_id, state=Step.State.RUNNING, lease_expires_at__lt=now).update(
            state=Step.State.PENDING, lease_expires_at=None
        )
    )


# The transitions below are all-or-nothing with their caller's transaction when they run inside
# one (the boot endpoints record their events around them): no savepoint, which would cost two
# more round trips per call, since nobody carries on after their errors.
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
    if WORKFLOWS[operation.kind].steps[-1] == step_name and (
        done := sql.complete_waiting(operation, step_name, now, last=True)
    ):
        metrics.step_ended(step_name, done.started_at, Step.State.DONE, now)
        if record_event is not None:
            record_event()
        with audit_as_system():
            finish(operation, succeeded=True)
        return True
    if not (done := sql.complete_waiting(operation, step_name, now, last=False)):
        return False
    metrics.step_ended(step_name, done.started_at, Step.State.DONE, now)
    if record_event is not None:
        record_event()
    if not _wait_next(operation, step_name, now):
        ring(operation)
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
    if not waits(operation) or not sql.start_waiting(operation, index, now):
        return False
    show_step(operation, index)
    return True


# Each installer step's share of the installer's part of the progress bar (in %), so that the
# bar keeps moving forward from one step to the next: writing the image is most of the work.
INSTALLER_SHARES = {"wipe_disks": (0, 15), "write_image": (15, 90), "configure": (90, 100)}


def record_progress(
    operation: Operation, reports: list[tuple[str, int, str]], *, move_bar: bool = True
) -> None:
    """Installer progress reports (step, percent, message), in the order they happened: the
    last one moves the device's progress bar (if the operation fills one, and unless the
    installer's end takes it over); each that ends a step (100 %) is also its timeline entry,
    with what the step did (the disks it wiped and how, the image's speed, …), so the timeline
    reads one line per installer phase however often an agent reports."""
    device = operation.device
    workflow = WORKFLOWS[operation.kind]
    if move_bar and reports and workflow.fills_bar:
        base = 100 * workflow.steps.index("await_agent") // len(workflow.steps)
        span = 100 // len(workflow.steps)
        step, percent, message = reports[-1]
        installs = operation.kind in (Operation.Kind.PROVISION, Operation.Kind.REINSTALL)
        start, end = INSTALLER_SHARES.get(step, (0, 100)) if installs else (0, 100)
        within = start + (end - start) * max(0, min(100, percent)) // 100
        overall = min(99, base + span * within // 100)
        # Never backwards: reports of an earlier step, or sent again, do not undo progress.
        Device.objects.filter(pk=device.pk).update(
            provisioning_percentage=Greatest(Coalesce("provisioning_percentage", 0), overall),
            current_step=message[:100] or step,
        )
    for step, percent, message in reports:
        if percent == 100:
            audit.record(
                f"provisioning.{step}",
                actor=None,
                text=message or f"{step}: done",
                project=device.project,
                objects=[device],
            )
