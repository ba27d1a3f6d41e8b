"""Celery tasks: ids in, the ledger decides. Hardware work is routed to `site.<facility>`."""

from celery import shared_task

from . import runner


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
