"""One simulated server: power, boot override, installed OS, disks, and what it did in-band."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from provisioning.virtualrack.config import ServerSpec

if TYPE_CHECKING:
    from provisioning.virtualrack.rack import VirtualRack
    from provisioning.virtualrack.scheduler import Handle

ON, OFF = "on", "off"
BOOT_DEVICES = ("pxe", "disk", "cd", "bios")


@dataclass(frozen=True)
class InbandRequest:
    """One HTTP request the server made from its own address, and how it ended."""

    at: float  # time.monotonic()
    method: str
    url: str
    source: str
    status: int | None  # None: no HTTP answer (refused, timed out)
    body: Any = None  # the JSON (or text) the server sent
    error: str | None = None

    @property
    def path(self) -> str:
        """The URL's path, without host or query."""
        return urlsplit(self.url).path


@dataclass(frozen=True)
class Event:
    """A state change worth telling an operator or a test about."""

    at: float
    kind: str  # power, boot, environment, os, fault
    detail: dict = field(default_factory=dict)


class Server:
    """A simulated server's state machine. Thread-safe: BMC handlers and in-band work share it."""

    def __init__(self, spec: ServerSpec, rack: VirtualRack) -> None:
        self.spec = spec
        self.rack = rack
        self.lock = threading.RLock()
        self.power = OFF
        self._pending: tuple[str, Handle] | None = None
        self.boot_target: str | None = None  # override device; None: firmware order (disk)
        self.boot_persistent = False
        self.os: dict | None = None  # what write_image installed, plus configure's settings
        self.first_booted = False  # has the installed OS run its first boot (phone-home)?
        self.disks_wiped = False  # nobody knows what a new server's disks hold
        self.environment = OFF  # what runs now: off, firmware, agent, agent-done, os, rescue, …
        self.generation = 0  # bumped on every boot and power-off; stale in-band work checks it
        self.boots = 0
        self.custom_ipxe: str | None = None  # the URL a custom iPXE boot chained to
        # What DHCP gave it at its last boot: the address its in-band traffic comes from.
        self.address: str | None = None
        self.history: list[InbandRequest] = []
        self.events: list[Event] = []

    @property
    def name(self) -> str:
        """The server's name (node01, node02, …)."""
        return self.spec.name

    def __repr__(self) -> str:
        return f"<Server {self.name} {self.power} {self.environment}>"

    # -- power (called by the BMC front-ends) -------------------------------------------------

    def power_target(self) -> str:
        """The power state the server is on its way to (or in, when nothing is pending)."""
        with self.lock:
            return self._pending[0] if self._pending else self.power

    def request_power(self, state: str, reason: str) -> None:
        """Switch power to state after the rack's power delay (no-op if already headed there)."""
        with self.lock:
            if self.power_target() == state:
                return
            self._cancel_pending()
            if self.power != state:
                delay = self.rack.config.power_delay
                if delay <= 0:
                    self._apply_power(state, reason)
                else:
                    handle = self.rack.scheduler.call_later(delay, self._settle, state, reason)
                    self._pending = (state, handle)
            # else: a change still pending was called off
        self.rack.changed()

    def reset(self, reason: str) -> bool:
        """Reboot a running server now; False (and nothing done) when it is off."""
        with self.lock:
            if self.power != ON:
                return False
            self._cancel_pending()
            self._event("power", {"action": reason})
            self._boot()
        self.rack.changed()
        return True

    def reboot(self, generation: int, reason: str) -> bool:
        """The running system restarts the server itself (in-band), if the boot that asks is
        still the one running; the firmware then boots as the boot settings say."""
        with self.lock:
            if self.generation != generation or self.power != ON:
                return False
            self._event("power", {"action": reason})
            self._boot()
        self.rack.changed()
        return True

    def _cancel_pending(self) -> None:
        if self._pending:
            self._pending[1].cancel()
            self._pending = None

    def _settle(self, state: str, reason: str) -> None:
        with self.lock:
            if not self._pending or self._pending[0] != state:
                return  # superseded by a later request
            self._pending = None
            self._apply_power(state, reason)
        self.rack.changed()

    def _apply_power(self, state: str, reason: str) -> None:
        self.power = state
        self._event("power", {"action": reason, "state": state})
        if state == ON:
            self._boot()
        else:
            self._power_off()

    def _power_off(self) -> None:
        self.generation += 1  # whatever ran in-band stops here
        self.environment = OFF

    def _pick_boot_device(self) -> str:
        """Firmware starts: the boot device, using up a one-time override."""
        self.generation += 1
        self.boots += 1
        device = self.boot_target or "disk"
        if self.boot_target and not self.boot_persistent:
            self.boot_target = None
        self._event("boot", {"device": device, "boot": self.boots})
        return device

    def _boot(self) -> None:
        """Firmware starts: pick the boot device, then POST."""
        device = self._pick_boot_device()
        if self.rack.fault_active(self, "dead"):
            self.environment = "dead"
            self._event("environment", {"environment": "dead"})
            return
        self.environment = "firmware"
        generation = self.generation
        self.rack.scheduler.call_later(
            self.rack.config.boot_delay, self.rack.inband.boot, self, generation, device
        )

    # -- boot override (called by the BMC front-ends) -----------------------------------------

    def set_boot(self, device: str | None, persistent: bool) -> None:
        """Set the boot override (device None clears it)."""
        if device is not None and device not in BOOT_DEVICES:
            raise ValueError(f"unknown boot device {device!r}")
        with self.lock:
            self.boot_target = device
            self.boot_persistent = persistent if device else False
        self.rack.changed()

    # -- in-band side (called by the in-band runner) ------------------------------------------

    def alive(self, generation: int) -> bool:
        """Is the boot that started with this generation still running?"""
        return self.generation == generation and not self.rack.stopped

    def update(self, generation: int, **changes: Any) -> bool:
        """Apply changes (environment, os, first_booted, …) if that boot is still running."""
        with self.lock:
            if self.generation != generation:
                return False
            for key, value in changes.items():
                if getattr(self, key) != value and key in ("environment", "os"):
                    self._event(key, {key: value})
                setattr(self, key, value)
        self.rack.changed()
        return True

    def record(self, request: InbandRequest) -> None:
        """Remember an in-band request."""
        with self.lock:
            self.history.append(request)
        self.rack.changed()

    def _event(self, kind: str, detail: dict) -> None:
        self.events.append(Event(time.monotonic(), kind, detail))

    # -- persistence ----------------------------------------------------------------------------

    def snapshot(self) -> dict:
        """The state worth keeping across restarts of the rack, as JSON-able data."""
        with self.lock:
            return {
                "power": self.power_target(),
                "boot_target": self.boot_target,
                "boot_persistent": self.boot_persistent,
                "os": self.os,
                "first_booted": self.first_booted,
                "disks_wiped": self.disks_wiped,
            }

    def restore(self, state: dict) -> None:
        """Take back a snapshot; a server that was on comes back on and boots again."""
        with self.lock:
            self.boot_target = state.get("boot_target")
            self.boot_persistent = bool(state.get("boot_persistent"))
            self.os = state.get("os")
            self.first_booted = bool(state.get("first_booted"))
            self.disks_wiped = bool(state.get("disks_wiped"))
        if state.get("power") == ON:
            self.request_power(ON, "restored")

    def status(self) -> dict:
        """A JSON-able summary of the server's current state."""
        with self.lock:
            return {
                "name": self.name,
                "power": self.power,
                "power_target": self.power_target(),
                "boot_target": self.boot_target,
                "boot_persistent": self.boot_persistent,
                "environment": self.environment,
                "os": self.os,
                "first_booted": self.first_booted,
                "disks_wiped": self.disks_wiped,
                "boots": self.boots,
                "custom_ipxe": self.custom_ipxe,
                "address": self.address,
            }
