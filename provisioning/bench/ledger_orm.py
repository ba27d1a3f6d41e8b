"""The ledger's hot-path statements (provisioning.ledger.sql) as the ORM would say them, with the
same signatures and results: the baseline `manage.py bench_ledger_sql` measures the hand-written
ones against. Not used by the product: a statement whose ORM form here is less than twice as
costly as the hand-written one moves back to the ORM, in the ledger, and leaves this module.
"""

import ipaddress

from django.db.models import Case, Exists, F, OuterRef, Q, Value, When

from inventory.models import Machine, MachineNic
from portal.models import SSHKey
from provisioning.models import Device, IPAssignment, Operation, Step
from provisioning.workflows import WAITING_STEPS, WORKFLOWS

RUNNING = Operation.State.RUNNING
DELETED = Device.State.DELETED
_CLOSED = (Step.State.DONE, Step.State.SKIPPED)

# The step's operation is still running, as a condition on the step's own row (an EXISTS in the
# UPDATE's WHERE): PostgreSQL re-checks it against a row another transaction changed meanwhile,
# which the `id IN (subquery)` Django writes for a filter across a join would not.
_OPERATION_RUNNING = Exists(Operation.objects.filter(pk=OuterRef("operation_id"), state=RUNNING))


# -- the runner ----------------------------------------------------------------------------


def running_operation(operation_id: int) -> Operation | None:
    """A running operation with what the runner reads: its device (with its facility and
    operating system) and its machine; None once it is over."""
    return (
        Operation.objects.select_related("device__facility", "device__operating_system", "machine")
        .filter(pk=operation_id, state=RUNNING)
        .first()
    )


def steps(operation: Operation) -> list[Step]:
    """The operation's steps in order."""
    found = list(Step.objects.filter(operation_id=operation.pk).order_by("index"))
    for step in found:
        step.operation = operation
    return found


def claim(step: Step, generation: int, outcome: dict, now) -> int:
    """Claim `step` into `outcome` (state, lease_expires_at, and error / finished_at where the
    outcome sets them) with a new generation: 1 if its row was still as read and its operation
    running, else 0."""
    changes = {
        "generation": generation,
        "attempts": F("attempts") + 1,
        "started_at": now,
        "not_before": None,
        "state": outcome["state"],
        "lease_expires_at": outcome["lease_expires_at"],
    }
    if "error" in outcome:
        changes["error"] = ""
    if "finished_at" in outcome:
        changes["finished_at"] = now
    return Step.objects.filter(
        _OPERATION_RUNNING, pk=step.pk, generation=step.generation, state=step.state
    ).update(**changes)


def complete(step: Step, generation: int, now) -> int:
    """Mark a step done if our lease on it still holds (1), else leave it (0)."""
    return Step.objects.filter(pk=step.pk, generation=generation, state=Step.State.RUNNING).update(
        state=Step.State.DONE, finished_at=now, lease_expires_at=None, error=""
    )


def start_waiting(operation: Operation, index: int, now) -> int:
    """Claim the operation's pending step at `index`, a waiting step, straight into waiting
    (what the runner would do, without a pass of its own), if the operation is running and
    every step before it is done. The number of rows written (1 or 0)."""
    earlier_open = Step.objects.filter(operation_id=operation.pk, index__lt=index).exclude(
        state__in=_CLOSED
    )
    return (
        Step.objects.filter(
            _OPERATION_RUNNING, operation_id=operation.pk, index=index, state=Step.State.PENDING
        )
        .exclude(Exists(earlier_open))
        .update(
            state=Step.State.WAITING,
            generation=F("generation") + 1,
            attempts=F("attempts") + 1,
            started_at=now,
            not_before=None,
            lease_expires_at=None,
            error="",
        )
    )


def create_steps(operations: list[Operation]) -> None:
    """Write the steps of operations just created, pending, as their workflows list them."""
    Step.objects.bulk_create(
        Step(operation_id=operation.pk, index=index, name=name, state=Step.State.PENDING)
        for operation in operations
        for index, name in enumerate(WORKFLOWS[operation.kind].steps)
    )


def show_progress(
    device: Device, current_step: str, percentage: int | None, *, begins: bool
) -> None:
    """Put a step on the device: its name, and with a percentage its place on the progress
    bar, never backwards within an operation; a first step (0 %) starts the bar afresh.
    `begins` also moves the device out of `queued` into `provisioning`, and its machine from
    `allocated` to `deploying`."""
    changes = {"current_step": current_step}
    devices = Device.objects.filter(pk=device.pk)
    if begins:
        changes["state"] = Case(
            When(state=Device.State.QUEUED, then=Value(Device.State.PROVISIONING)),
            default=F("state"),
        )
    if percentage is not None:
        changes["provisioning_percentage"] = percentage
        if percentage:
            devices = devices.filter(
                Q(provisioning_percentage__isnull=True) | Q(provisioning_percentage__lte=percentage)
            )
    devices.update(**changes)
    if begins:
        Machine.objects.filter(pk=device.machine_id, state=Machine.State.ALLOCATED).update(
            state=Machine.State.DEPLOYING
        )


# -- the boot path -------------------------------------------------------------------------

_WITH_DEVICE = (
    "device__project__organization",
    "device__operating_system",
    "device__facility",
)


def operation_for_token_digest(digest: str) -> Operation | None:
    """The operation holding this agent token digest (any state), with its device, the
    device's project (and organization), operating system and facility."""
    return Operation.objects.select_related(*_WITH_DEVICE).filter(agent_token_digest=digest).first()


def running_operation_of(device_id: int) -> Operation | None:
    """The device's running operation, with the device as above."""
    return (
        Operation.objects.select_related(*_WITH_DEVICE)
        .filter(device_id=device_id, state=RUNNING)
        .first()
    )


def operation_for_boot(machine: Machine) -> Operation | None:
    """The running operation of a network-booting machine, with its device as above and
    `installer_pending`: has its installer (the await_agent step) yet to finish?"""
    operation = (
        Operation.objects.select_related(*_WITH_DEVICE)
        .filter(machine_id=machine.pk, state=RUNNING)
        .annotate(
            installer_pending=Exists(
                Step.objects.filter(operation=OuterRef("pk"), name="await_agent").exclude(
                    state__in=_CLOSED
                )
            )
        )
        .first()
    )
    if operation is not None:
        operation.machine = machine
    return operation


def supernets(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """Every network that could contain the address, as IP assignments store them (canonical
    CIDR strings): the address is inside an assignment iff its network is one of these."""
    return [
        str(ipaddress.ip_network(f"{ip}/{length}", strict=False))
        for length in range(ip.max_prefixlen, -1, -1)
    ]


def _ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address) if address else None
    except ValueError:
        return None


def machine_at(address: str | None) -> Machine | None:
    """The machine Ironyard gave this address: its provisioning address, else an address IPAM
    gave its live device. Nothing else identifies a caller of the boot path."""
    ip = _ip(address)
    if ip is None:
        return None
    machine = Machine.objects.filter(provisioning_address=str(ip)).first()
    if machine is not None:
        return machine
    assigned = (
        IPAssignment.objects.filter(network__in=supernets(ip))
        .exclude(device__state=DELETED)
        .exclude(device__machine=None)
        .select_related("device__machine")
        .order_by("pk")
        .first()
    )
    return assigned.device.machine if assigned is not None else None


def has_nic(machine: Machine, mac: str) -> bool:
    """Is `mac` one of the machine's NICs?"""
    return MachineNic.objects.filter(machine_id=machine.pk, mac_address=mac).exists()


def _live_at(address: str | None):
    """The live devices a source address may belong to, narrowest lookup first: the device on
    the machine whose provisioning address it is, then one an assignment of it holds."""
    ip = _ip(address)
    if ip is None:
        return None, None
    live = Device.objects.exclude(state=DELETED)
    by_machine = live.filter(machine__provisioning_address=str(ip))
    by_assignment = live.filter(ip_assignments__network__in=supernets(ip)).order_by(
        "ip_assignments__pk"
    )
    return by_machine, by_assignment


def live_device_id_at(address: str | None) -> int | None:
    """The id of the live device a source address belongs to."""
    by_machine, by_assignment = _live_at(address)
    if by_machine is None:
        return None
    return (
        by_machine.values_list("pk", flat=True).first()
        or by_assignment.values_list("pk", flat=True).first()
    )


def live_device_at(address: str | None) -> Device | None:
    """The live device a source address belongs to, alone."""
    by_machine, by_assignment = _live_at(address)
    if by_machine is None:
        return None
    return by_machine.order_by().first() or by_assignment.first()


def device_for_metadata(pk: int) -> Device | None:
    """A device with what its metadata document reads: plan, metro, facility, operating
    system, machine (if it still has one) and project."""
    return (
        Device.objects.select_related(
            "plan", "metro", "facility", "operating_system", "project", "machine"
        )
        .filter(pk=pk)
        .first()
    )


def nics(machine_id: int) -> list[MachineNic]:
    """A machine's NICs, by name."""
    return list(MachineNic.objects.filter(machine_id=machine_id).order_by("name"))


def assignments(device: Device) -> list[IPAssignment]:
    """The device's IP assignments in order, each with its reservation."""
    return list(
        IPAssignment.objects.filter(device_id=device.pk)
        .select_related("reservation")
        .order_by("pk")
    )


def ssh_public_keys(device: Device) -> list[str]:
    """The public keys of the device's SSH keys, in the keys' order (label)."""
    return list(
        SSHKey.objects.filter(devices=device.pk)
        .order_by("label", "pk")
        .values_list("key", flat=True)
    )


def complete_waiting(operation: Operation, step_name: str, now, *, last: bool) -> Step | None:
    """Mark done the operation's first open `step_name` step (pending, running or waiting), if
    the operation is running and every waiting step before it is done; with `last`, only if no
    other step is open either. The step as written (its started_at: when its wait began), or
    None."""
    first_open = (
        Step.objects.filter(operation_id=operation.pk, name=step_name)
        .exclude(state__in=(*_CLOSED, Step.State.FAILED))
        .order_by("index")
        .values("pk")[:1]
    )
    waiting_before = Step.objects.filter(
        operation_id=operation.pk, index__lt=OuterRef("index"), name__in=WAITING_STEPS
    ).exclude(state=Step.State.DONE)
    rows = Step.objects.filter(
        _OPERATION_RUNNING,
        pk=first_open,
        state__in=(Step.State.PENDING, Step.State.RUNNING, Step.State.WAITING),
    ).exclude(Exists(waiting_before))
    if last:
        others_open = Step.objects.filter(operation_id=operation.pk).exclude(
            Q(pk=OuterRef("pk")) | Q(state__in=_CLOSED)
        )
        rows = rows.exclude(Exists(others_open))
    step = rows.first()
    if step is None or not rows.filter(pk=step.pk).update(
        state=Step.State.DONE, finished_at=now, lease_expires_at=None
    ):
        return None
    return step
