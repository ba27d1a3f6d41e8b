"""What provisioning counts: operations opened and ended (by kind and outcome), how long steps
take, how long a device takes from its creation to active, and BMC errors by kind.

The ledger (the one writer of lifecycle state) calls these hooks where it opens, completes,
fails, finishes and cancels, one line each; the runner calls `bmc_error` where it classifies a
BMC's failure. A change made inside a transaction is counted once it commits: an outcome rolled
back did not happen. The metrics live in each process (see portal.metrics for multiprocess
mode); the state gauges are not here but read from the database at scrape time
(provisioning.scrape).
"""

from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

from inventory.bmc import BmcAuthError, BmcError, BmcNotFoundError, BmcPermanentError, BmcTlsError

from .models import Operation

OPERATIONS_OPENED = Counter(
    "ironyard_operations_opened",
    "Operations opened (provision, power_on, power_off, reboot, reinstall, rescue, deprovision).",
    ["kind"],
)
OPERATIONS = Counter(
    "ironyard_operations",
    "Operations ended, by kind and outcome (succeeded, failed, cancelled).",
    ["kind", "outcome"],
)
STEP_DURATION = Histogram(
    "ironyard_step_duration_seconds",
    "Time from a step's claim (or the start of its wait) to its end, by step and outcome "
    "(done, failed); a retried step counts its last attempt.",
    ["step", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2700),
)
TIME_TO_ACTIVE = Histogram(
    "ironyard_time_to_active_seconds",
    "Time from a device's creation to active (its provision's success, failovers included).",
    buckets=(15, 30, 60, 90, 120, 180, 300, 600, 900, 1800, 2700, 3600),
)
BMC_ERRORS = Counter(
    "ironyard_bmc_errors",
    "BMC commands that failed, by kind (transient, permanent, auth, tls, not_found).",
    ["kind"],
)

# Most specific first: auth, TLS and not-found errors are permanent ones.
_BMC_KINDS = (
    (BmcAuthError, "auth"),
    (BmcTlsError, "tls"),
    (BmcNotFoundError, "not_found"),
    (BmcPermanentError, "permanent"),
)

_OUTCOMES = (Operation.State.SUCCEEDED, Operation.State.FAILED, Operation.State.CANCELLED)


def _zeros() -> None:
    """Every counter's series exists from the start, at 0: the first failure of a kind is then
    an increase that rate() and alerts see, not a series appearing."""
    for kind in Operation.Kind.values:
        OPERATIONS_OPENED.labels(kind)
        for outcome in _OUTCOMES:
            OPERATIONS.labels(kind, outcome)
    for kind in (*(kind for _, kind in _BMC_KINDS), "transient"):
        BMC_ERRORS.labels(kind)


_zeros()


def operations_opened(operations: Iterable[Operation]) -> None:
    """Operations were opened in the current transaction."""
    kinds = Tally(operation.kind for operation in operations)

    def count() -> None:
        for kind, opened in kinds.items():
            OPERATIONS_OPENED.labels(kind).inc(opened)

    transaction.on_commit(count)


def operation_ended(operation: Operation, outcome: str) -> None:
    """An operation ended (succeeded, failed, cancelled) in the current transaction; a
    provision that succeeded also tells how long its device took to become active."""
    kind, created = operation.kind, None
    if kind == Operation.Kind.PROVISION and outcome == Operation.State.SUCCEEDED:
        created = operation.device.created_at
    ended = timezone.now()

    def count() -> None:
        OPERATIONS.labels(kind, outcome).inc()
        if created is not None:
            TIME_TO_ACTIVE.observe(max(0.0, (ended - created).total_seconds()))

    transaction.on_commit(count)


def step_ended(name: str, started_at: datetime | None, outcome: str, ended: datetime) -> None:
    """A step ended (done, failed) at `ended`; one never started (a machine faster than the
    worker completed it while pending) has no duration."""
    if started_at is None:
        return
    seconds = max(0.0, (ended - started_at).total_seconds())
    transaction.on_commit(lambda: STEP_DURATION.labels(name, outcome).observe(seconds))


def bmc_kind(error: BmcError) -> str:
    """The kind of a BMC error; what is not permanent is retried, so counts as transient."""
    for cls, kind in _BMC_KINDS:
        if isinstance(error, cls):
            return kind
    return "transient"


def bmc_error(error: BmcError) -> None:
    """A BMC command failed (counted at once: it failed whatever the database does next)."""
    BMC_ERRORS.labels(bmc_kind(error)).inc()
