"""Device writes, shared by the API, the pages and the workflows: create (allocate machines
and IPs in one transaction), act (power, reboot, reinstall, rescue), update, delete."""

import ipaddress
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from inventory import services as inventory_services
from inventory.models import Facility, IPBlock, IPReservation, Metro, OperatingSystem, Plan
from portal import audit, limits
from portal.errors import Conflict, ServiceError
from portal.models import Project, SSHKey, User
from portal.permissions import can_manage_project, can_operate_project, require

from . import allocation, ledger
from .billing import usage
from .models import Batch, Device, IPAssignment, Operation
from .workflows import WORKFLOWS

HOSTNAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
ROOT_PASSWORD_TTL = timedelta(hours=24)
DEFAULT_IPS = (
    {"address_family": 4, "public": True, "cidr": 31},
    {"address_family": 4, "public": False, "cidr": 31},
    {"address_family": 6, "public": True, "cidr": 127},
)


@dataclass
class DeviceRequest:
    """What a caller asks for, already shape-checked by a form or serializer."""

    plan: Plan
    operating_system: OperatingSystem
    metros: Sequence[Metro] = ()  # priority order; empty with no facilities means "any"
    facilities: Sequence[Facility] = ()  # the legacy facility form
    quantity: int = 1
    hostnames: Sequence[str] = ()
    description: str = ""
    billing_cycle: str = Device.BillingCycle.HOURLY
    tags: Sequence[str] = ()
    userdata: str = ""
    customdata: dict = field(default_factory=dict)
    project_ssh_keys: Sequence[SSHKey] | None = None
    user_ssh_keys: Sequence[User] | None = None
    inline_ssh_keys: Sequence[str] = ()
    no_ssh_keys: bool = False
    ip_addresses: Sequence[dict] = DEFAULT_IPS
    always_pxe: bool = False
    ipxe_script_url: str = ""
    locked: bool = False


def hostnames_for(project: Project, request: DeviceRequest) -> list[str]:
    """The hostnames to use: as given, numbered from one given name, or generated free slots."""
    names = [h.strip().lower() for h in request.hostnames if h and h.strip()]
    if len(names) == 1 and request.quantity > 1:
        stem, names = names[0], []
    elif names:
        stem = ""
    else:
        stem = request.plan.slug.split(".")[0] + "-" + request.plan.slug.split(".")[1]
    if not names:
        taken = set(
            Device.objects.live().filter(project=project).values_list("hostname", flat=True)
        )
        n = 1
        while len(names) < request.quantity:
            candidate = f"{stem}-{n:02d}"
            if candidate not in taken:
                names.append(candidate)
            n += 1
    if len(names) != request.quantity:
        raise ServiceError(
            f"Give {request.quantity} hostnames, or one to number, or none.", field="hostname"
        )
    for name in names:
        if not HOSTNAME.match(name):
            raise ServiceError(
                f"'{name}' is not a valid hostname: use letters, digits and "
                "dashes, at most 63 characters, no dash at either end.",
                field="hostname",
            )
    if len(set(names)) != len(names):
        raise ServiceError("Hostnames must be unique.", field="hostname")
    clash = Device.objects.live().filter(project=project, hostname__in=names).first()
    if clash is not None:
        raise Conflict(
            f"A server named {clash.hostname} already exists in this project.", field="hostname"
        )
    return names


def _check_request(project: Project, request: DeviceRequest) -> None:
    plan, os_ = request.plan, request.operating_system
    if not plan.active:
        raise ServiceError(f"Plan {plan.slug} is not offered.", field="plan")
    if not 1 <= request.quantity <= 1000:
        raise ServiceError("quantity must be between 1 and 1000.", field="quantity")
    if os_.custom_ipxe:
        if not request.ipxe_script_url and not request.userdata.startswith("#!ipxe"):
            raise ServiceError(
                "custom_ipxe needs an ipxe_script_url or iPXE user data.", field="ipxe_script_url"
            )
    elif not os_.provisionable_on.filter(pk=plan.pk).exists():
        raise ServiceError(
            f"{os_.slug} cannot be installed on {plan.slug}.", field="operating_system"
        )
    offered = set(plan.metros.values_list("pk", flat=True))
    for metro in [*request.metros, *(f.metro for f in request.facilities)]:
        if metro.pk not in offered:
            raise ServiceError(f"{plan.slug} is not offered in {metro.code}.", field="metro")
    if request.billing_cycle not in Device.BillingCycle.values:
        raise ServiceError(
            f"Unknown billing cycle '{request.billing_cycle}'.", field="billing_cycle"
        )
    for spec in request.ip_addresses:
        if (spec.get("address_family"), spec.get("public", True)) not in {
            (4, True),
            (4, False),
            (6, True),
        }:
            raise ServiceError(
                "ip_addresses: IPv4 public or private, or IPv6 public.", field="ip_addresses"
            )
    if not any(
        s.get("address_family") == 4 and not s.get("public", True) for s in request.ip_addresses
    ):
        # The boot path and the metadata service reach a server over its private address.
        raise ServiceError(
            "ip_addresses must include a private IPv4 address.", field="ip_addresses"
        )


def _ssh_keys(project: Project, request: DeviceRequest) -> list[SSHKey]:
    """The keys to install: as named, or every project key and every project member's own."""
    if request.no_ssh_keys:
        return []
    if request.project_ssh_keys is None and request.user_ssh_keys is None:
        return list(
            SSHKey.objects.filter(
                Q(project=project) | Q(user__in=User.objects.reaching_project(project))
            )
        )
    keys = list(request.project_ssh_keys or ())
    if any(k.project_id != project.pk for k in keys):
        raise ServiceError(
            "project_ssh_keys must be keys of this project.", field="project_ssh_keys"
        )
    users = list(request.user_ssh_keys or ())
    keys += list(SSHKey.objects.filter(user__in=users))
    return keys


def _assign_default_ips(devices: list[Device], specs: Sequence[dict]) -> None:
    """Carve each device's own addresses (management reservations) and assign them."""
    kinds = {
        (4, True): IPBlock.Kind.PUBLIC_IPV4,
        (4, False): IPBlock.Kind.PRIVATE_IPV4,
        (6, True): IPBlock.Kind.PUBLIC_IPV6,
    }
    assignments = []
    for spec in specs:
        kind = kinds[(spec["address_family"], spec.get("public", True))]
        prefix = int(spec.get("cidr") or (127 if spec["address_family"] == 6 else 31))
        # One device per facility group: reservations live in the device's metro.
        by_metro: dict[int, list[Device]] = {}
        for device in devices:
            by_metro.setdefault(device.metro_id, []).append(device)
        for group in by_metro.values():
            reservations = inventory_services.allocate_subnets(
                kind=kind,
                prefix_length=prefix,
                count=len(group),
                project=group[0].project,
                metro=group[0].metro,
                facility=None,
                management=True,
                details=f"{group[0].plan.slug} server addresses",
            )
            for device, reservation in zip(group, reservations, strict=True):
                assignments.append(
                    IPAssignment(
                        reservation=reservation,
                        device=device,
                        network=reservation.network,
                        public=kind != IPBlock.Kind.PRIVATE_IPV4,
                        management=True,
                    )
                )
    IPAssignment.objects.bulk_create(assignments)


def _root_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


@transaction.atomic
def create_devices(
    *, project: Project, acting_user: User, request: DeviceRequest, batch: Batch | None = None
) -> list[Device]:
    """Allocate machines and addresses and queue provisioning for `quantity` devices, all or
    none: without capacity nothing is created and the error says so."""
    require(
        can_manage_project(acting_user, project),
        "Only owners, admins and collaborators can deploy servers.",
    )
    # Serialise device creation per project: generated hostnames take free slots safely.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    _check_request(project, request)
    tags = limits.clean_tags(request.tags)
    customdata = limits.clean_customdata(request.customdata)
    userdata = limits.clean_userdata(request.userdata)
    hostnames = hostnames_for(project, request)
    keys = _ssh_keys(project, request)
    machines = allocation.allocate(
        plan=request.plan,
        count=request.quantity,
        metros=request.metros,
        facilities=request.facilities,
    )
    expires = timezone.now() + ROOT_PASSWORD_TTL
    devices = [
        Device(
            project=project,
            hostname=hostname,
            description=request.description,
            plan=request.plan,
            metro=machine.facility.metro,
            facility=machine.facility,
            operating_system=request.operating_system,
            machine=machine,
            batch=batch,
            billing_cycle=request.billing_cycle,
            tags=list(tags),
            userdata=userdata,
            customdata=customdata,
            extra_ssh_keys=list(request.inline_ssh_keys),
            always_pxe=request.always_pxe,
            ipxe_script_url=request.ipxe_script_url,
            locked=request.locked,
            root_password=_root_password(),
            root_password_expires_at=expires,
            created_by=acting_user,
        )
        for hostname, machine in zip(hostnames, machines, strict=True)
    ]
    try:
        with transaction.atomic():
            Device.objects.bulk_create(devices)
    except IntegrityError as exc:
        raise Conflict(
            "A server with one of these hostnames already exists.", field="hostname"
        ) from exc
    through = Device.ssh_keys.through
    through.objects.bulk_create(
        through(device_id=d.pk, sshkey_id=k.pk) for d in devices for k in keys
    )
    _assign_default_ips(devices, request.ip_addresses)
    usage.open_device(devices)
    audit.save(
        [
            audit.event(
                "device.created",
                actor=acting_user,
                text=f"{{actor}} deployed {device.hostname} ({request.plan.slug}, "
                f"{request.operating_system.slug}) in {device.facility.code}",
                project=project,
                objects=[device],
            )
            for device in devices
        ]
    )
    ledger.open_provisions(devices, acting_user)
    return devices


def _require_action_role(device: Device, acting_user: User, kind: str) -> None:
    if kind in (Operation.Kind.REINSTALL, Operation.Kind.DEPROVISION):
        require(
            can_manage_project(acting_user, device.project),
            "Only owners, admins and collaborators can reinstall or delete servers.",
        )
    else:
        require(
            can_operate_project(acting_user, device.project),
            "You cannot operate servers in this project.",
        )


@transaction.atomic
def perform_action(
    *,
    device: Device,
    acting_user: User,
    action: str,
    operating_system: OperatingSystem | None = None,
    preserve_data: bool = False,
    deprovision_fast: bool = False,
) -> Operation:
    """power_on, power_off, reboot, rescue or reinstall, refused unless the state allows it."""
    if action not in (
        Operation.Kind.POWER_ON,
        Operation.Kind.POWER_OFF,
        Operation.Kind.REBOOT,
        Operation.Kind.RESCUE,
        Operation.Kind.REINSTALL,
    ):
        raise ServiceError(f"Unknown action '{action}'.", field="type")
    _require_action_role(device, acting_user, action)
    device = Device.objects.select_for_update().get(pk=device.pk)
    workflow = WORKFLOWS[action]
    if device.state not in workflow.allowed_from:
        allowed = " or ".join(sorted(workflow.allowed_from))
        raise Conflict(
            f"Cannot {action.replace('_', ' ')} a server that is {device.state} "
            f"(it must be {allowed})."
        )
    params = {}
    if action == Operation.Kind.REINSTALL:
        target = operating_system or device.operating_system
        if (
            not target.custom_ipxe
            and not target.provisionable_on.filter(pk=device.plan_id).exists()
        ):
            raise ServiceError(
                f"{target.slug} cannot be installed on {device.plan.slug}.",
                field="operating_system",
            )
        params = {
            "operating_system": target.slug,
            "preserve_data": preserve_data,
            "deprovision_fast": deprovision_fast,
        }
        if target.pk != device.operating_system_id:
            usage.switch_os(device, target)
            device.operating_system = target
            device.save(update_fields=["operating_system", "updated_at"])
    operation = ledger.start_operation(device, action, acting_user=acting_user, params=params)
    audit.record(
        f"device.{action}",
        actor=acting_user,
        text=f"{{actor}} requested {action.replace('_', ' ')} of {device.hostname}",
        project=device.project,
        objects=[device],
    )
    return operation


UPDATABLE = (
    "hostname",
    "description",
    "tags",
    "userdata",
    "customdata",
    "locked",
    "always_pxe",
    "ipxe_script_url",
    "billing_cycle",
)


@transaction.atomic
def update_device(*, device: Device, acting_user: User, **changes) -> Device:
    """Edit a device's settings (not its hardware or OS: those are actions)."""
    require(
        can_manage_project(acting_user, device.project),
        "Only owners, admins and collaborators can change servers.",
    )
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))}.")
    if "hostname" in changes:
        name = (changes["hostname"] or "").strip().lower()
        if not HOSTNAME.match(name):
            raise ServiceError(f"'{name}' is not a valid hostname.", field="hostname")
        changes["hostname"] = name
    if "tags" in changes:
        changes["tags"] = limits.clean_tags(changes["tags"])
    if "customdata" in changes:
        changes["customdata"] = limits.clean_customdata(changes["customdata"])
    if "userdata" in changes:
        changes["userdata"] = limits.clean_userdata(changes["userdata"])
    if changes.get("billing_cycle", device.billing_cycle) not in Device.BillingCycle.values:
        raise ServiceError("Unknown billing cycle.", field="billing_cycle")
    for name, value in changes.items():
        setattr(device, name, value)
    try:
        with transaction.atomic():
            device.save()
    except IntegrityError as exc:
        raise Conflict(
            f"A server named {device.hostname} already exists in this project.", field="hostname"
        ) from exc
    audit.record(
        "device.updated",
        actor=acting_user,
        text=f"{{actor}} updated {device.hostname} ({', '.join(sorted(changes))})",
        project=device.project,
        objects=[device],
    )
    return device


@transaction.atomic
def delete_device(*, device: Device, acting_user: User, force: bool = False) -> Operation:
    """Start deprovisioning: the device disappears for the tenant once the disks are wiped."""
    _require_action_role(device, acting_user, Operation.Kind.DEPROVISION)
    device = Device.objects.select_for_update().get(pk=device.pk)
    if device.locked:
        raise Conflict(f"{device.hostname} is locked; unlock it before deleting.")
    if device.state == Device.State.DEPROVISIONING:
        raise Conflict(f"{device.hostname} is already being deleted.")
    open_operation = device.operations.filter(state=Operation.State.RUNNING).first()
    if open_operation is not None:
        if not force and open_operation.kind != Operation.Kind.PROVISION:
            raise Conflict(
                "Another action is still running on this server; wait for it, or use force_delete."
            )
        # Deleting a server that is still installing stops the install: nobody wants it.
        ledger.cancel(open_operation, "Cancelled: the server is being deleted.")
    operation = ledger.start_operation(
        device, Operation.Kind.DEPROVISION, acting_user=acting_user, params={"force": force}
    )
    usage.close_device(device)
    audit.record(
        "device.deleted",
        actor=acting_user,
        text=f"{{actor}} deleted {device.hostname}",
        project=device.project,
        objects=[device],
    )
    return operation


@transaction.atomic
def assign_ip(
    *, reservation: IPReservation, device: Device, acting_user: User, network: str | None = None
) -> IPAssignment:
    """Bind a project's elastic reservation, or a subnet of it (`network`, e.g. one /32 of a
    /29), to one of its servers."""
    require(
        can_manage_project(acting_user, device.project),
        "Only owners, admins and collaborators can assign IP addresses.",
    )
    if reservation.project_id != device.project_id:
        raise ServiceError("The reservation and the server must be in the same project.")
    if reservation.management:
        raise ServiceError("A server's own addresses cannot be moved to another server.")
    if reservation.metro_id is not None and reservation.metro_id != device.metro_id:
        raise ServiceError(
            f"{reservation.network} is in {reservation.metro.code}; "
            f"{device.hostname} is in {device.metro.code}.",
            field="device",
        )
    whole = ipaddress.ip_network(reservation.network)
    wanted = ipaddress.ip_network(network or reservation.network)
    if wanted.version != whole.version or not wanted.subnet_of(whole):
        raise ServiceError(f"{wanted} is not inside {whole}.", field="address")
    try:
        with transaction.atomic():
            # The reservation's row serialises assignments of its addresses, so two requests
            # for overlapping subnets cannot both pass the check below.
            IPReservation.objects.select_for_update().filter(pk=reservation.pk).first()
            for held in reservation.assignments.values_list("network", flat=True):
                if ipaddress.ip_network(held).overlaps(wanted):
                    raise Conflict(f"{held} is already assigned to a server.", field="address")
            assignment = IPAssignment.objects.create(
                reservation=reservation,
                device=device,
                network=str(wanted),
                public=reservation.block.kind != IPBlock.Kind.PRIVATE_IPV4,
            )
    except IntegrityError as exc:
        # (reservation, network) is unique: the database's backstop for the check above.
        raise Conflict(f"{wanted} is already assigned to a server.", field="address") from exc
    audit.record(
        "ip.assigned",
        actor=acting_user,
        text=f"{{actor}} assigned {wanted} to {device.hostname}",
        project=device.project,
        objects=[device, reservation],
    )
    return assignment


@transaction.atomic
def unassign_ip(*, assignment: IPAssignment, acting_user: User) -> None:
    """Take an elastic address off its server; the reservation stays with the project."""
    device = assignment.device
    require(
        can_manage_project(acting_user, device.project),
        "Only owners, admins and collaborators can unassign IP addresses.",
    )
    if assignment.management:
        raise ServiceError("A server's own addresses stay with it until it is deleted.")
    audit.record(
        "ip.unassigned",
        actor=acting_user,
        text=f"{{actor}} unassigned {assignment.network} from {device.hostname}",
        project=device.project,
        objects=[device, assignment.reservation],
    )
    assignment.delete()


def update_ip_assignment(
    *,
    assignment: IPAssignment,
    acting_user: User,
    details: str | None = None,
    tags: Sequence[str] | None = None,
    customdata: dict | None = None,
) -> IPAssignment:
    """PATCH /ips/{id} for an assignment. Description, tags and custom data belong to its
    reservation, not to the assignment, so only an update that sets none of them succeeds
    (and changes nothing): refusing says where they go instead of dropping them unsaid."""
    require(
        can_manage_project(acting_user, assignment.device.project),
        "Only owners, admins and collaborators can change IP addresses.",
    )
    given = [
        name
        for name, value in (("details", details), ("tags", tags), ("customdata", customdata))
        if value is not None
    ]
    if given:
        raise ServiceError(
            f"An IP assignment has no {' or '.join(given)} of its own; "
            f"set them on its reservation, /metal/v1/ips/{assignment.reservation.uuid}."
        )
    return assignment


@transaction.atomic
def create_batches(
    *, project: Project, acting_user: User, requests: Sequence[DeviceRequest]
) -> list[Batch]:
    """One Batch per request and its devices, all in one transaction: if any batch cannot be
    built (capacity, names, rules), nothing is created and the error says which."""
    batches = []
    for number, request in enumerate(requests, start=1):
        batch = Batch.objects.create(
            project=project,
            quantity=request.quantity,
            state=Batch.State.IN_PROGRESS,
            created_by=acting_user,
        )
        try:
            create_devices(project=project, acting_user=acting_user, request=request, batch=batch)
        except ServiceError as exc:
            if len(requests) > 1:
                where = f"batch {number}: {exc.field}" if exc.field else f"batch {number}"
                exc.messages, exc.field = [f"{where}: {m}" for m in exc.messages], None
            raise
        batches.append(batch)
    return batches


@transaction.atomic
def delete_batch(*, batch: Batch, acting_user: User, remove_devices: bool = False) -> None:
    """Forget a batch; with `remove_devices`, delete its live servers first (all or none)."""
    require(
        can_manage_project(acting_user, batch.project),
        "Only owners, admins and collaborators can delete batches.",
    )
    if remove_devices:
        for device in Device.objects.live().filter(batch=batch).exclude(state="deprovisioning"):
            delete_device(device=device, acting_user=acting_user)
    audit.record(
        "batch.deleted",
        actor=acting_user,
        text=f"{{actor}} deleted a batch of {batch.quantity}",
        project=batch.project,
        objects=[batch],
    )
    batch.delete()
