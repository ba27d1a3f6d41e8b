"""The provisioning network's DHCP server, as the rack's servers meet it: each boot, a server
asks for the address reserved for its MACs and talks from it (or, with none, cannot boot over
the network). The portal assigns the addresses; the rack never picks one.

The reservations come from `load` (MAC → address), reread at most every `refresh` seconds, as
dnsmasq rereads the hosts file the portal generates (`manage.py dhcp_config --hosts`).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Dhcp:
    """Reserved addresses by MAC, from `load`; only loopback ones are served (nothing the rack
    sends leaves 127.0.0.0/8)."""

    def __init__(self, load: Callable[[], dict[str, str]], refresh: float = 1.0) -> None:
        self._load = load
        self._refresh = refresh
        self._lock = threading.Lock()
        self._table: dict[str, str] = {}
        self._loaded_at: float | None = None

    def lease(self, macs: tuple[str, ...]) -> str | None:
        """The address reserved for any of these MACs, or None (no offer)."""
        with self._lock:
            now = time.monotonic()
            if self._loaded_at is None or now - self._loaded_at >= self._refresh:
                try:
                    self._table = {mac.lower(): address for mac, address in self._load().items()}
                except Exception:
                    # A DHCP server that cannot read its table keeps serving the one it had.
                    logger.exception("the rack's DHCP could not read its reservations")
                self._loaded_at = now
            address = next((self._table[m] for m in macs if m.lower() in self._table), None)
        if address is not None and not ipaddress.ip_address(address).is_loopback:
            logger.warning("not serving %s to %s: the rack only talks from loopback", address, macs)
            return None
        return address


def static(table: dict[str, str]) -> Dhcp:
    """A DHCP server with a fixed table (tests that stand in for the portal)."""
    return Dhcp(lambda: dict(table), refresh=0.0)


def from_portal_database() -> dict[str, str]:
    """The portal's reservations, read from its database (the rack runs beside it, in
    `manage.py virtual_rack` and the benchmarks). The rack's threads are not Django's, so the
    connection is closed again rather than left open per thread."""
    from django.db import connection

    from inventory import dhcp

    try:
        return dhcp.leases()
    finally:
        connection.close()
