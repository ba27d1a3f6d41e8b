"""The demo datacenter: a catalogue an operator would load, and the emulated rack's servers.

Used by `seed_demo` (catalogue, idempotent) and the virtual rack (whose servers follow the
layout and specs of `demo_systems()`).
"""

import hashlib
import uuid
from decimal import Decimal

from django.db import transaction

from . import services
from .models import Facility, IPBlock, Machine, Metro, OperatingSystem, Plan, ProvisioningNetwork

METROS = [
    ("sv", "Silicon Valley", "US", "sv15", "SV15 San Jose"),
    ("ny", "New York", "US", "ny5", "NY5 Secaucus"),
    ("am", "Amsterdam", "NL", "am6", "AM6 Amsterdam"),
]

PLANS = [
    {
        "slug": "c3.small.x86",
        "name": "c3.small.x86",
        "price": "0.50",
        "cpus": 1,
        "memory": 32,
        "cpu": "Intel Xeon E-2278G",
        "cores": 8,
        "category": "compute",
        "drives": [{"count": 2, "type": "SSD", "size": "480GB", "category": "boot"}],
        "description": "Small, efficient: 8 cores, 32 GB, 2 × 480 GB SSD.",
        "metros": ["sv", "ny", "am"],
    },
    {
        "slug": "m3.large.x86",
        "name": "m3.large.x86",
        "price": "3.10",
        "cpus": 2,
        "memory": 256,
        "cpu": "AMD EPYC 7502P",
        "cores": 32,
        "category": "compute",
        "drives": [{"count": 2, "type": "NVMe", "size": "3.8TB", "category": "storage"}],
        "description": "Memory and cores for heavy work: 64 cores, 256 GB, NVMe.",
        "metros": ["sv", "ny"],
    },
    {
        "slug": "s3.xlarge.x86",
        "name": "s3.xlarge.x86",
        "price": "1.85",
        "cpus": 2,
        "memory": 192,
        "cpu": "Intel Xeon Silver 4214",
        "cores": 12,
        "category": "storage",
        "drives": [{"count": 12, "type": "HDD", "size": "8TB", "category": "storage"}],
        "description": "Dense storage: 12 × 8 TB HDD.",
        "metros": ["sv"],
    },
    {
        # The virtual rack's real QEMU machines (make run VMS=N): a 4 GB disk the OS goes on,
        # by the root disk rule, and a 1 GB one beside it.
        "slug": "v1.small.x86",
        "name": "v1.small.x86",
        "price": "0.01",
        "cpus": 1,
        "memory": 1,
        "cpu": "QEMU virtual CPU",
        "cores": 1,
        "category": "compute",
        "drives": [
            {"count": 1, "type": "SSD", "size": "4GB", "category": "boot"},
            {"count": 1, "type": "SSD", "size": "1GB", "category": "storage"},
        ],
        "description": "A real virtual machine in the virtual rack: 1 core, 1 GB, 4 GB disk.",
        "metros": ["sv"],
        "root_device": {"min_size_gb": 2},
        # What `build_image --register` makes real; the other demo images exist only for the
        # simulated servers, and would fail on a real machine.
        "operating_systems": ["debian_12"],
    },
]

OPERATING_SYSTEMS = [
    ("ubuntu_24_04", "Ubuntu 24.04 LTS", "ubuntu", "24.04", True),
    ("ubuntu_22_04", "Ubuntu 22.04 LTS", "ubuntu", "22.04", False),
    ("debian_12", "Debian 12", "debian", "12", False),
    ("rocky_9", "Rocky Linux 9", "rocky", "9", False),
    ("alma_9", "AlmaLinux 9", "alma", "9", False),
    ("flatcar_stable", "Flatcar Container Linux", "flatcar", "stable", False),
]

IP_BLOCKS = [  # documentation ranges (RFC 5737 / RFC 3849) and RFC 1918 space
    ("public_ipv4", "198.51.100.0/24", "sv"),
    ("public_ipv4", "203.0.113.0/24", "ny"),
    ("public_ipv4", "192.0.2.0/24", "am"),
    ("private_ipv4", "10.10.0.0/16", "sv"),
    ("private_ipv4", "10.20.0.0/16", "ny"),
    ("private_ipv4", "10.30.0.0/16", "am"),
    ("public_ipv6", "2001:db8:10::/48", "sv"),
    ("public_ipv6", "2001:db8:20::/48", "ny"),
    ("public_ipv6", "2001:db8:30::/48", "am"),
]

# Each facility's provisioning network. The virtual rack's servers boot from the addresses
# Ironyard gives them here, so the demo's are loopback ranges; a real facility's would be its
# provisioning VLAN (say 10.250.0.0/22), which DHCP (`manage.py dhcp_config`) serves.
PROVISIONING_NETWORKS = {"sv15": "127.11.0.0/16", "ny5": "127.12.0.0/16", "am6": "127.13.0.0/16"}

IMAGE_BASE = "http://images.ironyard.internal"


@transaction.atomic
def seed_catalogue() -> None:
    """Create or refresh the demo metros, facilities (with their provisioning networks), plans,
    operating systems and IP blocks."""
    metros = {}
    for code, name, country, fac_code, fac_name in METROS:
        metro, _ = Metro.objects.update_or_create(
            code=code, defaults={"name": name, "country": country}
        )
        Facility.objects.update_or_create(
            code=fac_code,
            defaults={
                "name": fac_name,
                "metro": metro,
                "features": ["baremetal", "layer_2", "backend_transfer"],
                "address": {"city": name, "country": country},
            },
        )
        metros[code] = metro
    plans = []
    for spec in PLANS:
        plan, _ = Plan.objects.update_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "plan_class": spec["slug"],
                "line": "baremetal",
                "type": "standard",
                "categories": [spec["category"]],
                "description": spec["description"],
                "hourly_price": Decimal(spec["price"]),
                "deployment_types": ["on_demand"],
                "match_cpu_count": spec["cpus"],
                "match_memory_gib": spec["memory"],
                "root_device": spec.get("root_device", {}),
                "specs": {
                    "cpus": [{"count": spec["cpus"], "type": spec["cpu"]}],
                    "memory": {"total": f"{spec['memory']}GB"},
                    "drives": spec["drives"],
                    "nics": [{"count": 2, "type": "25Gbps"}],
                    "features": {"raid": True, "txt": True, "uefi": True},
                },
            },
        )
        plan.metros.set([metros[m] for m in spec["metros"]])
        plans.append(plan)
    for slug, name, distro, version, default in OPERATING_SYSTEMS:
        described = {
            "name": name,
            "distro": distro,
            "version": version,
            "distro_label": name,
            "default_operating_system": default,
        }
        # Images only the simulated servers "install"; a real one registered since (make run
        # VMS=N: build_image --register) is kept.
        os_, _ = OperatingSystem.objects.update_or_create(
            slug=slug,
            defaults=described,
            create_defaults={
                **described,
                "kernel_url": f"{IMAGE_BASE}/installer/vmlinuz",
                "initrd_url": f"{IMAGE_BASE}/installer/initrd.img",
                "image_url": f"{IMAGE_BASE}/{slug}.raw.gz",
                "image_checksum": "sha256:" + hashlib.sha256(slug.encode()).hexdigest(),
            },
        )
        os_.provisionable_on.set(
            [
                plan
                for plan, spec in zip(plans, PLANS, strict=True)
                if slug in spec.get("operating_systems", [slug])
            ]
        )
    custom, _ = OperatingSystem.objects.update_or_create(
        slug="custom_ipxe",
        defaults={"name": "Custom iPXE", "distro": "custom_ipxe", "custom_ipxe": True},
    )
    custom.provisionable_on.set(plans)
    for facility in Facility.objects.filter(code__in=PROVISIONING_NETWORKS):
        ProvisioningNetwork.objects.update_or_create(
            network=PROVISIONING_NETWORKS[facility.code],
            defaults={"facility": facility, "description": "the virtual rack's (loopback)"},
        )
        unaddressed = Machine.objects.filter(facility=facility, provisioning_address__isnull=True)
        services.assign_provisioning_addresses(
            facility, list(unaddressed.exclude(state=Machine.State.RETIRED).order_by("name"))
        )
    for kind, network, metro in IP_BLOCKS:
        IPBlock.objects.update_or_create(
            network=network,
            defaults={
                "kind": kind,
                "metro": metros[metro],
                "description": f"demo {kind} in {metro}",
            },
        )


def demo_systems() -> list[dict]:
    """The emulated servers behind the demo BMC: stable ids so re-runs find them enrolled."""
    layout = [
        ("sv15", "c3.small.x86", 6),
        ("sv15", "m3.large.x86", 2),
        ("sv15", "s3.xlarge.x86", 1),
        ("ny5", "c3.small.x86", 4),
        ("ny5", "m3.large.x86", 1),
        ("am6", "c3.small.x86", 2),
    ]
    specs = {p["slug"]: p for p in PLANS}
    systems = []
    for facility, plan, count in layout:
        spec = specs[plan]
        for i in range(count):
            n = len(systems) + 1
            systems.append(
                {
                    "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ironyard-demo-{n}")),
                    "name": f"{facility}-{plan.split('.')[0]}-{i + 1:02d}",
                    "facility": facility,
                    "power_state": "Off",
                    "nics": [{"mac": f"52:54:00:d0:{n:02x}:{k:02x}"} for k in (0, 1)],
                    "serial_number": f"DEMO{n:05d}",
                    "manufacturer": "Ironyard Lab",
                    "model": plan.split(".")[0].upper(),
                    "cpus": spec["cpus"],
                    "cores": spec["cores"] // spec["cpus"],
                    "threads": 2 * spec["cores"] // spec["cpus"],
                    "cpu_model": spec["cpu"],
                    "memory_gib": spec["memory"],
                    "disks": [{"name": "sda", "size_gib": 480}],
                }
            )
    return systems
