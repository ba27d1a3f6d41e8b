"""The worker loop: moves an operation through its steps as far as it can go now.

Celery only rings the doorbell (`doorbell.ring` sends tasks.run_operation(id)); the ledger says
what is done. Each step is claimed in the ledger (its generation bumped under a compare-and-set),
its BMC action runs (`actions`), and it is completed only if the generation is still ours, so a
worker presumed dead that comes back late cannot overwrite newer work. Waiting steps (the
installer agent, the first boot's phone-home) hold no worker: the boot path moves them on, the
reconciler gives up on them.
"""

import logging

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from inventory.bmc import BmcError, BmcPermanentError
from inventory.enrollment import describe_bmc_error

from . import actions, ledger, metrics
from .ledger import sql
from .models import Operation, Step
from .workflows import STEP_LABELS

logger = logging.getLogger(__name__)


def run(operation_id: int) -> None:
    """Advance an operation as far as it can go now (the body of tasks.run_operation)."""
    actions.close_idle_sessions()
    operation = sql.running_operation(operation_id)
    if operation is None:
        return  # gone, finished or cancelled: a redelivered message has nothing to do
    steps = sql.steps(operation)
    # The steps are read once and walked in memory: every claim is a compare-and-set on what we
    # believe, so a stale picture (the agent finished a waiting step early, the operation was
    # failed, another worker took over) costs one re-read, after which a lost claim means
    # "not ours".
    fresh = True
    while True:
        step = next(
            (s for s in steps if s.state not in (Step.State.DONE, Step.State.SKIPPED)), None
        )
        if step is None:
            ledger.finish(operation, succeeded=True)
            return
        now = timezone.now()
        due = _due_in(step, now)
        if due is None:
            return
        if due > 0:
            ledger.ring(operation, due)
            return
        if not ledger.claim(operation, step, now):
            if fresh:
                return
            operation = sql.running_operation(operation_id)
            if operation is None:
                return
            steps, fresh = sql.steps(operation), True
            continue
        fresh = False
        if step.state == Step.State.WAITING:
            return
        if step.state == Step.State.RUNNING and not (
            _act(operation, step) and ledger.complete(operation, step)
        ):
            return


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


def _act(operation: Operation, step: Step) -> bool:
    """Run one claimed step's action; True if it succeeded (the caller records it done).
    A retry, a failure or a crash is recorded in the ledger here."""
    try:
        actions.ACTIONS[step.name](operation, step)
    except actions.NotYet as wait:
        ledger.check_again(operation, step, wait.delay)
        return False
    except BmcError as error:
        _bmc_failed(operation, step, error)
        return False
    except DatabaseError:
        raise  # the lease expires and the reconciler rings again: the database may be back
    except Exception as error:
        # A bug must end the operation visibly, not loop through lease expiries forever.
        logger.exception("step %s of operation %s crashed", step.name, operation.pk)
        ledger.fail_step(
            operation,
            step,
            f"Internal error in {step.name}; operators have the details.",
            error=repr(error),
            machine_fault=False,
        )
        return False
    return True


def _bmc_failed(operation: Operation, step: Step, error: BmcError) -> None:
    metrics.bmc_error(error)
    raw = {
        "status_code": error.raw.status_code,
        "body": error.raw.body,
        "completion_code": error.raw.completion_code,
        "message": error.raw.message,
    }
    message = describe_bmc_error(error)
    retryable = not isinstance(error, BmcPermanentError)
    if retryable and step.attempts < settings.STEP_MAX_ATTEMPTS:
        ledger.retry_later(operation, step, ledger.backoff(step.attempts), error=message, raw=raw)
        return
    ledger.fail_step(
        operation,
        step,
        f"{STEP_LABELS.get(step.name, step.name)} failed: {message}",
        error=message,
        raw=raw,
        machine_fault=True,
    )
