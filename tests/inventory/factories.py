"""Inventory factories: a small catalogue and machines, built directly (enrollment has its own
tests through real BMC emulators)."""

from decimal import Decimal

from inventory.models import (
    Facility,
    Machine,
    MachineNic,
    Metro,
    OperatingSystem,
    Plan,
    ProvisioningNetwork,
)
from inventory.services import assign_provisioning_addresses

_counter = iter(range(1, 1_000_000))


def make_metro(code: str = "sv", name: str = "Silicon Valley", country: str = "US") -> Metro:
    return Metro.objects.get_or_create(code=code, defaults={"name": name, "country": country})[0]


def make_facility(metro: Metro, code: str | None = None) -> Facility:
    """A facility with a provisioning network (a loopback /16 of its own, so its machines'
    boot addresses are ones a test can send from)."""
    code = code or f"{metro.code}1"
    facility, created = Facility.objects.get_or_create(
        code=code,
        defaults={
            "name": f"{metro.name} {code}",
            "metro": metro,
            "features": ["baremetal", "layer_2"],
        },
    )
    if created:
        ProvisioningNetwork.objects.create(
            facility=facility, network=f"127.{64 + ProvisioningNetwork.objects.count()}.0.0/16"
        )
    return facility


def make_plan(slug: str = "c3.small.x86", *, price: str = "0.50", metros=()) -> Plan:
    plan, _ = Plan.objects.get_or_create(
        slug=slug,
        defaults={
            "name": slug.split(".")[0].upper(),
            "plan_class": slug,
            "categories": ["compute"],
            "hourly_price": Decimal(price),
            "deployment_types": ["on_demand"],
            "specs": {
                "cpus": [{"count": 1, "type": "Intel Xeon E-2278G"}],
                "memory": {"total": "32GB"},
            },
        },
    )
    plan.metros.add(*metros)
    return plan


def make_os(slug: str = "ubuntu_24_04", plans=()) -> OperatingSystem:
    os_, _ = OperatingSystem.objects.get_or_create(
        slug=slug,
        defaults={
            "name": slug.replace("_", " ").title(),
            "distro": slug.split("_")[0],
            "version": ".".join(slug.split("_")[1:]),
            "kernel_url": "http://images.invalid/vmlinuz",
            "initrd_url": "http://images.invalid/initrd",
            "image_url": "http://images.invalid/image.raw.gz",
        },
    )
    os_.provisionable_on.add(*plans)
    return os_


def make_machine(facility: Facility, plan: Plan | None, *, state: str = "available") -> Machine:
    n = next(_counter)
    machine = Machine.objects.create(
        name=f"node{n:04d}",
        facility=facility,
        plan=plan,
        state=state,
        bmc_driver="redfish",
        bmc_address=f"http://127.0.0.1:{8000 + n}",
        bmc_system_id=f"sys{n}",
        bmc_username="admin",
        bmc_password="password",
        serial_number=f"SN{n:06d}",
    )
    MachineNic.objects.create(
        machine=machine, name="eth0", mac_address=f"52:54:00:00:{n >> 8 & 255:02x}:{n & 255:02x}"
    )
    if facility.provisioning_networks.exists():
        assign_provisioning_addresses(facility, [machine])
    return machine
