"""The statements every provisioned server goes through, written in SQL: the runner's reads and
compare-and-set claims, the progress bar, and the boot path's lookups by token, MAC and source
address. Each is here because `make bench-ledger-sql` shows it at least twice as cheap as the
same statement through the ORM (provisioning.bench.ledger_orm; 2.6x to 20x in CPU when last
measured: Django compiling a statement anew costs more than PostgreSQL running it); one that
falls under 2x goes back to the ORM. They run through `rawsql`, whose instances are the ORM's
own; the tests that pin the ledger's behaviour and the boot path's query budgets run against
them on PostgreSQL and on SQLite (`make run`'s database).
"""

import ipaddress

from inventory.models import Facility, IPReservation, Machine, MachineNic, OperatingSystem, Plan
from inventory.models import Metro as MetroModel
from portal.models import Organization, Project, SSHKey

from ..models import Device, IPAssignment, Operation, Step
from ..workflows import WAITING_STEPS, WORKFLOWS
from .rawsql import Columns, at, execute, select

OPERATION = Operation._meta.db_table
STEP = Step._meta.db_table
DEVICE = Device._meta.db_table
DEVICE_KEYS = Device.ssh_keys.through._meta.db_table
ASSIGNMENT = IPAssignment._meta.db_table
MACHINE = Machine._meta.db_table
NIC = MachineNic._meta.db_table
FACILITY = Facility._meta.db_table
METRO = MetroModel._meta.db_table
PLAN = Plan._meta.db_table
OS = OperatingSystem._meta.db_table
RESERVATION = IPReservation._meta.db_table
PROJECT = Project._meta.db_table
ORGANIZATION = Organization._meta.db_table
SSH_KEY = SSHKey._meta.db_table

RUNNING = Operation.State.RUNNING
DELETED = Device.State.DELETED

_operation = Columns(Operation, "o")
_step = Columns(Step, "s")
_step_written = Columns(Step, STEP)  # an UPDATE's RETURNING, which names its table
_device = Columns(Device, "d")
_machine = Columns(Machine, "m")
_nic = Columns(MachineNic, "n")
_facility = Columns(Facility, "f")
_metro = Columns(MetroModel, "mt")
_plan = Columns(Plan, "pl")
_os = Columns(OperatingSystem, "os")
_project = Columns(Project, "p")
_organization = Columns(Organization, "org")
_assignment = Columns(IPAssignment, "a")
_reservation = Columns(IPReservation, "r")

# -- the runner --------------------------------------------------------------------------------


def running_operation(operation_id: int) -> Operation | None:
    """A running operation with what the runner reads: its device (with its facility and
    operating system) and its machine; None once it is over."""
    rows = select(
        f"""SELECT {_operation.sql}, {_device.sql}, {_facility.sql}, {_os.sql}, {_machine.sql}
        FROM {OPERATION} o
        JOIN {DEVICE} d ON d.id = o.device_id
        JOIN {FACILITY} f ON f.id = d.facility_id
        JOIN {OS} os ON os.id = d.operating_system_id
        JOIN {MACHINE} m ON m.id = o.machine_id
        WHERE o.id = %s AND o.state = %s""",
        [operation_id, RUNNING],
        _operation,
        _device,
        _facility,
        _os,
        _machine,
    )
    if not rows:
        return None
    operation, device, facility, os_, machine = rows[0]
    device.facility, device.operating_system = facility, os_
    operation.device, operation.machine = device, machine
    return operation


def steps(operation: Operation) -> list[Step]:
    """The operation's steps in order."""
    found = [
        step
        for (step,) in select(
            f'SELECT {_step.sql} FROM {STEP} s WHERE s.operation_id = %s ORDER BY s."index"',
            [operation.pk],
            _step,
        )
    ]
    for step in found:
        step.operation = operation
    return found


# The step's operation is still running, as a condition on the step's own row: PostgreSQL
# re-checks it against a row another transaction changed meanwhile, which an `id IN (subquery)`
# form would not. Every compare-and-set on a step says it.
_OPERATION_RUNNING = f"""EXISTS (SELECT 1 FROM {OPERATION} o WHERE o.id = {STEP}.operation_id
    AND o.state = %(operation_running)s)"""

# A step's claim: its own row still as we read it, and its operation still running.
_CLAIMABLE = f"""id = %(step)s AND generation = %(seen_generation)s AND state = %(seen_state)s
    AND {_OPERATION_RUNNING}"""


def claim(step: Step, generation: int, outcome: dict, now) -> int:
    """Claim `step` into `outcome` (state, lease_expires_at, and error / finished_at where the
    outcome sets them) with a new generation: 1 if its row was still as read and its operation
    running, else 0."""
    params = {
        "step": step.pk,
        "seen_generation": step.generation,
        "seen_state": step.state,
        "operation_running": RUNNING,
        "generation": generation,
        "state": outcome["state"],
        "now": at(now),
        "lease": at(outcome["lease_expires_at"]),
    }
    sets = [
        "generation = %(generation)s",
        "attempts = attempts + 1",
        "started_at = %(now)s",
        "not_before = NULL",
        "state = %(state)s",
        "lease_expires_at = %(lease)s",
    ]
    if "error" in outcome:
        sets.append("error = ''")
    if "finished_at" in outcome:
        sets.append("finished_at = %(now)s")
    return execute(f"UPDATE {STEP} SET {', '.join(sets)} WHERE {_CLAIMABLE}", params)


def complete(step: Step, generation: int, now) -> int:
    """Mark a step done if our lease on it still holds (1), else leave it (0)."""
    return execute(
        f"""UPDATE {STEP} SET state = %s, finished_at = %s, lease_expires_at = NULL, error = ''
        WHERE id = %s AND generation = %s AND state = %s""",
        [Step.State.DONE, at(now), step.pk, generation, Step.State.RUNNING],
    )


_WAITING = {f"waiting_step_{n}": name for n, name in enumerate(sorted(WAITING_STEPS))}
_WAITING_NAMES = ", ".join(f"%({key})s" for key in _WAITING)


def complete_waiting(operation: Operation, step_name: str, now, *, last: bool) -> Step | None:
    """Mark done the operation's first open `step_name` step (pending, running or waiting), if
    the operation is running and every waiting step before it is done; with `last`, only if no
    other step is open either. The step as written (its started_at: when its wait began), or
    None."""
    others_open = (
        f"""AND NOT EXISTS (SELECT 1 FROM {STEP} x WHERE x.operation_id = %(operation)s
            AND x.id <> {STEP}.id AND x.state NOT IN (%(done)s, %(skipped)s))"""
        if last
        else ""
    )
    rows = select(
        f"""UPDATE {STEP} SET state = %(done)s, finished_at = %(now)s, lease_expires_at = NULL
        WHERE id = (
                SELECT s.id FROM {STEP} s WHERE s.operation_id = %(operation)s AND s.name = %(name)s
                AND s.state NOT IN (%(done)s, %(skipped)s, %(failed)s) ORDER BY s."index" LIMIT 1
            )
            AND state IN (%(pending)s, %(running)s, %(waiting)s)
            AND {_OPERATION_RUNNING}
            AND NOT EXISTS (SELECT 1 FROM {STEP} e WHERE e.operation_id = %(operation)s
                AND e."index" < {STEP}."index" AND e.name IN ({_WAITING_NAMES})
                AND e.state <> %(done)s)
            {others_open}
        RETURNING {_step_written.sql}""",
        {
            "operation": operation.pk,
            "name": step_name,
            "now": at(now),
            "done": Step.State.DONE,
            "skipped": Step.State.SKIPPED,
            "failed": Step.State.FAILED,
            "pending": Step.State.PENDING,
            "running": Step.State.RUNNING,
            "waiting": Step.State.WAITING,
            "operation_running": RUNNING,
            **_WAITING,
        },
        _step_written,
    )
    return rows[0][0] if rows else None


def start_waiting(operation: Operation, index: int, now) -> int:
    """Claim the operation's pending step at `index`, a waiting step, straight into waiting
    (what the runner would do, without a pass of its own), if the operation is running and
    every step before it is done. The number of rows written (1 or 0)."""
    return execute(
        f"""UPDATE {STEP} SET state = %(waiting)s, generation = generation + 1,
            attempts = attempts + 1, started_at = %(now)s, not_before = NULL,
            lease_expires_at = NULL, error = ''
        WHERE operation_id = %(operation)s AND "index" = %(index)s AND state = %(pending)s
            AND {_OPERATION_RUNNING}
            AND NOT EXISTS (SELECT 1 FROM {STEP} e WHERE e.operation_id = %(operation)s
                AND e."index" < %(index)s AND e.state NOT IN (%(done)s, %(skipped)s))""",
        {
            "operation": operation.pk,
            "index": index,
            "now": at(now),
            "waiting": Step.State.WAITING,
            "pending": Step.State.PENDING,
            "done": Step.State.DONE,
            "skipped": Step.State.SKIPPED,
            "operation_running": RUNNING,
        },
    )


def create_steps(operations: list[Operation]) -> None:
    """Write the steps of operations just created, pending, as their workflows list them: one
    INSERT … SELECT per kind of operation, which costs PostgreSQL less than Django's bulk_create
    spends preparing thousands of rows."""
    by_kind: dict[str, list[int]] = {}
    for operation in operations:
        by_kind.setdefault(operation.kind, []).append(operation.pk)
    for kind, ids in by_kind.items():
        names = WORKFLOWS[kind].steps
        execute(
            f"""WITH workflow ("index", name) AS (VALUES {", ".join(["(%s, %s)"] * len(names))})
            INSERT INTO {STEP}
                (operation_id, "index", name, state, generation, attempts, error, raw)
            SELECT o.id, workflow."index", workflow.name, %s, 0, 0, '', %s
            FROM {OPERATION} o, workflow WHERE o.id IN ({", ".join(["%s"] * len(ids))})""",
            [
                *(value for step in enumerate(names) for value in step),
                Step.State.PENDING,
                "{}",
                *ids,
            ],
        )


def show_progress(
    device: Device, current_step: str, percentage: int | None, *, begins: bool
) -> None:
    """Put a step on the device: its name, and with a percentage its place on the progress
    bar, never backwards within an operation (the installer's own report can overtake the
    claim of the step that waits for it); a first step (0 %) starts the bar afresh. `begins`
    also moves the device out of `queued` into `provisioning`, and its machine from
    `allocated` to `deploying`."""
    sets, params = ["current_step = %s"], [current_step]
    where, where_params = "id = %s", [device.pk]
    if begins:
        sets.insert(0, "state = CASE WHEN state = %s THEN %s ELSE state END")
        params[:0] = [Device.State.QUEUED, Device.State.PROVISIONING]
    if percentage is not None:
        sets.append("provisioning_percentage = %s")
        params.append(percentage)
        if percentage:
            where += " AND (provisioning_percentage IS NULL OR provisioning_percentage <= %s)"
            where_params.append(percentage)
    execute(f"UPDATE {DEVICE} SET {', '.join(sets)} WHERE {where}", [*params, *where_params])
    if begins:
        execute(
            f"UPDATE {MACHINE} SET state = %s WHERE id = %s AND state = %s",
            [Machine.State.DEPLOYING, device.machine_id, Machine.State.ALLOCATED],
        )


# -- the boot path ---------------------------------------------------------------------------


def _operation_with_device(where: str, params: list, *extra: str) -> tuple | None:
    """The operation matching `where`, with its device, the device's project (and its
    organization), operating system, facility and plan; then the values of `extra` columns."""
    shapes = (_operation, _device, _project, _organization, _os, _facility, _plan)
    columns = ", ".join([*(shape.sql for shape in shapes), *extra])
    rows = select(
        f"""SELECT {columns}
        FROM {OPERATION} o
        JOIN {DEVICE} d ON d.id = o.device_id
        JOIN {PROJECT} p ON p.id = d.project_id
        JOIN {ORGANIZATION} org ON org.id = p.organization_id
        JOIN {OS} os ON os.id = d.operating_system_id
        JOIN {FACILITY} f ON f.id = d.facility_id
        JOIN {PLAN} pl ON pl.id = d.plan_id
        WHERE {where}""",
        params,
        *shapes,
    )
    if not rows:
        return None
    operation, device, project, organization, os_, facility, plan, *values = rows[0]
    project.organization = organization
    device.project, device.operating_system, device.facility = project, os_, facility
    device.plan = plan
    operation.device = device
    return operation, *values


def operation_for_token_digest(digest: str) -> Operation | None:
    """The operation holding this agent token digest (any state), with its device, the
    device's project (and organization), operating system, facility and plan."""
    found = _operation_with_device("o.agent_token_digest = %s", [digest])
    return found[0] if found else None


def running_operation_of(device_id: int) -> Operation | None:
    """The device's running operation, with the device as above."""
    found = _operation_with_device("o.device_id = %s AND o.state = %s", [device_id, RUNNING])
    return found[0] if found else None


def operation_for_boot(machine: Machine) -> Operation | None:
    """The running operation of a network-booting machine, with its device as above and
    `installer_pending`: has its installer (the await_agent step) yet to finish?"""
    found = _operation_with_device(
        "o.machine_id = %s AND o.state = %s",
        ["await_agent", Step.State.DONE, Step.State.SKIPPED, machine.pk, RUNNING],
        f"""EXISTS (SELECT 1 FROM {STEP} s WHERE s.operation_id = o.id AND s.name = %s
            AND s.state NOT IN (%s, %s))""",
    )
    if found is None:
        return None
    operation, pending = found
    operation.machine = machine
    operation.installer_pending = bool(pending)
    return operation


def _supernets(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
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
    rows = select(
        f"SELECT {_machine.sql} FROM {MACHINE} m WHERE m.provisioning_address = %s",
        [str(ip)],
        _machine,
    )
    if not rows:
        supernets = _supernets(ip)
        rows = select(
            f"""SELECT {_machine.sql} FROM {DEVICE} d JOIN {ASSIGNMENT} a ON a.device_id = d.id
            JOIN {MACHINE} m ON m.id = d.machine_id
            WHERE a.network IN ({", ".join(["%s"] * len(supernets))}) AND d.state <> %s
            ORDER BY a.id LIMIT 1""",
            [*supernets, DELETED],
            _machine,
        )
    return rows[0][0] if rows else None


def has_nic(machine: Machine, mac: str) -> bool:
    """Is `mac` one of the machine's NICs?"""
    return bool(
        select(
            f"SELECT 1 FROM {NIC} n WHERE n.machine_id = %s AND n.mac_address = %s",
            [machine.pk, mac],
        )
    )


def _live_at(address: str | None, columns: str, *shapes: Columns) -> tuple | None:
    """The first row of `columns` of the live device (`d`) a source address belongs to,
    narrowest lookup first: its machine's provisioning address, then an address inside one
    of its IP assignments."""
    ip = _ip(address)
    if ip is None:
        return None
    rows = select(
        f"""SELECT {columns} FROM {DEVICE} d JOIN {MACHINE} m ON m.id = d.machine_id
        WHERE m.provisioning_address = %s AND d.state <> %s""",
        [str(ip), DELETED],
        *shapes,
    )
    if rows:
        return rows[0]
    supernets = _supernets(ip)
    rows = select(
        f"""SELECT {columns} FROM {DEVICE} d JOIN {ASSIGNMENT} a ON a.device_id = d.id
        WHERE a.network IN ({", ".join(["%s"] * len(supernets))}) AND d.state <> %s
        ORDER BY a.id LIMIT 1""",
        [*supernets, DELETED],
        *shapes,
    )
    return rows[0] if rows else None


def live_device_id_at(address: str | None) -> int | None:
    """The id of the live device a source address belongs to."""
    found = _live_at(address, "d.id")
    return found[0] if found else None


def live_device_at(address: str | None) -> Device | None:
    """The live device a source address belongs to, alone."""
    found = _live_at(address, _device.sql, _device)
    return found[0] if found else None


def device_for_metadata(pk: int) -> Device | None:
    """A device with what its metadata document reads: plan, metro, facility, operating
    system, machine (if it still has one) and project."""
    rows = select(
        f"""SELECT {_device.sql}, {_plan.sql}, {_metro.sql}, {_facility.sql}, {_os.sql},
            {_project.sql}, {_machine.sql}
        FROM {DEVICE} d
        JOIN {PLAN} pl ON pl.id = d.plan_id
        JOIN {METRO} mt ON mt.id = d.metro_id
        JOIN {FACILITY} f ON f.id = d.facility_id
        JOIN {OS} os ON os.id = d.operating_system_id
        JOIN {PROJECT} p ON p.id = d.project_id
        LEFT JOIN {MACHINE} m ON m.id = d.machine_id
        WHERE d.id = %s""",
        [pk],
        _device,
        _plan,
        _metro,
        _facility,
        _os,
        _project,
        _machine,
    )
    if not rows:
        return None
    found, plan, metro, facility, os_, project, machine = rows[0]
    found.plan, found.metro, found.facility, found.operating_system = plan, metro, facility, os_
    found.project, found.machine = project, machine  # None from the LEFT JOIN: no machine
    return found


def nics(machine_id: int) -> list[MachineNic]:
    """A machine's NICs, by name."""
    return [
        nic
        for (nic,) in select(
            f"SELECT {_nic.sql} FROM {NIC} n WHERE n.machine_id = %s ORDER BY n.name",
            [machine_id],
            _nic,
        )
    ]


def assignments(device: Device) -> list[IPAssignment]:
    """The device's IP assignments in order, each with its reservation."""
    found = []
    for assignment, reservation in select(
        f"""SELECT {_assignment.sql}, {_reservation.sql} FROM {ASSIGNMENT} a
        JOIN {RESERVATION} r ON r.id = a.reservation_id WHERE a.device_id = %s ORDER BY a.id""",
        [device.pk],
        _assignment,
        _reservation,
    ):
        assignment.reservation = reservation
        found.append(assignment)
    return found


def ssh_public_keys(device: Device) -> list[str]:
    """The public keys of the device's SSH keys, in the keys' order (label)."""
    return [
        key
        for (key,) in select(
            f"""SELECT k."key" FROM {SSH_KEY} k JOIN {DEVICE_KEYS} t ON t.sshkey_id = k.id
            WHERE t.device_id = %s ORDER BY k.label, k.id""",
            [device.pk],
        )
    ]
