"""BMC drivers kept between uses, for a worker that talks to the same machines again and again.

A machine's BMC is called on by one operation after another (a provision, power actions, a
reinstall, a deprovision, retries), each of which would otherwise log in to the BMC afresh
(service root, session, system lookup) for a command or two. A pool keeps one driver per
machine, reused only for the same endpoint (new credentials or a new address mean a new
login), dropped after any BMC error (it may be half broken) and closed once idle, well inside
the session timeouts BMCs enforce.

Redfish drivers whose endpoints differ only in the system share one `RedfishService`: one login
to a chassis manager or an emulator that serves many systems at one address. A service is
closed when its last driver is, and an error on any of its systems drops it with all of them
(the session may be what broke). A pool is not thread-safe: keep one per thread.
"""

import time
from collections.abc import Hashable

from inventory.bmc import BmcDriver, BmcEndpoint, driver_for
from inventory.bmc.redfish import RedfishDriver, RedfishService


def _service_key(endpoint: BmcEndpoint) -> tuple | None:
    return RedfishService.key(endpoint) if endpoint.driver == "redfish" else None


class DriverPool:
    def __init__(self) -> None:
        self.drivers: dict[Hashable, tuple[BmcDriver, BmcEndpoint, float]] = {}
        self.services: dict[tuple, RedfishService] = {}

    def take(self, key: Hashable, endpoint: BmcEndpoint) -> BmcDriver:
        """The driver kept under `key` if it is for `endpoint`, else a new one."""
        cached = self.drivers.get(key)
        if cached is not None and cached[1] == endpoint:
            driver = cached[0]
        else:
            self._close(key)
            driver = self._new(endpoint)
        self.drivers[key] = (driver, endpoint, time.monotonic())
        return driver

    def failed(self, key: Hashable) -> None:
        """A command through the driver under `key` raised a BMC error: close it, and with a
        Redfish one its service and every driver on that service."""
        cached = self.drivers.get(key)
        if cached is None:
            return
        service = _service_key(cached[1])
        for other, (_, endpoint, _) in list(self.drivers.items()):
            if other == key or (service is not None and _service_key(endpoint) == service):
                self._close(other)

    def close_idle(self, idle_seconds: float) -> None:
        """Close every driver unused for `idle_seconds` (0: all of them)."""
        limit = time.monotonic() - idle_seconds
        for key, (_, _, used) in list(self.drivers.items()):
            if used <= limit:
                self._close(key)

    def _new(self, endpoint: BmcEndpoint) -> BmcDriver:
        service_key = _service_key(endpoint)
        if service_key is None:
            return driver_for(endpoint)
        service = self.services.get(service_key)
        if service is None:
            service = self.services[service_key] = RedfishService(endpoint)
        return RedfishDriver(endpoint, service)

    def _close(self, key: Hashable) -> None:
        cached = self.drivers.pop(key, None)
        if cached is None:
            return
        driver, endpoint, _ = cached
        driver.close()
        service_key = _service_key(endpoint)
        still_used = any(_service_key(e) == service_key for _, e, _ in self.drivers.values())
        if service_key is not None and not still_used:
            self.services.pop(service_key).close()
