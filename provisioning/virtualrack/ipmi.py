"""IPMI BMCs for the rack's IPMI servers: inventory.bmc.emulators' pyghmi fake BMC, wired to
the rack's server state machine (power, boot override) and fault switches.

All IPMI BMCs of a process share pyghmi's one event loop, run here by one thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import pyghmi.ipmi.private.session as ipmisession

from inventory.bmc.emulators.ipmi_bmc import CC_NOT_IN_PRESENT_STATE, LabBmc, patch_pyghmi_server
from provisioning.virtualrack.server import OFF, ON, Server

if TYPE_CHECKING:
    from provisioning.virtualrack.rack import VirtualRack

logger = logging.getLogger(__name__)

CC_NODE_BUSY = 0xC0  # the IPMI answer closest to an HTTP 503
_TO_IPMI = {"pxe": "network", "disk": "hd", "cd": "optical", "bios": "setup"}
_FROM_IPMI = {v: k for k, v in _TO_IPMI.items()}


class _Credentials:
    """pyghmi's authdata (anything with .get(user)); a bad-password fault changes the answer."""

    def __init__(self, bmc: RackIpmiBmc, username: str, password: str) -> None:
        self.bmc, self.username, self.password = bmc, username, password

    def get(self, username: str, default: Any = None) -> Any:
        if username != self.username:
            return default
        if self.bmc.rack.fault_active(self.bmc.server, "bmc-bad-password"):
            return self.password + "-changed-by-fault"
        return self.password


class RackIpmiBmc(LabBmc):
    """LabBmc whose power and boot override are the rack server's, with fault switches."""

    def __init__(self, rack: VirtualRack, server: Server, address: str, port: int) -> None:
        self.rack, self.server = rack, server
        self._attached = False  # LabBmc.__init__ assigns boot fields; the server's stay as they are
        config = rack.config
        spec = server.spec
        super().__init__(
            {
                "name": spec.name,
                "address": address,
                "port": port,
                "username": config.bmc_username,
                "password": config.bmc_password,
                "guid": spec.uuid,
                "manufacturer": spec.manufacturer,
                "model": spec.model,
                "serial_number": spec.serial,
            }
        )
        self.authdata = _Credentials(self, config.bmc_username, config.bmc_password)
        self._attached = True

    # Boot override lives in the server, so Redfish-style state and the in-band side agree.
    @property
    def boot_device(self) -> str:  # type: ignore[override]
        target = self.server.boot_target
        return _TO_IPMI[target] if target else "default"

    @boot_device.setter
    def boot_device(self, value: str) -> None:
        if self._attached:
            self.server.set_boot(_FROM_IPMI.get(value), self.server.boot_persistent)

    @property
    def boot_persistent(self) -> bool:  # type: ignore[override]
        return self.server.boot_persistent

    @boot_persistent.setter
    def boot_persistent(self, value: bool) -> None:
        if self._attached:
            self.server.set_boot(self.server.boot_target, value)

    def get_power_state(self):
        """Current power state."""
        return self.server.power

    def power_on(self):
        """Chassis control: power up."""
        self.server.request_power(ON, "ipmi power up")

    def power_off(self):
        """Chassis control: power down (hard)."""
        self.server.request_power(OFF, "ipmi power down")

    def power_shutdown(self):
        """Chassis control: soft shutdown."""
        self.server.request_power(OFF, "ipmi soft shutdown")

    def power_reset(self):
        """Chassis control: hard reset; refused while off, as real BMCs do."""
        return 0 if self.server.reset("ipmi hard reset") else CC_NOT_IN_PRESENT_STATE

    def power_cycle(self):
        """Chassis control: power cycle; refused while off."""
        return 0 if self.server.reset("ipmi power cycle") else CC_NOT_IN_PRESENT_STATE

    def handle_raw_request(self, request, session):
        """Apply the server's BMC faults, then answer as LabBmc does."""
        if self.rack.fault_active(self.server, "bmc-timeout"):
            return None  # no answer: the client times out
        if self.rack.fault_active(self.server, "bmc-5xx"):
            return session.send_ipmi_response(code=CC_NODE_BUSY)
        return super().handle_raw_request(request, session)

    def sessionless_data(self, data, sockaddr):
        """A timed-out BMC does not answer logins either."""
        if self.rack.fault_active(self.server, "bmc-timeout"):
            return None
        return super().sessionless_data(data, sockaddr)

    def close(self) -> None:
        """Stop listening: unhook from pyghmi's loop first, then close the socket."""
        sock = self.serversocket
        ipmisession.Session.bmc_handlers.pop(sock, None)
        with contextlib.suppress(ValueError):
            ipmisession.iosockets.remove(sock)
        # Wake pyghmi's I/O thread so its next select() no longer includes the socket.
        with contextlib.suppress(OSError, IndexError):
            wake = ipmisession.iosockets[0]
            wake.sendto(b"\x01", (ipmisession.myself, wake.getsockname()[1]))
        time.sleep(0.05)
        sock.close()


def _init_pyghmi_io() -> None:
    """Give pyghmi's I/O thread a wake-up socket on 127.0.0.1 before any BMC socket exists.

    pyghmi wakes its I/O thread by sending a byte to (`myself`, port of its first socket). If
    the first socket is a BMC's (bound to 127.2.x.y), that byte never arrives, and every client
    in this process (a test's IpmiDriver) stalls until select() times out. So the first socket
    is a loopback one and `myself` is its address.
    """
    if ipmisession.iosockets:
        return
    if ipmisession.myself is None:
        ipmisession.myself = "127.0.0.1"
    addrinfo = socket.getaddrinfo("127.0.0.1", 0, socket.AF_INET, socket.SOCK_DGRAM)[0]
    ipmisession.Session._assignsocket(server=addrinfo)


class IpmiService:
    """The rack's IPMI BMCs and the thread running pyghmi's event loop for them."""

    def __init__(self, rack: VirtualRack, servers: list[tuple[Server, str]]) -> None:
        patch_pyghmi_server()
        if servers:
            _init_pyghmi_io()
        port = rack.config.ipmi_port
        self.bmcs = [RackIpmiBmc(rack, server, address, port) for server, address in servers]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="virtual-rack-ipmi", daemon=True)

    def addresses(self) -> dict[str, str]:
        """Server name → "host:port" of its BMC."""
        return {bmc.server.name: f"{bmc.address}:{bmc.port}" for bmc in self.bmcs}

    def start(self) -> None:
        """Start answering."""
        if self.bmcs:
            self._thread.start()

    def stop(self) -> None:
        """Stop answering and release the UDP ports."""
        self._stop.set()
        for bmc in self.bmcs:
            bmc.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ipmisession.Session.wait_for_rsp(0.5)
            except Exception:
                # One bad packet must not take every BMC of this process down with it.
                logger.exception("IPMI event loop iteration failed; continuing")
