"""Inventory writes and derived facts: IP reservations (never handing out an address twice)
and capacity per metro and plan."""

import ipaddress
import itertools
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from portal import audit, limits
from portal.errors import ServiceError
from portal.models import Project, User
from portal.permissions import can_manage_project, require

from . import ipam, signals
from .models import (
    Facility,
    IPBlock,
    IPReservation,
    Machine,
    Metro,
    Plan,
    ProvisioningNetwork,
)

# Sizes a project may reserve, per kind (Metal offered /31–/29 IPv4 publics, /56 IPv6 blocks).
RESERVABLE_PREFIXES = {
    IPBlock.Kind.PUBLIC_IPV4: range(28, 33),
    IPBlock.Kind.PRIVATE_IPV4: range(25, 33),
    IPBlock.Kind.GLOBAL_IPV4: range(32, 33),
    IPBlock.Kind.PUBLIC_IPV6: range(56, 65),
}


class InsufficientAddresses(ServiceError):
    """No block in the location has a free subnet of the size asked for."""


class NoProvisioningAddress(ServiceError):
    """The facility has no provisioning network, or no free address left in it."""


def require_provisioning_network(facility: Facility) -> None:
    """Raise NoProvisioningAddress unless machines can be enrolled in the facility."""
    if not facility.provisioning_networks.exists():
        raise NoProvisioningAddress(
            f"Facility {facility.code} has no provisioning network, so its machines could not "
            "boot: add one (Operator → Provisioning networks) first."
        )


@transaction.atomic(savepoint=False)
def assign_provisioning_addresses(facility: Facility, machines: list[Machine]) -> None:
    """Give each of the facility's `machines` that has none an address on one of its
    provisioning networks (lowest free first), in the caller's transaction if there is one:
    a machine's boot identity. The networks' rows are locked while their addresses are read,
    so concurrent enrollments queue up instead of picking the same address; the unique column
    is the backstop."""
    waiting = [m for m in machines if m.provisioning_address is None]
    if not waiting:
        return
    networks = list(
        ProvisioningNetwork.objects.filter(facility=facility).order_by("pk").select_for_update()
    )
    if not networks:
        require_provisioning_network(facility)
    taken = {
        ipaddress.IPv4Address(address)
        for address in Machine.objects.filter(provisioning_network__in=networks).values_list(
            "provisioning_address", flat=True
        )
    }
    pending = iter(waiting)
    machine = next(pending)
    for network in networks:
        gateway = [ipaddress.IPv4Address(network.gateway)] if network.gateway else []
        for address in ipam.free_hosts(network.ip_network, [*taken, *gateway]):
            machine.provisioning_network, machine.provisioning_address = network, str(address)
            machine = next(pending, None)
            if machine is None:
                Machine.objects.bulk_update(
                    waiting, ["provisioning_network", "provisioning_address"]
                )
                return
    for machine in waiting:
        machine.provisioning_network = machine.provisioning_address = None
    raise NoProvisioningAddress(
        f"The provisioning networks of {facility.code} have no free address left for "
        f"{len(waiting)} machine(s): add a network or enlarge one."
    )


def _quantity_to_prefix(kind: str, quantity: int) -> int:
    """Metal asks for IPv4 by address count (1, 2, 4, 8, 16) and IPv6 by /56 blocks."""
    if kind == IPBlock.Kind.PUBLIC_IPV6:
        if quantity != 1:
            raise ServiceError("Public IPv6 reservations are one /56 at a time.", field="quantity")
        return 56
    if quantity < 1 or quantity & (quantity - 1):
        raise ServiceError("quantity must be a power of two (1, 2, 4, 8, 16).", field="quantity")
    prefix = 32 - (quantity.bit_length() - 1)
    if prefix not in RESERVABLE_PREFIXES[kind]:
        sizes = RESERVABLE_PREFIXES[kind]
        most = 1 << (32 - sizes.start)
        raise ServiceError(f"A {kind} reservation holds 1 to {most} addresses.", field="quantity")
    return prefix


def _candidate_blocks(kind: str, metro: Metro | None, facility: Facility | None) -> list[IPBlock]:
    """The blocks an allocation may carve from, locked (SELECT … FOR UPDATE), in the order to
    use them: a facility request uses that facility's own blocks first, a metro request the
    metro-wide ones (so it is not pinned to whichever facility's block happens to sort first).

    Rows are locked in id order whatever the request, so a facility request and a metro request
    in the same metro cannot each hold a block the other waits for.
    """
    blocks = IPBlock.objects.filter(kind=kind)
    if kind != IPBlock.Kind.GLOBAL_IPV4:
        blocks = blocks.filter(metro=metro)
        if facility is not None:
            blocks = blocks.filter(Q(facility=facility) | Q(facility__isnull=True))
    locked = list(
        blocks.select_related("metro", "facility").order_by("pk").select_for_update(of=("self",))
    )
    if facility is not None:
        return sorted(locked, key=lambda b: b.facility_id is None)  # stable: by id within
    return sorted(locked, key=lambda b: (b.facility_id is not None, b.facility_id or 0))


# Spans are read from the (block, last_packed) index in batches that grow by this factor, from
# FIRST_BATCH rows up to LAST_BATCH: one query in the usual case (a few rows past the block's
# search hint), a few dozen for a walk through a whole block the allocator has not seen before.
FIRST_BATCH, LAST_BATCH = 32, 8192


def _taken_spans(block: IPBlock, start: int) -> Iterator[tuple[int, int]]:
    """The block's reservations that end at or above address `start`, lowest first, as
    half-open integer spans [first, end), read lazily from the (block, last_packed) index."""
    width = block.ip_network.max_prefixlen // 8
    rows = IPReservation.objects.filter(block=block).order_by("last_packed")
    after, batch = {"last_packed__gte": start.to_bytes(width, "big")}, FIRST_BATCH
    while True:
        chunk = list(rows.filter(**after).values_list("first_packed", "last_packed")[:batch])
        for first, last in chunk:
            yield int.from_bytes(first, "big"), int.from_bytes(last, "big") + 1
        if len(chunk) < batch:
            return
        after = {"last_packed__gt": chunk[-1][1]}
        batch = min(batch * 4, LAST_BATCH)


def _search_start(block: IPBlock, prefix_length: int) -> int:
    """Where a search for a free /prefix_length in `block` may begin: no free subnet of that
    size lies below the hint left for it, nor below one left for a smaller size (a free /29
    would contain a free /31). The block's first address without a hint."""
    network = block.ip_network
    start = int(network.network_address)
    for prefix, address in (block.next_free or {}).items():
        try:
            hint = ipaddress.ip_address(address)
        except ValueError:
            continue
        if int(prefix) >= prefix_length and hint in network:
            start = max(start, int(hint))
    return start


def _carve(
    blocks: list[IPBlock], prefix_length: int, count: int, *, use_hints: bool
) -> list[tuple[IPBlock, ipam.Network]]:
    """Up to `count` free subnets, lowest first in each block, blocks in the order given; leaves
    in each block's `next_free` where the next search for this size should begin. Without
    hints every block is searched from its first address and its other hints are dropped (they
    may be too high: the ledger deletes a deleted server's addresses without lowering them)."""
    found: list[tuple[IPBlock, ipam.Network]] = []
    for block in blocks:
        network = block.ip_network
        if prefix_length < network.prefixlen or prefix_length > network.max_prefixlen:
            continue
        if not use_hints:
            block.next_free = {}
        start = _search_start(block, prefix_length)
        wanted = count - len(found)
        subnets = ipam.free_between(network, prefix_length, _taken_spans(block, start), start=start)
        made = list(itertools.islice(subnets, wanted))
        found += [(block, subnet) for subnet in made]
        # Just past the last subnet taken, or the block's last address when none is left at
        # this size (or the last one taken ends the block).
        hint = int(network.broadcast_address)
        if len(made) == wanted and int(made[-1].broadcast_address) < hint:
            hint = int(made[-1].broadcast_address) + 1
        address = type(network.network_address)(hint)
        block.next_free = {**(block.next_free or {}), str(prefix_length): str(address)}
        if len(found) == count:
            break
    return found


def allocate_subnets(
    *,
    kind: str,
    prefix_length: int,
    count: int,
    project: Project,
    metro: Metro | None,
    facility: Facility | None = None,
    management: bool = False,
    **fields,
) -> list[IPReservation]:
    """Carve `count` subnets of /prefix_length for a project, in the caller's transaction.

    The candidate blocks' rows are locked (SELECT … FOR UPDATE) before their reservations are
    read, so concurrent allocators in the same metro queue up instead of picking the same
    subnet; the (block, network) unique constraint is the backstop. On SQLite the IMMEDIATE
    transaction mode serialises writers the same way.

    Free space is found without reading every reservation: each block keeps, per prefix length,
    the address below which it has no free subnet of that size (`IPBlock.next_free`), and the
    search walks the reservations above it in address order, from an index, only as far as the
    first gaps that fit. Space freed below a hint by a deleted server is found again when no
    block has room above its hints: then every block is searched from its first address.
    """
    blocks = _candidate_blocks(kind, metro, facility)
    hinted = {block.pk: block.next_free for block in blocks}
    found = _carve(blocks, prefix_length, count, use_hints=True)
    if len(found) < count:
        found = _carve(blocks, prefix_length, count, use_hints=False)
    if len(found) < count:
        where = (facility or metro).code if (facility or metro) else "any location"
        raise InsufficientAddresses(
            f"No {kind.replace('_', ' ')} space left for {count} × /{prefix_length} in {where}."
        )
    for block in blocks:
        if block.next_free != hinted[block.pk]:
            IPBlock.objects.filter(pk=block.pk).update(next_free=block.next_free)
    return IPReservation.objects.bulk_create(
        IPReservation(
            block=block,
            project=project,
            network=str(subnet),
            metro=block.metro or metro,
            facility=facility or block.facility,
            management=management,
            **fields,
        )
        for block, subnet in found
    )


@transaction.atomic
def reserve_ips(
    *,
    project: Project,
    acting_user: User,
    kind: str,
    quantity: int,
    metro: Metro | None = None,
    facility: Facility | None = None,
    details: str = "",
    comments: str = "",
    tags: Iterable[str] = (),
    customdata: dict | None = None,
) -> IPReservation:
    """A project's elastic IP reservation (POST /projects/{id}/ips)."""
    require(
        can_manage_project(acting_user, project),
        "Only owners, admins and collaborators can reserve IP addresses.",
    )
    if kind not in RESERVABLE_PREFIXES:
        raise ServiceError(f"Unknown IP reservation type '{kind}'.", field="type")
    if facility is not None:
        metro = facility.metro
    if metro is None and kind != IPBlock.Kind.GLOBAL_IPV4:
        raise ServiceError("Choose a metro for the reservation.", field="metro")
    [reservation] = allocate_subnets(
        kind=kind,
        prefix_length=_quantity_to_prefix(kind, int(quantity)),
        count=1,
        project=project,
        metro=metro,
        facility=facility,
        details=details or "",
        comments=comments or "",
        tags=limits.clean_tags(tags),
        customdata=limits.clean_customdata(customdata),
    )
    audit.record(
        "ip.reserved",
        actor=acting_user,
        text=f"{{actor}} reserved {reservation.network}",
        project=project,
        objects=[reservation],
    )
    return reservation


@transaction.atomic
def update_ip_reservation(
    *,
    reservation: IPReservation,
    acting_user: User,
    details: str | None = None,
    tags: Iterable[str] | None = None,
    customdata: dict | None = None,
) -> IPReservation:
    """Change a reservation's description, tags or custom data (PATCH /ips/{id}); None keeps."""
    require(
        can_manage_project(acting_user, reservation.project),
        "Only owners, admins and collaborators can change IP reservations.",
    )
    changed = []
    if details is not None:
        reservation.details, changed = details, [*changed, "details"]
    if tags is not None:
        reservation.tags, changed = limits.clean_tags(tags), [*changed, "tags"]
    if customdata is not None:
        reservation.customdata = limits.clean_customdata(customdata)
        changed = [*changed, "customdata"]
    if changed:
        reservation.save(update_fields=[*changed, "updated_at"])
        audit.record(
            "ip.updated",
            actor=acting_user,
            text=f"{{actor}} updated {reservation.network}",
            project=reservation.project,
            objects=[reservation],
        )
    return reservation


@transaction.atomic
def release_ips(*, reservation: IPReservation, acting_user: User) -> None:
    """Give a project's reservation back to the pool."""
    require(
        can_manage_project(acting_user, reservation.project),
        "Only owners, admins and collaborators can release IP addresses.",
    )
    if reservation.management:
        raise ServiceError("A server's own addresses are released with the server.")
    audit.record(
        "ip.released",
        actor=acting_user,
        text=f"{{actor}} released {reservation.network}",
        project=reservation.project,
        objects=[reservation],
    )
    reservation.delete()
    _lower_hints(reservation)


def _lower_hints(reservation: IPReservation) -> None:
    """Bring the block's search hints down to a subnet given back, so the next allocation
    finds it first (reserving again after a release gets the same subnet back)."""
    block = IPBlock.objects.select_for_update().get(pk=reservation.block_id)
    freed = reservation.ip_network.network_address
    lowered = {}
    for prefix, address in block.next_free.items():
        try:
            hint = ipaddress.ip_address(address)
        except ValueError:
            continue
        lowered[prefix] = str(freed) if hint.version == freed.version and hint > freed else address
    if lowered != block.next_free:
        IPBlock.objects.filter(pk=block.pk).update(next_free=lowered)


def capacity_level(available: int) -> str:
    """Metal's capacity words from a count of available machines (thresholds in settings)."""
    if available <= 0:
        return "unavailable"
    if available <= settings.CAPACITY_LIMITED_THRESHOLD:
        return "limited"
    return "normal"


def available_machine_counts(*, by: str = "metro") -> dict[tuple[str, str], int]:
    """{(location code, plan slug): machines available now}, in one query.

    Counted by (plan, facility) ids from the (plan, state, facility) index alone, and only
    then named: each group's codes are looked up once, not joined to every machine row.
    """
    location = "metro__code" if by == "metro" else "code"
    code = Facility.objects.filter(pk=OuterRef("facility_id")).order_by().values(location)
    slug = Plan.objects.filter(pk=OuterRef("plan_id")).order_by().values("slug")
    rows = (
        Machine.objects.filter(state=Machine.State.AVAILABLE, plan__isnull=False)
        .order_by()
        .values("plan_id", "facility_id")
        .annotate(n=Count("*"))
        .values_list(Subquery(code), Subquery(slug), "n")
    )
    counts: dict[tuple[str, str], int] = {}
    for code, slug, n in rows:  # a metro's facilities add up
        counts[code, slug] = counts.get((code, slug), 0) + n
    return counts


def capacity_report(*, by: str = "metro") -> dict[str, dict[str, dict]]:
    """The CapacityReport: every offered (location, plan), with level and available servers."""
    counts = available_machine_counts(by=by)
    report: dict[str, dict[str, dict]] = {}
    offered = Plan.objects.filter(active=True).values_list("slug", "metros__code")
    if by == "facility":
        offered = Plan.objects.filter(active=True).values_list("slug", "metros__facilities__code")
    for slug, code in offered:
        if code is not None:
            report.setdefault(code, {})[slug] = {}
    for (code, slug), _ in counts.items():
        report.setdefault(code, {})[slug] = {}
    for code, plans in report.items():
        for slug in plans:
            n = counts.get((code, slug), 0)
            plans[slug] = {"level": capacity_level(n), "available_servers": n}
    return report


# Catalogue and machines (operators only)


def _require_operator(acting_user: User) -> None:
    require(acting_user.is_staff, "Only operators can change the inventory.")


@transaction.atomic
def save_catalogue_item(*, instance, acting_user: User, m2m: dict | None = None):
    """Create or update a metro, facility, rack, plan, OS or IP block, validated by its model."""
    _require_operator(acting_user)
    creating = instance._state.adding
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise ServiceError(
            *[
                f"{f}: {m}" if f != "__all__" else m
                for f, ms in exc.message_dict.items()
                for m in ms
            ]
        ) from exc
    priced = hasattr(instance, "hourly_price") and not creating
    if priced:
        old_price = (
            type(instance).objects.filter(pk=instance.pk).values_list("hourly_price", flat=True)[0]
        )
    instance.save()
    for field, values in (m2m or {}).items():
        getattr(instance, field).set(values)
    if isinstance(instance, ProvisioningNetwork):
        # Machines enrolled before their facility had a network get their boot identity now.
        unaddressed = Machine.objects.filter(
            facility=instance.facility, provisioning_address__isnull=True
        ).exclude(state=Machine.State.RETIRED)
        assign_provisioning_addresses(instance.facility, list(unaddressed.order_by("name")))
    if priced and old_price != instance.hourly_price:
        signals.price_changed.send(sender=type(instance), instance=instance, at=timezone.now())
    kind = instance._meta.verbose_name
    audit.record(
        f"{instance._meta.model_name}.{'created' if creating else 'updated'}",
        actor=acting_user,
        text=f"{{actor}} {'added' if creating else 'updated'} {kind} {instance}",
        user=acting_user,
        objects=[instance],
    )
    return instance


@transaction.atomic
def set_machines_maintenance(
    *, machines: Iterable[Machine], acting_user: User, on: bool, reason: str = ""
) -> dict[str, str]:
    """Bulk maintenance on/off; returns {machine name: outcome} (one line per machine).

    Only idle machines change: a machine serving a tenant stays as it is (its device owns it),
    and maintenance-off returns a machine to the pool only from maintenance.
    """
    _require_operator(acting_user)
    results = {}
    source = (
        [Machine.State.AVAILABLE, Machine.State.ENROLLING] if on else [Machine.State.MAINTENANCE]
    )
    target = Machine.State.MAINTENANCE if on else Machine.State.AVAILABLE
    for machine in machines:
        changed = Machine.objects.filter(pk=machine.pk, state__in=source).update(
            state=target,
            fault_reason=(reason or "Set by an operator") if on else "",
        )
        if changed:
            results[machine.name] = f"now {target}"
            audit.record(
                f"machine.maintenance_{'on' if on else 'off'}",
                actor=acting_user,
                text=f"{{actor}} put {machine.name} {'in' if on else 'out of'} maintenance",
                user=acting_user,
                objects=[machine],
            )
        else:
            results[machine.name] = f"unchanged: {machine.state}"
    return results


@transaction.atomic
def retire_machines(*, machines: Iterable[Machine], acting_user: User) -> dict[str, str]:
    """Take idle machines out of service for good; busy ones are refused, one line each."""
    _require_operator(acting_user)
    results = {}
    idle = [Machine.State.AVAILABLE, Machine.State.MAINTENANCE, Machine.State.ENROLLING]
    for machine in machines:
        # A retired machine leaves the inventory's boot network: DHCP no longer serves it and
        # its address can go to another machine.
        if Machine.objects.filter(pk=machine.pk, state__in=idle).update(
            state=Machine.State.RETIRED, provisioning_network=None, provisioning_address=None
        ):
            results[machine.name] = "retired"
            audit.record(
                "machine.retired",
                actor=acting_user,
                text=f"{{actor}} retired {machine.name}",
                user=acting_user,
                objects=[machine],
            )
        else:
            results[machine.name] = f"unchanged: {machine.state}"
    return results
