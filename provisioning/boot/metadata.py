"""The Metal `Metadata` document of a device, shared by the metadata service (which finds the
device by the caller's address) and the owner's `GET /metal/v1/devices/{id}/metadata`."""

import ipaddress
import json

from django.conf import settings

from inventory import ipam
from portal.hrefs import href_for

from ..ledger import sql
from ..models import Device, IPAssignment

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def boot_base_url(request=None) -> str:
    """The portal's base URL as servers reach it: BOOT_BASE_URL, else the address the calling
    server used to reach it (a machine on another network than browsers, say), else SITE_URL."""
    if settings.BOOT_BASE_URL:
        return settings.BOOT_BASE_URL.rstrip("/")
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return settings.SITE_URL.rstrip("/")


def absolute(url: str, base: str) -> str:
    """A catalogue URL as a machine fetches it: a path on the portal (a build it serves under
    /boot/files/) joined to the portal's address as the machine reaches it; others as they are."""
    return f"{base}{url}" if url.startswith("/") else url


def ssh_key_lines(device: Device) -> list[str]:
    """The public key lines to install: the device's keys, then the inline ones."""
    keys = [key.strip() for key in sql.ssh_public_keys(device)]
    return keys + [line.strip() for line in device.extra_ssh_keys if line and line.strip()]


# What the full metadata document reads of a device (as sql.device_for_metadata loads it).
METADATA_RELATED = ("plan", "metro", "facility", "operating_system", "machine", "project")


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


def build_metadata(device: Device, base: str | None = None) -> dict:
    """The metadata service's JSON for a device (Metal's `Metadata` plus network and URLs);
    `base`: the portal as the device reaches it."""
    machine = device.machine
    nics = sql.nics(machine.pk) if machine is not None else []
    addresses = [_address(a) for a in sql.assignments(device)]
    os_ = device.operating_system
    plan = device.plan
    created = device.created_at
    base = base or boot_base_url()
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


def cloud_init_network(device: Device) -> dict:
    """The installed system's network in cloud-init's version 1 form: its first NIC keeps DHCP
    (the provisioning network, by which it reaches the metadata service) and carries the
    device's addresses from IPAM. Empty when the device has no machine with a NIC."""
    nics = sql.nics(device.machine_id) if device.machine_id is not None else []
    if not nics:
        return {}
    subnets: list[dict] = [{"type": "dhcp4"}]
    for assignment in sql.assignments(device):
        net = assignment.subnet
        subnets.append(
            {
                "type": "static" if net.version == 4 else "static6",
                "address": f"{assignment.address}/{net.prefixlen}",
            }
        )
    return {
        "version": 1,
        "config": [
            {
                "type": "physical",
                "name": "uplink0",
                "mac_address": nics[0].mac_address,
                "subnets": subnets,
            }
        ],
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


# cloud-init's NoCloud datasource over HTTP, which the installed system is pointed at (its
# `seedfrom`): the same facts, in the three documents it reads.


def nocloud_meta_data(metadata: dict) -> str:
    """meta-data: the instance id (a reinstall is a new install), host name and keys."""
    document = {
        "instance-id": metadata["id"],
        "local-hostname": metadata["hostname"],
        "public-keys": metadata["ssh_keys"],
    }
    return json.dumps(document, indent=2) + "\n"  # JSON is YAML, as cloud-init reads it


def nocloud_vendor_data(metadata: dict) -> str:
    """vendor-data: what Ironyard asks of every installed system, merged under the user's own
    user data: root may log in with the keys, and the first boot phones home."""
    document = {
        "disable_root": False,
        "ssh_pwauth": False,
        "manage_etc_hosts": True,
        "phone_home": {
            "url": metadata["phone_home_url"],
            "post": ["instance_id", "hostname"],
            "tries": 10,
        },
    }
    return "#cloud-config\n" + json.dumps(document, indent=2) + "\n"


def nocloud_user_data(device: Device) -> str:
    """user-data: the device's own, as given (an empty cloud-config when it has none)."""
    return device.userdata or "#cloud-config\n{}\n"
