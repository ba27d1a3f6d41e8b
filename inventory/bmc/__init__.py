"""Drivers for baseboard management controllers: Redfish (sushy) and IPMI (pyghmi).

`driver_for(endpoint)` returns a `BmcDriver` for one BMC. Drivers connect lazily and raise
`BmcTransientError` (retry with back-off) or `BmcPermanentError` (fail now); both carry the
BMC's raw answer in `.raw` for operators.

A driver instance is not thread-safe: use one per thread (or per Celery prefork process).
Keeping one command in flight per BMC is the task layer's job, not the driver's.
"""

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

__all__ = [
    "BmcAuthError",
    "BmcDriver",
    "BmcEndpoint",
    "BmcError",
    "BmcNotFoundError",
    "BmcPermanentError",
    "BmcTlsError",
    "BmcTransientError",
    "BmcUnsupportedError",
    "BootDevice",
    "BootOverride",
    "Disk",
    "Inventory",
    "Nic",
    "PowerState",
    "RawAnswer",
    "driver_for",
]


def driver_for(endpoint: BmcEndpoint) -> BmcDriver:
    """Build the driver matching endpoint.driver ("redfish" or "ipmi")."""
    # Imported here so that using one protocol does not import the other's library.
    if endpoint.driver == "redfish":
        from inventory.bmc.redfish import RedfishDriver

        return RedfishDriver(endpoint)
    if endpoint.driver == "ipmi":
        from inventory.bmc.ipmi import IpmiDriver

        return IpmiDriver(endpoint)
    raise ValueError(f"unknown BMC driver {endpoint.driver!r}; expected 'redfish' or 'ipmi'")
