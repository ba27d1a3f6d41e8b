"""The BMC driver interface, its value types and its error classes."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Literal

# Operators read the raw answer in the UI; a whole HTML error page is noise.
BODY_EXCERPT_CHARS = 2000


class PowerState(enum.StrEnum):
    """Power state as reported by the BMC."""

    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


class BootDevice(enum.StrEnum):
    """Boot devices every supported BMC protocol can select."""

    PXE = "pxe"
    DISK = "disk"
    CD = "cd"
    BIOS = "bios"


@dataclass(frozen=True)
class BmcEndpoint:
    """How to reach one BMC: protocol, address, credentials and TLS policy."""

    driver: Literal["redfish", "ipmi"]
    # Redfish: a base URL (https://10.0.0.5, http://127.0.0.1:8000); IPMI: host[:port].
    address: str
    username: str
    password: str = field(repr=False)
    # Redfish only; discovered when /Systems has exactly one member.
    system_id: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class BootOverride:
    """The boot device the BMC will use; device None means no override is set."""

    device: BootDevice | None
    persistent: bool


@dataclass(frozen=True)
class Nic:
    """A network interface of the managed system."""

    id: str
    mac: str


@dataclass(frozen=True)
class Disk:
    """A disk of the managed system, as far as the BMC reports one."""

    name: str
    size_bytes: int | None


@dataclass(frozen=True)
class Inventory:
    """Hardware facts read from the BMC; None where the BMC does not say."""

    system_id: str | None
    uuid: str | None
    serial_number: str | None
    manufacturer: str | None
    model: str | None
    cpu_count: int | None  # sockets
    cpu_model: str | None
    cpu_cores: int | None  # physical cores, all sockets together
    cpu_threads: int | None  # hardware threads, all sockets together
    memory_gib: int | None
    nics: tuple[Nic, ...] = ()
    disks: tuple[Disk, ...] = ()


@dataclass(frozen=True)
class RawAnswer:
    """What the BMC actually said, kept verbatim for operators."""

    status_code: int | None = None  # HTTP status (Redfish)
    body: str = ""  # response body excerpt (Redfish)
    completion_code: int | None = None  # IPMI completion code
    message: str = ""  # library or BMC message

    @classmethod
    def http(cls, status_code: int | None, body: str, message: str = "") -> RawAnswer:
        """Build an answer from an HTTP response, cutting the body to an excerpt."""
        return cls(status_code=status_code, body=body[:BODY_EXCERPT_CHARS], message=message)


class BmcError(Exception):
    """A BMC operation failed; `raw` holds the BMC's own answer."""

    transient = False

    def __init__(self, message: str, *, raw: RawAnswer | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.raw = raw or RawAnswer(message=message)


class BmcTransientError(BmcError):
    """Worth retrying with back-off: timeouts, refused connections, 5xx, lost sessions."""

    transient = True


class BmcPermanentError(BmcError):
    """Retrying will not help until someone changes the configuration or the request."""


class BmcAuthError(BmcPermanentError):
    """The BMC refused the credentials."""


class BmcNotFoundError(BmcPermanentError):
    """The system (or another resource) does not exist on this BMC."""


class BmcUnsupportedError(BmcPermanentError):
    """The BMC refuses the action, or does not support it in the present state."""


class BmcTlsError(BmcPermanentError):
    """The BMC's TLS certificate could not be verified."""


class BmcDriver(abc.ABC):
    """One BMC, one managed system. Not thread-safe: use one instance per thread."""

    def __init__(self, endpoint: BmcEndpoint) -> None:
        self.endpoint = endpoint

    @abc.abstractmethod
    def power_state(self) -> PowerState:
        """Read the current power state."""

    @abc.abstractmethod
    def power_on(self) -> None:
        """Switch the system on (no-op if already on)."""

    @abc.abstractmethod
    def power_off(self, force: bool) -> None:
        """Switch the system off: ACPI shutdown, or cut power when force is set."""

    @abc.abstractmethod
    def reset(self, force: bool) -> None:
        """Reboot the system: graceful restart, or hard reset when force is set."""

    def power_cycle(self) -> None:
        """Make the system boot afresh: a hard reset if it is on, power on if it is off.
        Drivers override this to read the power state once instead of twice."""
        if self.power_state() == PowerState.ON:
            self.reset(force=True)
        else:
            self.power_on()

    @abc.abstractmethod
    def set_boot_device(self, device: BootDevice, persistent: bool) -> None:
        """Boot from device on the next boot only, or on every boot when persistent."""

    @abc.abstractmethod
    def boot_device(self) -> BootOverride:
        """Read the boot override the BMC will apply."""

    @abc.abstractmethod
    def inventory(self) -> Inventory:
        """Read the hardware inventory the BMC knows about."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the session; the driver may be used again afterwards."""

    def __enter__(self) -> BmcDriver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
