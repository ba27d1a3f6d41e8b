"""DHCP for the provisioning networks, generated from Ironyard's records (as MAAS's rack
controller and Tinkerbell's DHCP serve theirs): each machine's MACs are reserved to the
provisioning address it got at enrollment, nobody else gets an address, and booting firmware is
sent to iPXE and on to the portal's /boot/ipxe. The boot path then knows the machine by that
address alone.
"""

import ipaddress
import re
from dataclasses import dataclass

from django.utils import timezone

from .models import Facility, Machine, MachineNic, ProvisioningNetwork

# Debian's `ipxe` package: iPXE for PXE firmware that is not iPXE already.
IPXE_TFTP_ROOT = "/usr/lib/ipxe"
IPXE_BIOS = "undionly.kpxe"
IPXE_UEFI = "ipxe.efi"
# DHCP option 93 (client system architecture): x86-64 UEFI firmware says 7 (or 9).
UEFI_X86_64_ARCHES = (7, 9)
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


@dataclass(frozen=True)
class Reservation:
    """One machine's reservation: its MACs (any one of them may boot) get its address."""

    macs: tuple[str, ...]
    address: str
    hostname: str  # the machine's name if it is a valid host name, else ""


def reservations(facility: Facility) -> list[Reservation]:
    """The facility's reservations, by address."""
    machines = (
        Machine.objects.filter(facility=facility, provisioning_address__isnull=False)
        .only("name", "provisioning_address")
        .prefetch_related("nics")
    )
    found = [
        Reservation(
            macs=tuple(nic.mac_address for nic in machine.nics.all()),
            address=machine.provisioning_address,
            hostname=machine.name if _HOSTNAME.match(machine.name) else "",
        )
        for machine in machines
    ]
    return sorted(found, key=lambda r: ipaddress.IPv4Address(r.address))


def leases() -> dict[str, str]:
    """Every reserved MAC and its address, in every facility: what DHCP servers driven by
    these records answer."""
    return dict(
        MachineNic.objects.filter(machine__provisioning_address__isnull=False).values_list(
            "mac_address", "machine__provisioning_address"
        )
    )


def hosts_file(facility: Facility) -> str:
    """The reservations as a dnsmasq `dhcp-hostsfile` (dnsmasq rereads it on SIGHUP)."""
    return "".join(f"{_host(r)}\n" for r in reservations(facility))


def _host(reservation: Reservation) -> str:
    return ",".join([*reservation.macs, reservation.address, *filter(None, [reservation.hostname])])


def dnsmasq_config(
    facility: Facility, *, boot_url: str, tftp_root: str = IPXE_TFTP_ROOT, hosts_file: str = ""
) -> str:
    """A complete dnsmasq configuration (DHCP and TFTP, no DNS) for the facility's
    provisioning networks; with `hosts_file`, the reservations are read from that file (see
    `hosts_file()`) instead of being listed inline."""
    networks = list(ProvisioningNetwork.objects.filter(facility=facility).order_by("network"))
    lines = [
        f"# Ironyard: DHCP for the provisioning networks of {facility.code} ({facility.name}),",
        f"# generated {timezone.now():%Y-%m-%d %H:%M} UTC by `manage.py dhcp_config "
        f"--facility {facility.code}`.",
        "# Regenerate it after machines are enrolled or retired; do not edit it by hand.",
        "port=0",
        "dhcp-authoritative",
        "# Only the machines Ironyard enrolled get an address: their reservations below.",
        "dhcp-ignore=tag:!known",
    ]
    for number, network in enumerate(networks, start=1):
        tag, net = f"prov{number}", network.ip_network
        lines.append(f"dhcp-range=set:{tag},{net.network_address},static,{net.netmask},12h")
        if network.gateway:
            lines.append(f"dhcp-option=tag:{tag},option:router,{network.gateway}")
    lines += [
        "# Firmware that is iPXE already chains the portal's script; PXE firmware first gets",
        "# iPXE over TFTP (the UEFI build for x86-64 UEFI, else the BIOS one).",
        "dhcp-userclass=set:ipxe,iPXE",
        "dhcp-match=set:ipxe,175",
        *(f"dhcp-match=set:efi64,option:client-arch,{arch}" for arch in UEFI_X86_64_ARCHES),
        f"dhcp-boot=tag:ipxe,{boot_url.rstrip('/')}/boot/ipxe",
        f"dhcp-boot=tag:!ipxe,tag:efi64,{IPXE_UEFI}",
        f"dhcp-boot=tag:!ipxe,tag:!efi64,{IPXE_BIOS}",
        "enable-tftp",
        f"tftp-root={tftp_root}",
    ]
    if hosts_file:
        lines.append(f"dhcp-hostsfile={hosts_file}")
    else:
        found = reservations(facility)
        lines.append(f"# {len(found)} machine(s): MACs, provisioning address, name.")
        lines += [f"dhcp-host={_host(r)}" for r in found]
    return "\n".join(lines) + "\n"
