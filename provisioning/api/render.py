"""The device list rendered as plain dicts and encoded by orjson: what clients and Terraform
poll while servers provision, on every request, so it does without DRF's per-field machinery
(a serializer walks ~35 fields per device, each through get_attribute and to_representation).

The bytes are the DeviceSerializer's, to the byte (tests/provisioning/api/golden): the same
keys in the same order, absent values left out as MetalSerializer leaves them, references as
`{href}` unless included. The catalogue rows, the project and the SSH keys a page shows are few
and shared by its devices: each is rendered once per response, by its own serializer.
"""

import functools
import ipaddress
from datetime import UTC

import orjson

from inventory import ipam
from inventory.api.serializers import (
    FacilitySerializer,
    MetroSerializer,
    OperatingSystemSerializer,
    PlanSerializer,
)
from portal.api.metal import expanded
from portal.api.serializers import ProjectSerializer, SSHKeySerializer
from portal.hrefs import href, href_for

# (field, serializer of the object when expanded, expanded unless excluded?)
_REFERENCES = (
    ("project", ProjectSerializer, False),
    ("plan", PlanSerializer, True),
    ("metro", MetroSerializer, True),
    ("facility", FacilitySerializer, True),
    ("operating_system", OperatingSystemSerializer, True),
)


def _time(value) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


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


class DeviceList:
    """Renders the devices of one response; `include`/`exclude` as parse_paths gives them."""

    def __init__(self, context: dict):
        self.context = context
        self.include, self.exclude = context.get("include", {}), context.get("exclude", {})
        self._rendered: dict = {}

    def _reference(self, name: str, obj, serializer, default: bool) -> dict:
        if not expanded(name, default, self.include, self.exclude):
            return {"href": href_for(obj)}
        key = (name, obj.pk)
        found = self._rendered.get(key)
        if found is None:
            context = {
                **self.context,
                "include": self.include.get(name, {}),
                "exclude": self.exclude.get(name, {}),
            }
            found = self._rendered[key] = serializer(obj, context=context).data
        return found

    def _ssh_keys(self, device) -> list[dict]:
        return [
            self._reference("ssh_keys", key, SSHKeySerializer, False)
            for key in device.ssh_keys.all()
        ]

    def _address(self, assignment, device_href: str) -> dict:
        address, family, cidr, netmask, network, gateway = _subnet(assignment.network)
        parent = _subnet(assignment.reservation.network)
        uuid = str(assignment.uuid)
        return {
            "id": uuid,
            "href": href("ips", uuid),
            "address": address,
            "address_family": family,
            "cidr": cidr,
            "netmask": netmask,
            "network": network,
            "gateway": gateway,
            "public": assignment.public,
            "management": assignment.management,
            "manageable": not assignment.management,
            "global_ip": assignment.reservation.block.kind == "global_ipv4",
            "enabled": True,
            "state": "active",
            "assigned_to": {"href": device_href},
            "parent_block": {
                "network": parent[4],
                "netmask": parent[3],
                "cidr": parent[2],
                "href": href("ips", assignment.reservation.uuid),
            },
            "created_at": _time(assignment.created_at),
        }

    def device(self, device) -> dict:
        uuid = str(device.uuid)
        own_href = href("devices", uuid)
        creator = device.created_by
        percentage = device.provisioning_percentage
        data = {
            "id": uuid,
            "href": own_href,
            "short_id": device.short_id,
            "hostname": device.hostname,
            "description": device.description,
            "state": device.state,
            "tags": list(device.tags),
            "customdata": device.customdata,
            "billing_cycle": device.billing_cycle,
            "locked": device.locked,
            "always_pxe": device.always_pxe,
            "ipxe_script_url": device.ipxe_script_url,
            "userdata": device.userdata,
            "user": "root",
            "root_password": device.readable_root_password,
            "provisioning_percentage": float(percentage) if percentage is not None else None,
            "spot_instance": False,
            "network_frozen": False,
            "created_at": _time(device.created_at),
            "updated_at": _time(device.updated_at),
            "created_by": None
            if creator is None
            else {
                "id": str(creator.uuid),
                "short_id": creator.short_id,
                "email": creator.email,
                "first_name": creator.first_name,
                "last_name": creator.last_name,
                "full_name": creator.full_name,
                "href": href("users", creator.uuid),
            },
        }
        project = device.project
        data["project"] = self._reference("project", project, ProjectSerializer, False)
        data["project_lite"] = {"href": href("projects", project.uuid)}
        for name, serializer, default in _REFERENCES[1:]:
            data[name] = self._reference(name, getattr(device, name), serializer, default)
        data["ssh_keys"] = self._ssh_keys(device)
        data["ip_addresses"] = [self._address(a, own_href) for a in device.ip_assignments.all()]
        data["network_ports"] = []
        data["volumes"] = []
        data["actions"] = []
        return {key: value for key, value in data.items() if value is not None}

    def encode(self, devices, meta: dict | None) -> bytes:
        """The list's JSON body, as DRF's JSONRenderer writes it (compact, UTF-8, U+2028 and
        U+2029 escaped for the sake of JavaScript)."""
        body = {"devices": [self.device(device) for device in devices]}
        if meta is not None:
            body["meta"] = meta
        encoded = orjson.dumps(body)
        if b"\xe2\x80\xa8" in encoded or b"\xe2\x80\xa9" in encoded:
            encoded = encoded.replace(b"\xe2\x80\xa8", b"\\u2028").replace(
                b"\xe2\x80\xa9", b"\\u2029"
            )
        return encoded
