"""The one device filter: the servers page and the Metal API narrow device lists with the same
rules (each in the database, no per-row work), so a search or a tag finds the same servers
through either door."""

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from inventory.models import MachineNic, Plan
from portal.errors import ServiceError

from .models import Device, IPAssignment

DEVICE_TYPES = ("ondemand", "spot", "reserved")


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def has_tag(tag: str) -> Q:
    """Devices with exactly this tag."""
    if connection.features.supports_json_field_contains:
        return Q(tags__contains=[tag])
    # SQLite has no JSON containment: match the quoted element in the stored JSON text. The
    # quotes keep "web" from matching "webserver"; the match is case-insensitive there.
    return Q(tags__icontains=json.dumps(tag))


@dataclass
class DeviceFilter:
    """What a list asks for; empty fields narrow nothing. Names (plan, metro, facility) may be
    ids or codes/slugs, as Metal clients send either."""

    search: str = ""  # hostname or description contains it, it is the device's id, or an address
    hostname: str = ""  # exactly (case-insensitive)
    tag: str = ""
    states: Iterable[str] = ()
    plan: str = ""
    metro: str = ""
    facility: str = ""
    device_type: str = ""  # ondemand, spot or reserved: every server here is on demand
    mac_address: str = ""
    plan_categories: Iterable[str] = field(default_factory=tuple)
    reserved_only: bool = False  # hardware reservations and spot terminations: none here

    def apply(self, devices: QuerySet) -> QuerySet:
        """`devices` narrowed; ServiceError (with the field) for a value no device can have."""
        search = self.search.strip()
        if search:
            addresses = IPAssignment.objects.filter(
                device=OuterRef("pk"), network__startswith=search
            )
            query = Q(hostname__icontains=search) | Q(description__icontains=search)
            query |= Q(Exists(addresses))
            if key := _as_uuid(search):
                query |= Q(uuid=key)
            devices = devices.filter(query)
        if self.hostname.strip():
            devices = devices.filter(hostname__iexact=self.hostname.strip())
        if self.tag:
            devices = devices.filter(has_tag(self.tag))
        states = list(self.states)
        if states:
            unknown = set(states) - set(Device.State.values)
            if unknown:
                raise ServiceError(f"Unknown state {', '.join(sorted(unknown))}.", field="state")
            devices = devices.filter(state__in=states)
        for name, code in (("plan", "slug"), ("metro", "code"), ("facility", "code")):
            value = getattr(self, name).strip()
            if value:
                key = _as_uuid(value)
                lookup = f"{name}__uuid" if key else f"{name}__{code}__iexact"
                devices = devices.filter(**{lookup: key or value})
        device_type = self.device_type.strip()
        if device_type:
            if device_type not in DEVICE_TYPES:
                raise ServiceError("Must be ondemand, spot or reserved.", field="type")
            if device_type != "ondemand":
                devices = devices.none()
        if self.reserved_only:
            devices = devices.none()
        mac = self.mac_address.strip().lower().replace("-", ":")
        if mac:
            nics = MachineNic.objects.filter(machine=OuterRef("machine"), mac_address__iexact=mac)
            devices = devices.filter(Exists(nics))
        categories = set(self.plan_categories)
        if categories:
            # The catalogue is small and JSON containment is not portable: match plans here.
            plans = [
                pk
                for pk, cats in Plan.objects.values_list("pk", "categories")
                if categories & set(cats)
            ]
            devices = devices.filter(plan_id__in=plans)
        return devices
