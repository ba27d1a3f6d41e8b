"""Celery tasks: ids in, the ledger decides. Hardware work is routed to `site.<facility>`."""

from celery import shared_task
from celery.signals import worker_process_shutdown

from . import runner


def site_queue(facility_code: str) -> str:
    """The Celery queue of a facility: only a worker placed there reaches its BMCs."""
    return f"site.{facility_code}"


def ring(operation_id: int, facility_code: str, countdown: float | None = None) -> None:
    """Send run_operation for an operation to its facility's queue."""
    run_operation.apply_async(
        args=[operation_id], queue=site_queue(facility_code), countdown=countdown or None
    )


@worker_process_shutdown.connect
def _log_out_of_bmcs(**kwargs) -> None:
    runner.close_sessions()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_operation(operation_id: int) -> None:
    """Advance an operation; a duplicate or late message finds nothing to do."""
    runner.run(operation_id)


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
