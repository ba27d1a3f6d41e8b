"""Celery tasks: ids in, the ledger decides. Hardware work is routed to `site.<facility>`
(see `doorbell`, which sends these by name)."""

import logging

from celery import shared_task
from celery.signals import worker_process_shutdown

from . import actions, reconciler, runner
from .billing import usage

logger = logging.getLogger(__name__)


@worker_process_shutdown.connect
def _log_out_of_bmcs(**kwargs) -> None:
    actions.close_sessions()


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
    return reconciler.reconcile()


@shared_task(acks_late=True, ignore_result=True)
def check_power_drift(machine_id: int) -> str | None:
    """Read one machine's power (routed to its site) and record drift."""
    return reconciler.check_power_drift(machine_id)


@shared_task(acks_late=True, ignore_result=True)
def generate_invoices() -> int:
    """Beat, on the 1st: invoice last month; a second run finds every invoice already there."""
    return len(usage.generate_invoices(usage.previous_month()))
