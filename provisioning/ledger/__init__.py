"""The ledger: the one writer of device, operation, step and machine lifecycle state.

Operations are opened here (with their steps, and a doorbell rung once their transaction
commits), their steps claimed, completed, retried and failed here, their waits moved on here when
the machine itself reports (the boot path), and they end here: finished, failed (with failover),
cancelled, an installer given up on. The worker loop (`runner`), the BMC step actions
(`actions`), the boot path, the reconciler and the services call down into it; it calls nothing
above it. What it reads and writes on the hot path is in `sql`.
"""

from .opening import (
    cancel,
    heartbeat,
    issue_agent_token,
    open_provisions,
    ring,
    start_operation,
)
from .outcomes import (
    MACHINE_FAULT_KINDS,
    audit_as_system,
    fail,
    finish,
    installer_silent,
    release_addresses,
    settle_orphan,
    waiting_step,
)
from .steps import (
    advance_waiting,
    backoff,
    check_again,
    claim,
    complete,
    expire_lease,
    fail_step,
    record_progress,
    retry_later,
)

__all__ = [
    "MACHINE_FAULT_KINDS",
    "advance_waiting",
    "audit_as_system",
    "backoff",
    "cancel",
    "check_again",
    "claim",
    "complete",
    "expire_lease",
    "fail",
    "fail_step",
    "finish",
    "heartbeat",
    "installer_silent",
    "issue_agent_token",
    "open_provisions",
    "record_progress",
    "release_addresses",
    "retry_later",
    "ring",
    "settle_orphan",
    "start_operation",
    "waiting_step",
]
