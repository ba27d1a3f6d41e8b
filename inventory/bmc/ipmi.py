"""IPMI 2.0 (RMCP+) driver built on pyghmi's client, with failures mapped to BmcError classes."""

from __future__ import annotations

import contextlib
import uuid

from pyghmi import exceptions as pyghmi_exc
from pyghmi.ipmi import fru
from pyghmi.ipmi.command import Command
from pyghmi.ipmi.private import constants, util

from inventory.bmc import pyghmi_io
from inventory.bmc.base import (
    BmcAuthError,
    BmcDriver,
    BmcEndpoint,
    BmcError,
    BmcPermanentError,
    BmcTransientError,
    BmcUnsupportedError,
    BootDevice,
    BootOverride,
    Inventory,
    PowerState,
    RawAnswer,
)

DEFAULT_PORT = 623

pyghmi_io.install()

# Chassis control directives (IPMI 2.0 §28.3).
_POWER_DOWN, _POWER_UP, _HARD_RESET, _SOFT_SHUTDOWN = 0x0, 0x1, 0x3, 0x5
# Boot flags device selectors, bits 5:2 of boot flags data 2 (IPMI 2.0 table 28-14).
_TO_IPMI_BOOT = {
    BootDevice.PXE: 0x1,
    BootDevice.DISK: 0x2,
    BootDevice.CD: 0x5,
    BootDevice.BIOS: 0x6,
}
_FROM_IPMI_BOOT = {code: device for device, code in _TO_IPMI_BOOT.items()} | {
    0x3: BootDevice.DISK  # "hard drive, safe mode"
}

_MESSAGE_TO_CODE = {text.lower(): code for code, text in constants.ipmi_completion_codes.items()}
# Completion codes that say "later" rather than "never".
_TRANSIENT_CODES = {0xC0, 0xC3, 0xCE, 0xFF, 0xFFFF}  # busy, timeout, no response, unspecified
_AUTH_CODES = {0xD4}  # insufficient privilege level
_AUTH_MARKERS = ("password", "unauthorized name", "unauthorized role", "privilege", "wrong kg")
_TRANSIENT_MARKERS = (
    "timeout",
    "timed out",
    "session",
    "disconnected",
    "insufficient resources",
    "unable to establish",
)


def parse_address(address: str) -> tuple[str, int]:
    """Split "host", "host:port", "[v6]" or "[v6]:port" into host and port."""
    try:
        return _split_address(address)
    except ValueError:
        raise ValueError(f"bad IPMI address {address!r}: expected host[:port]") from None


def _split_address(address: str) -> tuple[str, int]:
    host, port = address.strip(), DEFAULT_PORT
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ValueError(f"bad IPMI address {address!r}: missing ']'")
        rest, host = host[end + 1 :], host[1:end]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad IPMI address {address!r}")
            port = int(rest[1:])
    elif host.count(":") == 1:
        host, port_text = host.split(":")
        port = int(port_text)
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad IPMI address {address!r}")
    return host, port


def classify(message: str, code: int | None, address: str) -> BmcError:
    """Turn a pyghmi error message (and completion code, when known) into a BmcError."""
    if message in ("", "None"):
        # pyghmi gives up a login without a word when nothing answers (about 5 s).
        return BmcTransientError(
            f"IPMI BMC {address} did not answer (no RMCP+ reply within pyghmi's login timeout)",
            raw=RawAnswer(completion_code=code or None, message=message),
        )
    lowered = message.lower()
    if not code:
        code = _MESSAGE_TO_CODE.get(lowered)
    raw = RawAnswer(completion_code=code, message=message)
    where = f"IPMI BMC {address}"
    if code in _AUTH_CODES or any(marker in lowered for marker in _AUTH_MARKERS):
        return BmcAuthError(f"{where} refused the credentials: {message}", raw=raw)
    if code in _TRANSIENT_CODES or any(marker in lowered for marker in _TRANSIENT_MARKERS):
        return BmcTransientError(f"{where}: {message}", raw=raw)
    if code is not None:
        return BmcUnsupportedError(f"{where} refused the command: {message}", raw=raw)
    return BmcPermanentError(f"{where}: {message}", raw=raw)


class IpmiDriver(BmcDriver):
    """An IPMI BMC driven through pyghmi; logs in lazily, keeps one session per instance.

    Timeouts are pyghmi's own (a login to a silent BMC gives up after about 5 s);
    `endpoint.timeout` is not applied, and `verify_tls`, `ca_bundle`, `system_id` do not apply.

    pyghmi sessions must never be shared across threads (its event loop is per process and
    not thread-safe), so neither may instances of this class.
    """

    def __init__(self, endpoint: BmcEndpoint) -> None:
        super().__init__(endpoint)
        self.host, self.port = parse_address(endpoint.address)
        self._command: Command | None = None

    # -- plumbing -------------------------------------------------------------------------

    def _session(self) -> Command:
        if self._command is None:
            ep = self.endpoint
            try:
                # Bytes, not str: with str credentials pyghmi 1.6.19 keys its session cache
                # inconsistently and a second login to the same BMC hangs forever.
                self._command = Command(
                    bmc=self.host,
                    userid=ep.username.encode(),
                    password=ep.password.encode(),
                    port=self.port,
                )
            except pyghmi_exc.IpmiException as error:
                raise classify(str(error), error.ipmicode, ep.address) from error
            except OSError as error:
                raise BmcTransientError(
                    f"IPMI BMC {ep.address} unreachable: {error}",
                    raw=RawAnswer(message=str(error)),
                ) from error
        return self._command

    def _raw(self, netfn: int, command: int, data: tuple[int, ...] = ()) -> list[int]:
        try:
            response = self._session().raw_command(netfn=netfn, command=command, data=data)
        except pyghmi_exc.IpmiException as error:
            self._drop_session()
            raise classify(str(error), error.ipmicode, self.endpoint.address) from error
        except OSError as error:
            self._drop_session()
            raise BmcTransientError(
                f"IPMI BMC {self.endpoint.address}: {error}", raw=RawAnswer(message=str(error))
            ) from error
        if "error" in response:
            error = classify(response["error"], response.get("code"), self.endpoint.address)
            if isinstance(error, BmcTransientError):
                self._drop_session()  # a timed-out session is not worth keeping
            raise error
        return list(response.get("data", []))

    def _drop_session(self) -> None:
        command, self._command = self._command, None
        if command is not None:
            # If logout fails the session is already gone on the BMC side.
            with contextlib.suppress(pyghmi_exc.PyghmiException, OSError):
                command.ipmi_session.logout()

    # -- BmcDriver --------------------------------------------------------------------------

    def power_state(self) -> PowerState:
        """Read the current power state (Get Chassis Status)."""
        data = self._raw(0x00, 0x01)
        if not data:
            return PowerState.UNKNOWN
        return PowerState.ON if data[0] & 0x01 else PowerState.OFF

    def power_on(self) -> None:
        """Switch the system on (no-op if already on)."""
        if self.power_state() != PowerState.ON:
            self._raw(0x00, 0x02, (_POWER_UP,))

    def power_off(self, force: bool) -> None:
        """Switch the system off: ACPI soft shutdown, or power down when force is set."""
        if self.power_state() != PowerState.OFF:
            self._raw(0x00, 0x02, (_POWER_DOWN if force else _SOFT_SHUTDOWN,))

    def reset(self, force: bool) -> None:
        """Reboot the system. IPMI has no graceful reboot: both are a hard reset."""
        self._raw(0x00, 0x02, (_HARD_RESET,))

    def power_cycle(self) -> None:
        """A hard reset if the system is on, power up if it is off (one status read)."""
        on = self.power_state() == PowerState.ON
        self._raw(0x00, 0x02, (_HARD_RESET if on else _POWER_UP,))

    def set_boot_device(self, device: BootDevice, persistent: bool) -> None:
        """Boot from device on the next boot only, or on every boot when persistent."""
        # Some BMCs expire a one-time override after 60 s unless boot info is acknowledged.
        self._raw(0x00, 0x08, (0x03, 0x08))
        flags = 0x80 | (0x40 if persistent else 0)
        self._raw(0x00, 0x08, (0x05, flags, _TO_IPMI_BOOT[device] << 2, 0, 0, 0))

    def boot_device(self) -> BootOverride:
        """Read the boot override the BMC will apply (Get System Boot Options, parameter 5)."""
        data = self._raw(0x00, 0x09, (0x05, 0x00, 0x00))
        if len(data) < 4 or data[1] & 0x80 or not data[2] & 0x80:
            return BootOverride(device=None, persistent=False)
        device = _FROM_IPMI_BOOT.get((data[3] >> 2) & 0x0F)
        return BootOverride(device=device, persistent=bool(data[2] & 0x40))

    def inventory(self) -> Inventory:
        """Read GUID and FRU 0; IPMI knows nothing reliable about CPUs, memory or NICs."""
        guid = self._raw(0x06, 0x37)
        info = self._fru()
        return Inventory(
            system_id=None,
            uuid=_uuid(guid),
            serial_number=_text(info.get("Serial Number") or info.get("Board serial number")),
            manufacturer=_text(info.get("Manufacturer") or info.get("Board manufacturer")),
            model=_text(info.get("Product name") or info.get("Board product name")),
            cpu_count=None,
            cpu_model=None,
            cpu_cores=None,
            cpu_threads=None,
            memory_gib=None,
        )

    def close(self) -> None:
        """Log out; the driver logs in again if used afterwards."""
        self._drop_session()

    def _fru(self) -> dict:
        command = self._session()
        try:
            return fru.FRU(ipmicmd=command, fruid=0).info or {}
        except pyghmi_exc.IpmiException as error:
            failure = classify(str(error), error.ipmicode, self.endpoint.address)
            if isinstance(failure, BmcTransientError | BmcAuthError):
                raise failure from error
            return {}  # no FRU 0 on this BMC: inventory without those fields


def _uuid(guid: list[int]) -> str | None:
    """Get System GUID's mixed-endian wire format, as the lower-case text Redfish uses."""
    if len(guid) != 16:
        return None
    return str(uuid.UUID(util.decode_wireformat_uuid(bytearray(guid))))


def _text(value: object) -> str | None:
    """FRU fields come back as str, bytes or None; keep non-empty text only."""
    if isinstance(value, bytes | bytearray):
        value = value.decode("latin-1")
    return value.strip() or None if isinstance(value, str) else None
