"""Enrollment: connect to a machine's BMC with the real driver, discover what it is, propose
the plan it matches, and create the machine — or explain, per row, why not.

BMC conversations happen outside any database transaction (they take seconds on real
hardware); each machine is then created in a transaction of its own, so a bad row never leaves
half a machine and never spoils the good rows.
"""

import csv
import io
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from portal import audit
from portal.errors import ServiceError
from portal.models import User
from portal.permissions import require

from . import services
from .bmc import (
    BmcAuthError,
    BmcEndpoint,
    BmcError,
    BmcNotFoundError,
    BmcTlsError,
    BmcTransientError,
    Inventory,
    Nic,
    driver_for,
)
from .bmc_access import ca_bundle_path
from .models import Facility, Machine, MachineNic, Plan, Rack, ssh_via_validator

CSV_COLUMNS = (
    "driver",
    "address",
    "username",
    "password",
    "facility",
    "system_id",
    "name",
    "plan",
    "rack",
    "rack_unit",
    "verify_tls",
    "macs",
    "ssh_via",
)


@dataclass
class EnrollmentRequest:
    """One BMC to enroll, as an operator describes it (form row, CSV line or command)."""

    driver: str
    address: str
    username: str
    password: str
    facility: str
    system_id: str = ""
    name: str = ""
    plan: str = ""
    rack: str = ""
    rack_unit: int | None = None
    verify_tls: bool = True
    ca_certificate: str = ""
    # NIC MACs, for BMCs that do not report them (IPMI); Redfish's own answer wins.
    macs: tuple[str, ...] = ()
    ssh_via: str = ""  # host:port users SSH to, if not the server's public address


@dataclass
class EnrollmentResult:
    """What happened to one request: a machine, or one clear error."""

    request: EnrollmentRequest
    machine: Machine | None = None
    plan: Plan | None = None
    error: str = ""
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.machine is not None


def endpoint_for(request: EnrollmentRequest, ca_bundle: str | None = None) -> BmcEndpoint:
    return BmcEndpoint(
        driver=request.driver,
        address=request.address.strip(),
        username=request.username,
        password=request.password,
        system_id=request.system_id or None,
        verify_tls=request.verify_tls,
        ca_bundle=ca_bundle,
    )


def describe_bmc_error(error: BmcError) -> str:
    """An operator-facing sentence for a BMC failure, with the BMC's own words."""
    raw = error.raw
    said = raw.body or raw.message
    detail = f" (BMC said: {said[:300]})" if said and said not in error.message else ""
    if isinstance(error, BmcAuthError):
        return f"The BMC refused the credentials.{detail}"
    if isinstance(error, BmcTlsError):
        return f"The BMC's TLS certificate could not be verified: {error.message}"
    if isinstance(error, BmcNotFoundError):
        return f"{error.message}{detail}"
    if isinstance(error, BmcTransientError):
        return f"The BMC is unreachable or not answering: {error.message}"
    return f"{error.message}{detail}"


def match_plan(found: Inventory) -> Plan | None:
    """The active plan whose match rules fit the discovered CPU sockets and memory."""
    candidates = Plan.objects.filter(active=True).exclude(
        match_cpu_count__isnull=True, match_memory_gib__isnull=True
    )
    for plan in candidates.order_by("hourly_price", "slug"):
        if plan.match_cpu_count is not None and plan.match_cpu_count != found.cpu_count:
            continue
        if plan.match_memory_gib is not None and plan.match_memory_gib != found.memory_gib:
            continue
        return plan
    return None


def discover(request: EnrollmentRequest) -> Inventory:
    """Ask the BMC what it manages (raises BmcError)."""
    with driver_for(endpoint_for(request, ca_bundle_path(request.ca_certificate))) as driver:
        return driver.inventory()


def _describe_hardware(found: Inventory) -> str:
    memory = f"{found.memory_gib} GiB" if found.memory_gib else "unknown memory"
    cpus = f"{found.cpu_count} CPU socket(s)" if found.cpu_count else "unknown CPUs"
    return f"{cpus}, {memory}"


def enroll(request: EnrollmentRequest, *, acting_user: User) -> EnrollmentResult:
    """Enroll one machine through its BMC; never raises for a bad row, returns its error."""
    require(acting_user.is_staff, "Only operators can enroll machines.")
    result = EnrollmentResult(request=request)
    if request.driver not in Machine.Driver.values:
        result.error = f"Unknown BMC driver '{request.driver}' (use redfish or ipmi)."
        return result
    facility = Facility.objects.filter(code=request.facility).first()
    if facility is None:
        result.error = f"Unknown facility '{request.facility}'."
        return result
    try:
        services.require_provisioning_network(facility)
    except ServiceError as exc:
        result.error = str(exc)
        return result
    plan = None
    if request.plan:
        plan = Plan.objects.filter(slug=request.plan).first()
        if plan is None:
            result.error = f"Unknown plan '{request.plan}'."
            return result
    rack = None
    if request.rack:
        rack, _ = Rack.objects.get_or_create(facility=facility, name=request.rack)
    try:
        found = discover(request)
    except BmcError as exc:
        result.error = describe_bmc_error(exc)
        return result
    result.details = {"hardware": _describe_hardware(found), "serial": found.serial_number}
    plan = plan or match_plan(found)
    if plan is None:
        result.error = (
            f"Unknown hardware: {_describe_hardware(found)} matches no plan; "
            "name a plan or add match rules to one."
        )
        return result
    result.plan = plan
    try:
        result.machine = _create_machine(request, found, facility, plan, rack, acting_user)
    except ServiceError as exc:
        result.error = str(exc)
    return result


@transaction.atomic
def _create_machine(request, found: Inventory, facility, plan, rack, acting_user) -> Machine:
    system_id = found.system_id or request.system_id or ""
    nics = list(found.nics) or [Nic(id=f"nic{i}", mac=mac) for i, mac in enumerate(request.macs)]
    if not nics:
        raise ServiceError(
            "The BMC reports no network interfaces; give the machine's MAC addresses "
            "(the macs column) so it can boot from the network."
        )
    macs = [nic.mac.lower() for nic in nics]
    clash = MachineNic.objects.filter(mac_address__in=macs).select_related("machine").first()
    if clash is not None:
        raise ServiceError(f"MAC {clash.mac_address} already belongs to {clash.machine.name}.")
    name = request.name or found.serial_number or f"{facility.code}-{(found.uuid or system_id)[:8]}"
    machine = Machine(
        name=name,
        facility=facility,
        rack=rack,
        rack_unit=request.rack_unit,
        plan=plan,
        state=Machine.State.AVAILABLE,
        system_uuid=found.uuid,
        serial_number=found.serial_number or "",
        manufacturer=found.manufacturer or "",
        model=found.model or "",
        cpu_count=found.cpu_count,
        cpu_model=found.cpu_model or "",
        cpu_cores=found.cpu_cores,
        memory_gib=found.memory_gib,
        disks=[{"name": d.name, "size_bytes": d.size_bytes} for d in found.disks],
        bmc_driver=request.driver,
        bmc_address=request.address.strip(),
        bmc_system_id=system_id,
        bmc_username=request.username,
        bmc_password=request.password,
        bmc_verify_tls=request.verify_tls,
        bmc_ca_certificate=request.ca_certificate,
        ssh_via=request.ssh_via,
    )
    if request.ssh_via:
        try:
            ssh_via_validator(request.ssh_via)
        except ValidationError as exc:
            raise ServiceError(f"ssh_via: {exc.messages[0]}") from exc
    try:
        with transaction.atomic():
            machine.save()
    except IntegrityError as exc:
        raise ServiceError(
            f"Already enrolled: a machine named {name} or with this BMC system exists."
        ) from exc
    MachineNic.objects.bulk_create(
        MachineNic(machine=machine, name=nic.id or f"nic{i}", mac_address=nic.mac.lower())
        for i, nic in enumerate(nics)
    )
    services.assign_provisioning_addresses(facility, [machine])
    audit.record(
        "machine.enrolled",
        actor=acting_user,
        text=f"{{actor}} enrolled {machine.name} ({plan.slug}) in {facility.code}, "
        f"provisioning address {machine.provisioning_address}",
        user=acting_user,
        objects=[machine],
    )
    return machine


def enroll_many(requests: list[EnrollmentRequest], *, acting_user: User) -> list[EnrollmentResult]:
    """Enroll each request independently; one result per request, in order."""
    require(acting_user.is_staff, "Only operators can enroll machines.")
    return [enroll(request, acting_user=acting_user) for request in requests]


def parse_csv(text: str) -> list[EnrollmentRequest]:
    """Rows of `driver,address,username,password,facility[,system_id,name,plan,rack,
    rack_unit,verify_tls]` (a header row with these names is optional)."""
    rows = [r for r in csv.reader(io.StringIO(text.strip())) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["driver", "address"]:
        header = [c.strip().lower() for c in rows[0]]
        rows = rows[1:]
    else:
        header = list(CSV_COLUMNS)
    requests = []
    for number, row in enumerate(rows, start=1):
        values = dict(zip(header, (c.strip() for c in row), strict=False))
        missing = [c for c in CSV_COLUMNS[:5] if not values.get(c)]
        if missing:
            raise ServiceError(f"CSV row {number}: missing {', '.join(missing)}.")
        unit = values.get("rack_unit") or ""
        if unit and not unit.isdigit():
            raise ServiceError(f"CSV row {number}: rack_unit must be a number.")
        requests.append(
            EnrollmentRequest(
                driver=values["driver"].lower(),
                address=values["address"],
                username=values["username"],
                password=values["password"],
                facility=values["facility"],
                system_id=values.get("system_id", ""),
                name=values.get("name", ""),
                plan=values.get("plan", ""),
                rack=values.get("rack", ""),
                rack_unit=int(unit) if unit else None,
                verify_tls=(values.get("verify_tls") or "true").lower() not in {"0", "false", "no"},
                macs=tuple(m for m in re.split(r"[;\s]+", values.get("macs") or "") if m),
                ssh_via=values.get("ssh_via") or "",
            )
        )
    return requests
