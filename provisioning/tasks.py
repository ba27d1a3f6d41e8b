"""Celery tasks: ids in, the ledger decides. Hardware work is routed to `site.<facility>`."""

from celery import shared_task

from . import runner


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_operation(operation_id: int) -> None:
    """Advance an operation; a duplicate or late message finds nothing to do."""
    runner.run(operation_id)
