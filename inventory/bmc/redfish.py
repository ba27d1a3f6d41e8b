"""Redfish driver built on sushy, with sushy's errors mapped to BmcError classes."""

from __future__ import annotations

import json
import ssl
from typing import NoReturn

import requests
import sushy
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc

from inventory.bmc.base import (
    BmcAuthError,
    BmcDriver,
    BmcEndpoint,
    BmcError,
    BmcNotFoundError,
    BmcPermanentError,
    BmcTlsError,
    BmcTransientError,
    BmcUnsupportedError,
    BootDevice,
    BootOverride,
    Disk,
    Inventory,
    Nic,
    PowerState,
    RawAnswer,
)

_TO_REDFISH_BOOT = {
    BootDevice.PXE: sushy.BOOT_SOURCE_TARGET_PXE,
    BootDevice.DISK: sushy.BOOT_SOURCE_TARGET_HDD,
    BootDevice.CD: sushy.BOOT_SOURCE_TARGET_CD,
    BootDevice.BIOS: sushy.BOOT_SOURCE_TARGET_BIOS_SETUP,
}
_FROM_REDFISH_BOOT = {target: device for device, target in _TO_REDFISH_BOOT.items()}

_POWER = {sushy.POWER_STATE_ON: PowerState.ON, sushy.POWER_STATE_OFF: PowerState.OFF}

# 409 is what BMCs answer for "not in the present state"; 405/501 for "never".
_UNSUPPORTED_STATUSES = {400, 405, 409, 501}
# Rate limiting and gateway trouble clear up by themselves.
_TRANSIENT_STATUSES = {408, 429}


def _body_text(error: sushy_exc.HTTPError) -> str:
    """The error body sushy parsed, back as text for the operator."""
    if isinstance(error.body, dict | list):
        return json.dumps(error.body)
    return str(error.body or "")


def _find_cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """Walk the exception chain (sushy wraps requests' errors) looking for kind."""
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _translate(error: Exception, address: str) -> BmcError:
    """Map a sushy (or requests) exception to the BmcError class callers act on."""
    if isinstance(error, sushy_exc.HTTPError):
        status = error.status_code
        raw = RawAnswer.http(status, _body_text(error), error.message)
        where = f"BMC {address} answered HTTP {status}"
        if isinstance(error, sushy_exc.AccessError):
            return BmcAuthError(f"{where}: credentials refused ({error.detail or ''})", raw=raw)
        if isinstance(error, sushy_exc.ResourceNotFoundError):
            return BmcNotFoundError(f"{where}: {error.message}", raw=raw)
        if status in _UNSUPPORTED_STATUSES:
            return BmcUnsupportedError(f"{where}: action refused: {error.detail}", raw=raw)
        if status is not None and (status >= 500 or status in _TRANSIENT_STATUSES):
            return BmcTransientError(f"{where}: {error.detail}", raw=raw)
        return BmcPermanentError(f"{where}: {error.detail}", raw=raw)
    if isinstance(error, sushy_exc.ConnectionError | requests.RequestException):
        raw = RawAnswer(message=str(error))
        if _find_cause(error, requests.exceptions.SSLError) or _find_cause(error, ssl.SSLError):
            return BmcTlsError(
                f"TLS verification failed for BMC {address}: give its CA bundle, or turn off "
                f"certificate verification for this BMC if you accept the risk ({error})",
                raw=raw,
            )
        return BmcTransientError(f"BMC {address} unreachable: {error}", raw=raw)
    if isinstance(error, sushy_exc.MissingActionError | sushy_exc.InvalidParameterValueError):
        return BmcUnsupportedError(f"BMC {address}: {error}", raw=RawAnswer(message=str(error)))
    return BmcPermanentError(
        f"BMC {address}: unexpected answer: {error}", raw=RawAnswer(message=str(error))
    )


class RedfishService:
    """A connection to one Redfish service: sushy's connector, its session (or Basic) auth and
    the service root, made on first use. Every system the service manages can share one: a
    chassis manager or an emulator serves many systems at one address (a server's own BMC, one).
    """

    def __init__(self, endpoint: BmcEndpoint) -> None:
        self.endpoint = endpoint
        self._root: sushy.Sushy | None = None
        self._auth: sushy_auth.SessionOrBasicAuth | None = None
        self._conn: sushy_connector.Connector | None = None

    @staticmethod
    def key(endpoint: BmcEndpoint) -> tuple:
        """What two endpoints must have in common to share a service: all but the system."""
        return (
            endpoint.address.rstrip("/"),
            endpoint.username,
            endpoint.password,
            endpoint.verify_tls,
            endpoint.ca_bundle,
            endpoint.timeout,
        )

    def root(self) -> sushy.Sushy:
        if self._root is None:
            ep = self.endpoint
            verify: bool | str = ep.ca_bundle if ep.ca_bundle else ep.verify_tls
            url = ep.address.rstrip("/")
            # Our own connector and auth objects, so that close() can end both cleanly.
            self._conn = sushy_connector.Connector(
                url,
                verify=verify,
                default_request_timeout=ep.timeout,
                connect_timeout=ep.timeout,
                # One immediate library retry at most: back-off belongs to the task layer,
                # and sushy's default (10 retries, 3 s apart) would hide a dead BMC for 30 s.
                server_side_retries=1,
                server_side_retries_delay=0,
            )
            self._auth = sushy_auth.SessionOrBasicAuth(username=ep.username, password=ep.password)
            try:
                self._root = sushy.Sushy(url, auth=self._auth, connector=self._conn, verify=verify)
            except (sushy_exc.SushyError, requests.RequestException) as error:
                self.close()
                raise _translate(error, ep.address) from error
        return self._root

    def close(self) -> None:
        """End the session; the service may be used again afterwards."""
        auth, conn = self._auth, self._conn
        self._root = self._auth = self._conn = None
        try:
            if auth is not None:
                auth.close()  # deletes the Redfish session, if one was created
        except (sushy_exc.SushyError, requests.RequestException):
            pass  # closing a session on a BMC that went away is not an error
        finally:
            if conn is not None:
                conn.close()


class RedfishDriver(BmcDriver):
    """A Redfish system driven through sushy, on a service of its own or a shared one (whose
    owner closes it); connects lazily on first use."""

    def __init__(self, endpoint: BmcEndpoint, service: RedfishService | None = None) -> None:
        super().__init__(endpoint)
        self._owns_service = service is None
        self._service = service or RedfishService(endpoint)
        self._system_path: str | None = None
        # The system resource as last read in this session: its action targets, allowed
        # values and boot settings layout do not change, its power state does.
        self._system_resource: sushy.resources.system.system.System | None = None

    # -- plumbing -------------------------------------------------------------------------

    def _fail(self, error: Exception) -> NoReturn:
        raise _translate(error, self.endpoint.address) from error

    def _connect(self) -> sushy.Sushy:
        return self._service.root()

    def _discover_system_path(self, root: sushy.Sushy) -> str:
        wanted = self.endpoint.system_id
        if wanted:
            if wanted.startswith("/"):
                return wanted
            # The service root names the systems collection: no need to fetch it for its path.
            systems = (root.json.get("Systems") or {}).get("@odata.id")
            collection = systems or root.get_system_collection().path
            return f"{collection.rstrip('/')}/{wanted}"
        members = sorted(root.get_system_collection().members_identities)
        if len(members) == 1:
            return members[0]
        if not members:
            raise BmcNotFoundError(f"BMC {self.endpoint.address} lists no systems under /Systems")
        names = ", ".join(path.rstrip("/").rsplit("/", 1)[-1] for path in members)
        raise BmcPermanentError(
            f"BMC {self.endpoint.address} manages {len(members)} systems; "
            f"set the system id to one of: {names}"
        )

    def _system(self, *, fresh: bool = True) -> sushy.resources.system.system.System:
        """The system resource; read again unless `fresh` is False, for actions that use only
        what does not change (action targets, allowed values: setting the boot device reads
        the resource's ETag again itself before it patches)."""
        root = self._connect()
        try:
            if self._system_path is None:
                self._system_path = self._discover_system_path(root)
            if self._system_resource is None:
                self._system_resource = root.get_system(self._system_path)
            elif fresh:
                self._system_resource.refresh()
            return self._system_resource
        except BmcError:
            raise
        except (sushy_exc.SushyError, requests.RequestException) as error:
            self._fail(error)

    def _call(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (sushy_exc.SushyError, requests.RequestException) as error:
            self._fail(error)

    # -- BmcDriver --------------------------------------------------------------------------

    def power_state(self) -> PowerState:
        """Read the current power state."""
        return _POWER.get(self._system().power_state, PowerState.UNKNOWN)

    def power_on(self) -> None:
        """Switch the system on (no-op if already on)."""
        system = self._system()
        if system.power_state != sushy.POWER_STATE_ON:
            self._call(system.reset_system, sushy.RESET_ON)

    def power_off(self, force: bool) -> None:
        """Switch the system off: ACPI shutdown, or cut power when force is set."""
        system = self._system()
        if system.power_state != sushy.POWER_STATE_OFF:
            reset = sushy.RESET_FORCE_OFF if force else sushy.RESET_GRACEFUL_SHUTDOWN
            self._call(system.reset_system, reset)

    def reset(self, force: bool) -> None:
        """Reboot the system: graceful restart, or hard reset when force is set."""
        reset = sushy.RESET_FORCE_RESTART if force else sushy.RESET_GRACEFUL_RESTART
        self._call(self._system(fresh=False).reset_system, reset)

    def power_cycle(self) -> None:
        """A hard reset if the system is on, power on if it is off (one read of the system)."""
        system = self._system()
        on = system.power_state == sushy.POWER_STATE_ON
        self._call(system.reset_system, sushy.RESET_FORCE_RESTART if on else sushy.RESET_ON)

    def set_boot_device(self, device: BootDevice, persistent: bool) -> None:
        """Boot from device on the next boot only, or on every boot when persistent."""
        system = self._system(fresh=False)
        enabled = (
            sushy.BOOT_SOURCE_ENABLED_CONTINUOUS if persistent else sushy.BOOT_SOURCE_ENABLED_ONCE
        )
        self._call(system.set_system_boot_options, target=_TO_REDFISH_BOOT[device], enabled=enabled)

    def boot_device(self) -> BootOverride:
        """Read the boot override the BMC will apply."""
        boot = self._system().boot
        if boot.enabled in (None, sushy.BOOT_SOURCE_ENABLED_DISABLED):
            return BootOverride(device=None, persistent=False)
        return BootOverride(
            device=_FROM_REDFISH_BOOT.get(boot.target),
            persistent=boot.enabled == sushy.BOOT_SOURCE_ENABLED_CONTINUOUS,
        )

    def inventory(self) -> Inventory:
        """Read the hardware inventory the BMC knows about."""
        system = self._system()
        cpu_count, cpu_model, cores, threads = self._processors(system)
        return Inventory(
            system_id=system.identity,
            uuid=system.uuid,
            serial_number=system.serial_number,
            manufacturer=system.manufacturer,
            model=system.model,
            cpu_count=cpu_count,
            cpu_model=cpu_model,
            cpu_cores=cores,
            cpu_threads=threads,
            memory_gib=system.memory_summary.size_gib if system.memory_summary else None,
            nics=self._nics(system),
            disks=self._disks(system),
        )

    def close(self) -> None:
        """Release the session (unless the service is shared); the driver may be used again
        afterwards."""
        self._system_resource = None
        if self._owns_service:
            self._service.close()

    # -- inventory helpers ------------------------------------------------------------------

    def _processors(self, system) -> tuple[int | None, str | None, int | None, int | None]:
        summary = (system.json or {}).get("ProcessorSummary") or {}
        try:
            members = self._call(lambda: system.processors.get_members())
        except BmcError:
            # Many BMCs (and stock sushy-tools) omit Processors or cannot serve it.
            members = []
        cpus = [p for p in members if p.processor_type in (None, sushy.PROCESSOR_TYPE_CPU)]
        count = summary.get("Count") or (len(cpus) if cpus else None)
        model = summary.get("Model") or next((p.model for p in cpus if p.model), None)
        cores = sum(p.total_cores for p in cpus if p.total_cores) or None
        threads = sum(p.total_threads for p in cpus if p.total_threads) or None
        return count, model, cores, threads

    def _nics(self, system) -> tuple[Nic, ...]:
        try:
            members = self._call(lambda: system.ethernet_interfaces.get_members())
        except BmcError:
            return ()
        return tuple(
            Nic(id=nic.identity, mac=(nic.permanent_mac_address or nic.mac_address).lower())
            for nic in members
            if nic.permanent_mac_address or nic.mac_address
        )

    def _disks(self, system) -> tuple[Disk, ...]:
        # SimpleStorage first (flat device list), then Storage/Drives; either may be absent.
        try:
            controllers = self._call(lambda: system.simple_storage.get_members())
            return tuple(
                Disk(name=device.name, size_bytes=device.capacity_bytes)
                for controller in controllers
                for device in controller.devices
            )
        except BmcError:
            pass
        try:
            return self._call(
                lambda: tuple(
                    Disk(name=drive.name or drive.identity, size_bytes=drive.capacity_bytes)
                    for storage in system.storage.get_members()
                    for drive in storage.drives
                )
            )
        except BmcError:
            return ()
