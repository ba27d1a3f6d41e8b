"""The installer agent's side of an operation: who it is (its bearer token) and what to do."""

from django.conf import settings

from portal import tokens

from ..ledger import sql
from ..models import Operation
from .metadata import absolute, cloud_init_network, ssh_key_lines


def operation_for_token(token: str) -> Operation | None:
    """The operation whose current agent token this is (any state), with its device (and the
    device's project, organization, operating system and facility), or None."""
    if not token:
        return None
    operation = sql.operation_for_token_digest(tokens.digest(token))
    if operation is None or not tokens.matches(token, operation.agent_token_digest):
        return None
    return operation


def instructions(operation: Operation, base: str) -> dict:
    """The agent's step list for this operation; `base`: the portal as the machine reaches it
    (images the portal serves are fetched from there)."""
    device = operation.device
    kind = operation.kind
    steps: list[dict] = []
    if kind in (Operation.Kind.PROVISION, Operation.Kind.REINSTALL):
        os_ = device.operating_system
        preserve = kind == Operation.Kind.REINSTALL and operation.params.get("preserve_data")
        if not preserve:
            steps.append({"name": "wipe_disks"})
        steps.append(
            {
                "name": "write_image",
                "image_url": absolute(os_.image_url, base),
                "checksum": os_.image_checksum,
                "format": os_.image_format,
                "root_device": device.plan.root_device,
                # For progress only, when the server does not say the image's length.
                "size_bytes": settings.INSTALL_IMAGE_SIZE_BYTES,
            }
        )
        steps.append(
            {
                "name": "configure",
                "hostname": device.hostname,
                "ssh_keys": ssh_key_lines(device),
                "network": cloud_init_network(device),
            }
        )
    elif kind == Operation.Kind.DEPROVISION:
        steps.append({"name": "wipe_disks"})
    elif kind == Operation.Kind.RESCUE:
        steps.append({"name": "rescue", "ssh_keys": ssh_key_lines(device)})
    document = {"operation": {"id": str(operation.uuid), "type": kind}, "steps": steps}
    if kind in (Operation.Kind.PROVISION, Operation.Kind.REINSTALL):
        # Once the portal has its done, the installer reboots into the installed system (as
        # MAAS's and Tinkerbell's do): the firmware boots the disk, or network-boots and is
        # told to (iPXE `exit`) while no installer is pending. Rescue stays up; a wiped
        # machine waits for the portal to power it off.
        document["then"] = "reboot"
    return document
