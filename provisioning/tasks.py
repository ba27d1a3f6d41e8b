"""Celery tasks: ids in, the ledger decides. Hardware work is routed to `site.<facility>`."""

import logging

from celery import shared_task
from celery.signals import worker_process_shutdown

from . import runner

logger = logging.getLogger(__name__)


def site_queue(facility_code: str) -> str:
    """The Celery queue of a facility: only a worker placed there reaches its BMCs."""
    return f"site.{facility_code}"


def ring(operation_id: int, facility_code: str, countdown: float | None = None) -> None:
    """Send run_operation for an operation to its facility's queue."""
    run_operation.apply_async(
        args=[operation_id], queue=site_queue(facility_code), countdown=countdown or None
    )


# Operations opened together (a batch of devices) share a message by this many: a thousand
# messages cost the request that opens them a second of publishing, and a worker a task's
# overhead each, where a message of ten runs them one after the other in a fraction of that.
RING_TOGETHER = 10


def ring_all(doorbells: list[tuple[int, str]]) -> None:
    """Ring for many operations, (operation id, facility code) each, in messages of up to
    RING_TOGETHER per facility."""
    by_facility: dict[str, list[int]] = {}
    for operation_id, facility_code in doorbells:
        by_facility.setdefault(facility_code, []).append(operation_id)
    for facility_code, ids in by_facility.items():
        for start in range(0, len(ids), RING_TOGETHER):
            chunk = ids[start : start + RING_TOGETHER]
            if len(chunk) == 1:
                ring(chunk[0], facility_code)
            else:
                run_operations.apply_async(args=[chunk], queue=site_queue(facility_code))


@worker_process_shutdown.connect
def _log_out_of_bmcs(**kwargs) -> None:
    runner.close_sessions()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_operation(operation_id: int) -> None:
    """Advance an operation; a duplicate or late message finds nothing to do."""
    runner.run(operation_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_operations(operation_ids: list[int]) -> None:
    """Advance several operations one after the other; one that fails to run (its database
    call, say) does not hold up the others, and the reconciler rings for it again."""
    for operation_id in operation_ids:
        try:
            runner.run(operation_id)
        except Exception:
            logger.exception("operation %s could not be advanced", operation_id)


@shared_task(acks_late=True, ignore_result=True)
def reconcile() -> dict:
    """Beat: resume or end stalled work (see provisioning.reconciler)."""
    from . import reconciler

    return reconciler.reconcile()


@shared_task(acks_late=True, ignore_result=True)
def check_power_drift(machine_id: int) -> str | None:
    """Read one machine's power (routed to its site) and record drift."""
    from . import reconciler

    return reconciler.check_power_drift(machine_id)


@shared_task(acks_late=True, ignore_result=True)
def generate_invoices() -> int:
    """Beat, on the 1st: invoice last month; a second run finds every invoice already there."""
    from . import usage

    return len(usage.generate_invoices(usage.previous_month()))
