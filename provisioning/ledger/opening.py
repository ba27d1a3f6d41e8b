"""Opening operations, their doorbells, and the installer's token and heartbeat."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import tokens
from portal.errors import Conflict
from portal.models import User

from .. import doorbell, metrics
from ..models import Device, Operation
from ..workflows import WORKFLOWS
from . import sql


def ring(operation: Operation, countdown: float = 0) -> None:
    """Ring the operation's doorbell once the current transaction (if any) commits."""
    facility = operation.device.facility.code
    transaction.on_commit(lambda: doorbell.ring(operation.pk, facility, countdown))


def new_operation(
    device: Device, kind: str, acting_user: User | None, params: dict | None = None
) -> Operation:
    """An operation of `kind` for the device on its machine, not saved yet."""
    return Operation(
        device=device,
        machine=device.machine,
        kind=kind,
        params=params or {},
        created_by=acting_user,
        agent_token_digest="",
        deadline=timezone.now() + timedelta(seconds=settings.OPERATION_DEADLINE_SECONDS),
    )


def open_provisions(devices: list[Device], acting_user: User | None) -> list[Operation]:
    """Open the provision of devices just created (they have no operation to conflict with),
    in the caller's transaction; ring for them once it commits."""
    operations = Operation.objects.bulk_create(
        new_operation(device, Operation.Kind.PROVISION, acting_user) for device in devices
    )
    _open(operations)
    return operations


def _open(operations: list[Operation]) -> None:
    """Write the steps of operations just created; ring each one's doorbell on commit."""
    sql.create_steps(operations)
    metrics.operations_opened(operations)
    doorbells = [(operation.pk, operation.device.facility.code) for operation in operations]
    transaction.on_commit(lambda: doorbell.ring_all(doorbells))


def start_operation(
    device: Device, kind: str, *, acting_user: User | None, params: dict | None = None
) -> Operation:
    """Open an operation and its steps in the caller's transaction; run it once committed.
    Conflict if the device or its machine has one running already."""
    try:
        with transaction.atomic():
            operation = new_operation(device, kind, acting_user, params)
            operation.save()
    except IntegrityError as exc:
        raise Conflict(
            "Another action is still running on this server; try again when it has finished."
        ) from exc
    _open([operation])
    if kind == Operation.Kind.PROVISION:
        return operation  # "queued" until a worker picks it up
    # The tenant sees the transition at once.
    running = WORKFLOWS[kind].running
    fields = {"state": running}
    if kind == Operation.Kind.DEPROVISION:
        fields.update(current_step="", provisioning_percentage=None)
    Device.objects.filter(pk=device.pk).update(**fields)
    device.state = running
    return operation


def cancel(operation: Operation, reason: str) -> bool:
    """End a running operation as cancelled (its installer's token with it); False if it was
    not running."""
    if not Operation.objects.filter(pk=operation.pk, state=Operation.State.RUNNING).update(
        state=Operation.State.CANCELLED,
        finished_at=timezone.now(),
        error=reason[:2000],
        agent_token_digest="",
        agent_address=None,
    ):
        return False
    metrics.operation_ended(operation, Operation.State.CANCELLED)
    return True


def issue_agent_token(operation: Operation, address: str) -> str:
    """A fresh bearer token for the installer agent of this operation, usable only from
    `address` (the machine's, which it is handed to), stored as a digest; the one before stops
    working. Booting the installer is its first sign of life."""
    token = tokens.random_secret()
    Operation.objects.filter(pk=operation.pk).update(
        agent_token_digest=tokens.digest(token),
        agent_address=address,
        agent_seen_at=timezone.now(),
    )
    return token


def heartbeat(operation: Operation) -> None:
    """The installer called: it is alive (see outcomes.installer_silent)."""
    Operation.objects.filter(pk=operation.pk).update(agent_seen_at=timezone.now())
