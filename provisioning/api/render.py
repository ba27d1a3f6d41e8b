"""The device list, what clients and Terraform poll while servers provision, rendered on every
request: read as plain rows (`values()`, no model instance per device, address or key), built
into dicts and encoded by orjson, without DRF's per-field machinery (a serializer walks ~35
fields per device, each through get_attribute and to_representation).

The bytes are the DeviceSerializer's, to the byte (tests/provisioning/api/golden): the same
keys in the same order, absent values left out as MetalSerializer leaves them, references as
`{href}` unless included. The catalogue rows, the project and the SSH keys a page shows are few
and shared by its devices: each of those is rendered once per response, by its own serializer.
"""

import functools
import ipaddress
from collections import defaultdict

import orjson
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from inventory import ipam
from inventory.api.serializers import (
    FacilitySerializer,
    MetroSerializer,
    OperatingSystemSerializer,
    PlanSerializer,
)
from inventory.models import Facility, IPReservation, Metro, OperatingSystem, Plan
from portal import crypto
from portal.api.metal import expanded, optimize
from portal.api.serializers import ProjectSerializer, SSHKeySerializer
from portal.hrefs import href
from portal.models import Project, SSHKey

from ..models import Device, IPAssignment

# What a device's own dict reads, in one query for the page: ids as text (PostgreSQL writes
# them; no UUID object made and printed for each), and the root password as stored (decrypted
# only for the devices whose password is still shown).
_TEXT = TextField()
_FIELDS = (
    "pk",
    "hostname",
    "description",
    "state",
    "tags",
    "customdata",
    "billing_cycle",
    "locked",
    "always_pxe",
    "ipxe_script_url",
    "userdata",
    "root_password_expires_at",
    "provisioning_percentage",
    "created_at",
    "updated_at",
    "created_by__email",
    "created_by__first_name",
    "created_by__last_name",
    "project_id",
    "plan_id",
    "metro_id",
    "facility_id",
    "operating_system_id",
)
_TEXTS = {
    "uuid_text": Cast("uuid", _TEXT),
    "sealed_root_password": Cast("root_password", _TEXT),
    "creator": Cast("created_by__uuid", _TEXT),
    "project_uuid": Cast("project__uuid", _TEXT),
}
_ADDRESS_COLUMNS = (
    "device_id",
    "uuid_text",
    "network",
    "public",
    "management",
    "created_at",
    "reservation_id",
)
_UUID_TEXT = {"uuid_text": Cast("uuid", _TEXT)}
# (field, model, serializer, expanded unless excluded?)
_CATALOGUE = (
    ("plan", Plan, PlanSerializer, True),
    ("metro", Metro, MetroSerializer, True),
    ("facility", Facility, FacilitySerializer, True),
    ("operating_system", OperatingSystem, OperatingSystemSerializer, True),
)
_COLLECTIONS = {
    "plan": "plans",
    "metro": "locations/metros",
    "facility": "facilities",
    "operating_system": "operating-systems",
}


@functools.lru_cache(maxsize=4096)
def _subnet(network: str) -> tuple:
    """What an address's dict shows of its subnet, computed once per network."""
    net = ipaddress.ip_network(network)
    return (
        str(ipam.server_address(net)),
        net.version,
        net.prefixlen,
        str(net.netmask),
        str(net.network_address),
        str(ipam.gateway_address(net)),
    )


def _full_name(first: str, last: str, email: str) -> str:
    # portal.models.User.full_name, from the row's columns.
    return f"{first} {last}".strip() or email.split("@")[0]


class DeviceList:
    """Renders pages of devices under one request's `include`/`exclude` (as parse_paths gives
    them, in `context`)."""

    def __init__(self, context: dict):
        self.context = context
        self.include, self.exclude = context.get("include", {}), context.get("exclude", {})

    def _nested(self, name: str) -> dict:
        return {
            **self.context,
            "include": self.include.get(name, {}),
            "exclude": self.exclude.get(name, {}),
        }

    def _rendered(self, name: str, model, serializer, ids) -> dict:
        """{pk: the object's dict} for the rows `ids` of `model`, each rendered once."""
        context = self._nested(name)
        rows = optimize(model._default_manager.filter(pk__in=set(ids)), serializer, context)
        return {row.pk: serializer(row, context=context).data for row in rows}

    def _references(self, rows: list[dict]) -> dict:
        """{field: {pk: its reference as the page shows it}} for the project and catalogue."""
        found = {}
        for name, model, serializer, default in _CATALOGUE:
            ids = {row[f"{name}_id"] for row in rows}
            if expanded(name, default, self.include, self.exclude):
                found[name] = self._rendered(name, model, serializer, ids)
            else:
                found[name] = {
                    pk: {"href": href(_COLLECTIONS[name], uuid)}
                    for pk, uuid in model._default_manager.filter(pk__in=ids).values_list(
                        "pk", "uuid"
                    )
                }
        if expanded("project", False, self.include, self.exclude):
            found["project"] = self._rendered(
                "project", Project, ProjectSerializer, {row["project_id"] for row in rows}
            )
        else:
            found["project"] = {
                row["project_id"]: {"href": href("projects", row["project_uuid"])} for row in rows
            }
        return found

    def _ssh_keys(self, keys: list[int]) -> dict[int, list]:
        """{device pk: its keys' references}, in the keys' own order."""
        through = Device.ssh_keys.through
        pairs = list(
            through.objects.filter(device_id__in=keys)
            .order_by("sshkey__label", "sshkey__pk")
            .values_list("device_id", "sshkey_id", "sshkey__uuid")
        )
        if expanded("ssh_keys", False, self.include, self.exclude):
            rendered = self._rendered(
                "ssh_keys", SSHKey, SSHKeySerializer, {key for _, key, _ in pairs}
            )
        else:
            rendered = {key: {"href": href("ssh-keys", uuid)} for _, key, uuid in pairs}
        found = defaultdict(list)
        for device, key, _ in pairs:
            found[device].append(rendered[key])
        return found

    def _addresses(self, keys: list[int]) -> dict[int, list]:
        """{device pk: its addresses' dicts} (the order the assignments were made in).

        The reservations are read by their own keys rather than joined: joined, PostgreSQL
        hashes every reservation in the table (30,000 for 10,000 devices) to find the page's
        300, where 300 lookups in the primary key cost a fraction of that."""
        found = defaultdict(list)
        rows = list(
            IPAssignment.objects.filter(device_id__in=keys)
            .order_by("pk")
            .annotate(**_UUID_TEXT)
            .values_list(*_ADDRESS_COLUMNS)
        )
        parents = {
            pk: (uuid, _subnet(network), kind)
            for pk, uuid, network, kind in IPReservation.objects.filter(
                pk__in={row[-1] for row in rows}
            )
            .order_by()
            .annotate(**_UUID_TEXT)
            .values_list("pk", "uuid_text", "network", "block__kind")
        }
        for device, uuid, network, public, management, created, parent in rows:
            address, family, cidr, netmask, network_address, gateway = _subnet(network)
            parent_uuid, parent_network, kind = parents[parent]
            found[device].append(
                {
                    "id": uuid,
                    "href": href("ips", uuid),
                    "address": address,
                    "address_family": family,
                    "cidr": cidr,
                    "netmask": netmask,
                    "network": network_address,
                    "gateway": gateway,
                    "public": public,
                    "management": management,
                    "manageable": not management,
                    "global_ip": kind == "global_ipv4",
                    "enabled": True,
                    "state": "active",
                    "assigned_to": None,  # the device's own href, filled in by page()
                    "parent_block": {
                        "network": parent_network[4],
                        "netmask": parent_network[3],
                        "cidr": parent_network[2],
                        "href": href("ips", parent_uuid),
                    },
                    "created_at": created,
                }
            )
        return found

    def _root_password(self, row: dict, now) -> str | None:
        """The initial root password while it is shown (its first day), decrypted."""
        expires, sealed = row["root_password_expires_at"], row["sealed_root_password"]
        if not sealed or expires is None or now >= expires:
            return None
        return crypto.decrypt(sealed)

    def page(self, keys: list[int]) -> list[dict]:
        """The devices `keys` (in that order) as the list shows them."""
        by_key = {
            row["pk"]: row
            for row in Device.objects.filter(pk__in=keys).order_by().values(*_FIELDS, **_TEXTS)
        }
        rows = [by_key[key] for key in keys if key in by_key]
        if not rows:
            return []
        references = self._references(rows)
        addresses, ssh_keys = self._addresses(keys), self._ssh_keys(keys)
        now = timezone.now()
        return [self._device(row, references, addresses, ssh_keys, now) for row in rows]

    def _device(self, row: dict, references, addresses, ssh_keys, now) -> dict:
        uuid = row["uuid_text"]
        own_href = href("devices", uuid)
        percentage = row["provisioning_percentage"]
        creator = row["creator"]
        data = {
            "id": uuid,
            "href": own_href,
            "short_id": uuid[:8],
            "hostname": row["hostname"],
            "description": row["description"],
            "state": row["state"],
            "tags": row["tags"],
            "customdata": row["customdata"],
            "billing_cycle": row["billing_cycle"],
            "locked": row["locked"],
            "always_pxe": row["always_pxe"],
            "ipxe_script_url": row["ipxe_script_url"],
            "userdata": row["userdata"],
            "user": "root",
            "root_password": self._root_password(row, now),
            "provisioning_percentage": float(percentage) if percentage is not None else None,
            "spot_instance": False,
            "network_frozen": False,
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "created_by": None
            if creator is None
            else {
                "id": creator,
                "short_id": creator[:8],
                "email": row["created_by__email"],
                "first_name": row["created_by__first_name"],
                "last_name": row["created_by__last_name"],
                "full_name": _full_name(
                    row["created_by__first_name"],
                    row["created_by__last_name"],
                    row["created_by__email"],
                ),
                "href": href("users", creator),
            },
            "project": references["project"][row["project_id"]],
            "project_lite": {"href": href("projects", row["project_uuid"])},
        }
        for name, *_ in _CATALOGUE:
            data[name] = references[name][row[f"{name}_id"]]
        data["ssh_keys"] = ssh_keys.get(row["pk"], [])
        own_addresses = addresses.get(row["pk"], [])
        for address in own_addresses:
            address["assigned_to"] = {"href": own_href}
        data["ip_addresses"] = own_addresses
        data["network_ports"] = []
        data["volumes"] = []
        data["actions"] = []
        return {key: value for key, value in data.items() if value is not None}


def encode(body: dict) -> bytes:
    """JSON as DRF's JSONRenderer writes it: compact, UTF-8, U+2028 and U+2029 escaped (for
    the sake of JavaScript), and datetimes (the database's, in UTC) as Metal's RFC 3339 with
    seconds and `Z`, as Timestamp writes them."""
    encoded = orjson.dumps(body, option=orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS)
    if b"\xe2\x80\xa8" in encoded or b"\xe2\x80\xa9" in encoded:
        encoded = encoded.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return encoded
