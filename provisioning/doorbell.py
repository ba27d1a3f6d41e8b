"""Ringing for work: Celery only rings the doorbell (the ledger says what is to be done), and
every message that touches hardware goes to its facility's queue, `site.<facility code>`, so a
worker placed in each datacenter reaches only its own BMCs.

Tasks are sent by name: whoever rings (the ledger, the reconciler) does not import the tasks
module, which imports the runner and the reconciler to run them. They go through the project's
own Celery app (not `current_app`, which in a thread Celery did not start, such as a web
server's, is a default app that knows nothing of the project's broker).
"""

from portal.celery import app

RUN_OPERATION = "provisioning.tasks.run_operation"
RUN_OPERATIONS = "provisioning.tasks.run_operations"
CHECK_POWER_DRIFT = "provisioning.tasks.check_power_drift"

# Operations opened together (a batch of devices) share a message by this many: a thousand
# messages cost the request that opens them a second of publishing, and a worker a task's
# overhead each, where a message of ten runs them one after the other in a fraction of that.
RING_TOGETHER = 10


def site_queue(facility_code: str) -> str:
    """The Celery queue of a facility: only a worker placed there reaches its BMCs."""
    return f"site.{facility_code}"


def ring(operation_id: int, facility_code: str, countdown: float | None = None) -> None:
    """Send run_operation for an operation to its facility's queue."""
    app.send_task(
        RUN_OPERATION,
        args=[operation_id],
        queue=site_queue(facility_code),
        countdown=countdown or None,
    )


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
                app.send_task(RUN_OPERATIONS, args=[chunk], queue=site_queue(facility_code))


def check_power(machine_id: int, facility_code: str) -> None:
    """Ask the machine's site to read its power and record drift."""
    app.send_task(CHECK_POWER_DRIFT, args=[machine_id], queue=site_queue(facility_code))
