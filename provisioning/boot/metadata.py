"""The Metal `Metadata` document of a device, shared by the metadata service (which finds the
device by the caller's address) and the owner's `GET /metal/v1/devices/{id}/metadata`."""

import ipaddress
from collections.abc import Iterator

from django.conf import settings
from django.db.models import QuerySet

from inventory import ipam
from portal.hrefs import href_for

from ..models import Device, IPAssignment

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def boot_base_url() -> str:
    """The portal's base URL as servers reach it (BOOT_BASE_URL, else SITE_URL)."""
    return (settings.BOOT_BASE_URL or settings.SITE_URL).rstrip("/")


def ssh_key_lines(device: Device) -> list[str]:
    """The public key lines to install: the device's keys, then the inline ones."""
    keys = [key.key.strip() for key in device.ssh_keys.all()]
    return keys + [line.strip() for line in device.extra_ssh_keys if line and line.strip()]


# What the full metadata document reads of a device.
METADATA_RELATED = ("plan", "metro", "facility", "operating_system", "machine", "project")


def _live_at(address: str | None) -> Iterator[QuerySet]:
    """Live devices that could be at a source address, narrowest lookup first: its machine's
    in-band (boot) address, then an address inside one of its IP assignments."""
    if not address:
        return
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return
    live = Device.objects.live().order_by()
    yield live.filter(machine__inband_address=str(ip))
    # Assignments are stored as canonical CIDR strings, so every network that could contain
    # the address is one of its supernets: an exact-match IN query, portable to SQLite.
    supernets = [
        str(ipaddress.ip_network(f"{ip}/{length}", strict=False))
        for length in range(ip.max_prefixlen, -1, -1)
    ]
    yield live.filter(ip_assignments__network__in=supernets)


def device_id_for_address(address: str | None) -> int | None:
    """The id of the live device a source address belongs to."""
    for matching in _live_at(address):
        pk = next(iter(matching.values_list("pk", flat=True)[:1]), None)
        if pk is not None:
            return pk
    return None


def device_for_address(address: str | None, *related: str) -> Device | None:
    """The live device a source address belongs to. `related` are the select_related paths
    the caller reads (every booting server calls here several times: load no more)."""
    if not related:
        # Nothing to join: the narrow lookup brings the whole row.
        for matching in _live_at(address):
            device = next(iter(matching[:1]), None)
            if device is not None:
                return device
        return None
    # The id first, then the row with what it joins: one wide join per call costs more in
    # planning alone than the two lookups do.
    pk = device_id_for_address(address)
    return None if pk is None else Device.objects.select_related(*related).filter(pk=pk).first()


def _address(assignment: IPAssignment) -> dict:
    """One assigned subnet in the metadata service's shape (first host is the gateway)."""
    net = assignment.subnet
    parent = ipaddress.ip_network(assignment.reservation.network)
    # A lone elastic address routes through its reservation's gateway.
    gateway = ipam.gateway_address(parent if net.num_addresses == 1 else net)
    return {
        "id": str(assignment.uuid),
        "address_family": net.version,
        "netmask": str(net.netmask),
        "public": assignment.public,
        "management": assignment.management,
        "address": assignment.address,
        "gateway": str(gateway),
        "network": str(net.network_address),
        "cidr": net.prefixlen,
        "enabled": True,
        "parent_block": {
            "network": str(parent.network_address),
            "netmask": str(parent.netmask),
            "cidr": parent.prefixlen,
            "href": href_for(assignment.reservation),
        },
        "href": href_for(assignment),
    }


def build_metadata(device: Device) -> dict:
    """The metadata service's JSON for a device (Metal's `Metadata` plus network and URLs)."""
    machine = device.machine
    nics = list(machine.nics.all()) if machine is not None else []
    assignments = list(device.ip_assignments.select_related("reservation").order_by("pk"))
    addresses = [_address(a) for a in assignments]
    os_ = device.operating_system
    plan = device.plan
    created = device.created_at
    base = boot_base_url()
    return {
        "id": str(device.uuid),
        "hostname": device.hostname,
        "iqn": f"iqn.{created:%Y-%m}.net.ironyard:device.{device.short_id}",
        "operating_system": {
            "slug": os_.slug,
            "distro": os_.distro,
            "version": os_.version,
            "license_activation": {"state": "unlicensed"},
            "image_tag": None,
        },
        "plan": plan.slug,
        "class": plan.plan_class or plan.slug,
        "facility": device.facility.code,
        "metro": device.metro.code,
        "reserved": False,
        "tags": list(device.tags),
        "ssh_keys": ssh_key_lines(device),
        "state": device.state,
        "customdata": device.customdata or {},
        "specs": plan.specs or {},
        "private_subnets": sorted(
            {
                f"{a['parent_block']['network']}/{a['parent_block']['cidr']}"
                for a in addresses
                if a["address_family"] == 4 and not a["public"]
            }
        ),
        "network": {
            "bonding": {
                "mode": 4,
                "link_aggregation": "bonded",
                "mac": nics[0].mac_address if nics else "",
            },
            "interfaces": [
                {"name": nic.name, "mac": nic.mac_address, "bond": "bond0"} for nic in nics
            ],
            "addresses": addresses,
        },
        "volumes": [],
        "api_url": f"{settings.SITE_URL.rstrip('/')}/metal/v1",
        "phone_home_url": f"{base}/phone-home",
        "user_state_url": f"{base}/user-state",
    }


def api_metadata(device: Device) -> dict:
    """The same document in the API spec's shape: `network.addresses` are strings
    ("address/cidr") and bonding also sits under `network.network`, as Metal's schema (and the
    SDKs generated from it) declare it."""
    document = build_metadata(device)
    network = document["network"]
    document["network"] = {
        **network,
        "addresses": [f"{a['address']}/{a['cidr']}" for a in network["addresses"]],
        "network": {"bonding": network["bonding"]},
    }
    return document


def _first_address(metadata: dict, family: int, public: bool) -> str:
    for address in metadata["network"]["addresses"]:
        if address["address_family"] == family and address["public"] == public:
            return address["address"]
    return ""


def ec2_tree(metadata: dict) -> dict:
    """The EC2-style `/2009-04-04/meta-data` tree: dicts are directories, lists are newline
    lists, strings are values; empty values are left out."""
    os_ = metadata["operating_system"]
    tree = {
        "instance-id": metadata["id"],
        "hostname": metadata["hostname"],
        "local-hostname": metadata["hostname"],
        "iqn": metadata["iqn"],
        "plan": metadata["plan"],
        "facility": metadata["facility"],
        "metro": metadata["metro"],
        "tags": metadata["tags"],
        "operating-system": {
            "slug": os_["slug"],
            "distro": os_["distro"],
            "version": os_["version"],
            "license_activation": {"state": os_["license_activation"]["state"]},
        },
        "public-keys": metadata["ssh_keys"],
        "public-ipv4": _first_address(metadata, 4, True),
        "public-ipv6": _first_address(metadata, 6, True),
        "local-ipv4": _first_address(metadata, 4, False),
    }
    return _prune(tree)


def _prune(node: dict) -> dict:
    pruned = {}
    for key, value in node.items():
        if isinstance(value, dict):
            value = _prune(value)
        if value not in ("", [], {}, None):
            pruned[key] = value
    return pruned
