"""iPXE scripts: what a machine that network-boots is told to do next.

The decision is the ledger's: an open provision, reinstall, rescue or deprovision whose
installer has not finished boots the installer kernel with a fresh agent token; a device with a
custom iPXE setup chains it; anything else boots from disk (`exit` hands back to the firmware).
"""

import re

from django.conf import settings

from inventory.models import Machine, OperatingSystem

from .. import ledger
from ..ledger import sql
from ..models import Device, Operation
from .metadata import absolute

HEADER = "#!ipxe"
_MAC = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")

# What a DHCP server (or QEMU's bootfile) points at: come back with the facts that name us.
# The MAC goes hyphenated: iPXE (Debian's 2019 build) reads a ':' anywhere in a relative URI
# as the end of a scheme, so `mac=52:54:…` makes the chain fail. `uristring` escapes the
# serial's spaces and colons.
CHAIN_WITH_IDENTITY = (
    f"{HEADER}\nchain /boot/ipxe?mac=${{net0/mac:hexhyp}}&uuid=${{uuid}}"
    "&serial=${serial:uristring}\n"
)
DISK = f"{HEADER}\nexit\n"

AGENT_KINDS = (
    Operation.Kind.PROVISION,
    Operation.Kind.REINSTALL,
    Operation.Kind.RESCUE,
    Operation.Kind.DEPROVISION,
)


def normalise_mac(raw: str) -> str | None:
    """`AA-BB-…`, `aa:bb:…` or `aabb…` → `aa:bb:cc:dd:ee:ff`; None if it is not a MAC."""
    value = raw.strip().lower()
    if not _MAC.match(value):
        return None
    digits = value.replace(":", "").replace("-", "")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def unknown_machine(address: str | None) -> str:
    """For an address Ironyard gave no machine: say so on the console, then boot from disk
    (iPXE runs nothing it got with an error status, so this is for people reading logs)."""
    return f"{HEADER}\necho Ironyard gave no machine the address {address}\nexit\n"


def _installer_urls(operation: Operation) -> tuple[str, str]:
    """The installer's kernel and initrd: RESCUE_KERNEL_URL's for a rescue where it is set,
    else the device's OS's (Ironyard's installer also rescues and wipes), else, for a device
    with none (custom iPXE), RESCUE_KERNEL_URL's or the catalogue's default installer."""
    os_ = operation.device.operating_system
    rescue = (settings.RESCUE_KERNEL_URL, settings.RESCUE_INITRD_URL)
    if operation.kind == Operation.Kind.RESCUE and rescue[0]:
        return rescue
    if os_.kernel_url:
        return os_.kernel_url, os_.initrd_url
    if rescue[0]:
        return rescue
    fallback = (
        OperatingSystem.objects.exclude(kernel_url="")
        .order_by("-default_operating_system", "slug")
        .values_list("kernel_url", "initrd_url")
        .first()
    )
    return fallback or ("", "")


def installer(operation: Operation, address: str, base: str) -> str:
    """Boot the installer (or rescue) kernel with a fresh token for the machine at `address`
    (which reaches the portal at `base`); older tokens stop working."""
    kernel, initrd = (absolute(url, base) if url else "" for url in _installer_urls(operation))
    if not kernel:
        # Nothing to boot: said on the console; the operation fails when no agent calls.
        said = "echo Ironyard has no installer to boot (manage.py build_installer)"
        return f"{HEADER}\n{said}\nexit 1\n"
    token = ledger.issue_agent_token(operation, address)
    arguments = " ".join(
        [
            "initrd=initrd.img",
            f"ironyard.agent={base}/boot/agent/v1",
            f"ironyard.token={token}",
            f"ironyard.operation={operation.uuid}",
            "console=ttyS0,115200",
        ]
    )
    lines = [HEADER, f"kernel {kernel} {arguments}"]
    if initrd:
        lines.append(f"initrd --name initrd.img {initrd}")
    lines.append("boot")
    return "\n".join(lines) + "\n"


def custom(device: Device) -> str | None:
    """The device's own iPXE (custom_ipxe OS or always_pxe): chain its URL, or serve its
    `#!ipxe` user data; None if it has none."""
    if not (device.operating_system.custom_ipxe or device.always_pxe):
        return None
    if device.ipxe_script_url:
        return f"{HEADER}\nchain {device.ipxe_script_url}\n"
    if device.userdata.startswith(HEADER):
        return device.userdata if device.userdata.endswith("\n") else device.userdata + "\n"
    return None


def script_for(machine: Machine, address: str, base: str) -> str:
    """The iPXE script for a known machine network-booting now from `address` (its own), which
    reaches the portal at `base`."""
    operation = sql.operation_for_boot(machine)
    if operation is not None and operation.kind in AGENT_KINDS and operation.installer_pending:
        device = operation.device
        installs = operation.kind in (Operation.Kind.PROVISION, Operation.Kind.REINSTALL)
        if installs and device.operating_system.custom_ipxe:
            # Nothing to install: the user's own iPXE is the installer, and it has started.
            script = custom(device)
            if script is not None:
                ledger.advance_waiting(operation, "await_agent")
                return script
        return installer(operation, address, base)
    device = (
        Device.objects.live().select_related("operating_system").filter(machine=machine).first()
    )
    if device is not None:
        script = custom(device)
        if script is not None:
            return script
    return DISK
