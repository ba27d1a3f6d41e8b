"""What each operation does, as an ordered list of step names, and what it means for the
device's Metal state when it starts, succeeds or fails."""

from dataclasses import dataclass

from .models import Device, Operation

K, S = Operation.Kind, Device.State


@dataclass(frozen=True)
class Workflow:
    steps: tuple[str, ...]
    allowed_from: frozenset[str]  # device states the operation may start from
    running: str  # device state while it runs
    succeeded: str  # device state when it succeeds
    failed: str  # device state when it fails
    # Whether its steps fill the device's progress bar (provisioning_percentage): installs and
    # deletions do; a power action or a rescue names its step and leaves the bar as it was.
    fills_bar: bool = False


# One network boot, then the installer reboots the machine itself (see boot.agent.
# instructions). The PXE override is for that one boot only (every boot with always_pxe), so the
# machine then boots as its firmware says: the disk, or, on a machine that network-boots first
# (as Metal's all did), the portal's iPXE script, which sends it to the disk (`exit`) while no
# installer is pending. Nothing is left for the BMC after the first boot.
INSTALL = ("set_boot_pxe", "power_cycle", "await_agent", "await_phone_home")

WORKFLOWS: dict[str, Workflow] = {
    K.PROVISION: Workflow(
        INSTALL, frozenset({S.QUEUED}), S.PROVISIONING, S.ACTIVE, S.FAILED, fills_bar=True
    ),
    K.REINSTALL: Workflow(
        INSTALL,
        frozenset({S.ACTIVE, S.INACTIVE}),
        S.REINSTALLING,
        S.ACTIVE,
        S.FAILED,
        fills_bar=True,
    ),
    K.POWER_ON: Workflow(
        ("power_on", "await_power_on"),
        frozenset({S.INACTIVE}),
        S.POWERING_ON,
        S.ACTIVE,
        S.INACTIVE,
    ),
    K.POWER_OFF: Workflow(
        ("power_off", "await_power_off"),
        frozenset({S.ACTIVE}),
        S.POWERING_OFF,
        S.INACTIVE,
        S.ACTIVE,
    ),
    K.REBOOT: Workflow(("reboot",), frozenset({S.ACTIVE}), S.ACTIVE, S.ACTIVE, S.ACTIVE),
    K.RESCUE: Workflow(
        ("set_boot_pxe", "power_cycle", "await_agent"),
        frozenset({S.ACTIVE}),
        S.ACTIVE,
        S.ACTIVE,
        S.ACTIVE,
    ),
    # Waiting for the BMC to say "off" also records it: the machine goes back to the pool
    # showing the power state it is really in.
    K.DEPROVISION: Workflow(
        ("set_boot_pxe", "power_cycle", "await_agent", "power_off", "await_power_off", "release"),
        frozenset(set(S.values) - {S.DELETED, S.DEPROVISIONING}),
        S.DEPROVISIONING,
        S.DELETED,
        S.DELETED,
        fills_bar=True,
    ),
}

# Steps that wait for the machine itself (boot endpoints or the reconciler move them on).
WAITING_STEPS = frozenset({"await_agent", "await_phone_home"})

# Human words for the progress bar / current step.
STEP_LABELS = {
    "set_boot_pxe": "Setting network boot",
    "set_boot_disk": "Setting disk boot",
    "power_cycle": "Power cycling",
    "power_on": "Powering on",
    "power_off": "Powering off",
    "await_power_on": "Waiting for power on",
    "await_power_off": "Waiting for power off",
    "await_agent": "Running the installer",
    "await_phone_home": "Booting the operating system",
    "reboot": "Rebooting",
    "release": "Returning the hardware",
}
