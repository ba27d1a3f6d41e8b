"""The portal's BMC driver in a child process, as a Celery prefork worker runs it.

pyghmi's client and its server side share one per-process event loop, and a client in the same
process as the rack's IPMI BMCs stalls now and then. The portal never runs them together (the
rack is its own process), so the tests do not either: IPMI drivers run in a child process.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

from inventory.bmc import BmcEndpoint, driver_for


def _serve(connection, endpoint: BmcEndpoint) -> None:
    driver = driver_for(endpoint)
    while True:
        request = connection.recv()
        if request is None:
            driver.close()
            return
        name, args, kwargs = request
        try:
            connection.send((True, getattr(driver, name)(*args, **kwargs)))
        except Exception as error:
            connection.send((False, error))


class RemoteDriver:
    """Proxy for a BmcDriver living in a child process; same methods, same exceptions."""

    def __init__(self, endpoint: BmcEndpoint) -> None:
        self.endpoint = endpoint
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, endpoint), daemon=True)
        self._process.start()

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self._connection.send((name, args, kwargs))
            ok, value = self._connection.recv()
            if not ok:
                raise value
            return value

        return call

    def close(self) -> None:
        """Close the driver and end the child process."""
        if self._process.is_alive():
            self._connection.send(None)
            self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
