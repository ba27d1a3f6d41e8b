"""Fake IPMI BMCs on pyghmi's server side: several nodes, one process, one event loop.

Each node has its own 127.x.y.z UDP address and port, credentials, GUID, power state (with an
optional delay), a boot device that honours "next boot only", and FRU 0 with manufacturer,
product, serial number.

pyghmi 1.6.19's server side needs patches before pyghmi's own client can talk to it (applied by
`patch_pyghmi_server()` at import):

1. It always answers "cipher suite 3" (HMAC-SHA1) even to a SHA-256 proposal, and the client then
   crashes in RAKP2. We reject non-SHA-1 proposals with RMCP+ status 0x11 so the client falls back.
2. A packet queued for a server session whose client entry has gone is dispatched to
   `ServerSession.sessionless_data`, which does not exist; the AttributeError kills the shared
   event loop (every BMC of the process). We forward it to the BMC, and the loop survives
   any single failing iteration.
3. A lost-wakeup race in its I/O wait stalls answers by 0.5-1 s (see `inventory.bmc.pyghmi_io`).
4. (Ours, for fast failures) an unknown user name gets RAKP2 status 0x0d "Unauthorized name"
   instead of silence, which made clients retry for 14 s.

Run it as a process:

    python -m inventory.bmc.emulators.ipmi_bmc --config bmcs.json

with a JSON config:

    {"power_delay": 0,
     "bmcs": [{"name": "node1", "address": "127.0.0.1", "port": 0,
               "username": "admin", "password": "secret",
               "guid": "4069f4f8-4bba-5738-80a5-d0df886c53ba", "power_state": "off",
               "manufacturer": "Acme", "model": "R1", "serial_number": "SN1"}]}

Once all are listening it prints `READY {"bmcs": {"node1": {"address": ..., "port": ...}}}`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pyghmi.ipmi.private.constants as ipmiconstants
import pyghmi.ipmi.private.serversession as serversession
import pyghmi.ipmi.private.session as ipmisession
from pyghmi.ipmi import bmc

from inventory.bmc import pyghmi_io
from inventory.bmc.emulators import announce_ready, require_loopback

logger = logging.getLogger(__name__)

# IPMI completion codes (IPMI 2.0 table 5-2).
CC_OK = 0x00
CC_PARAM_NOT_SUPPORTED = 0x80
CC_INVALID_FIELD = 0xCC
CC_NOT_IN_PRESENT_STATE = 0xD5
# RMCP+ status codes (IPMI 2.0 table 13-15).
RMCP_UNAUTHORIZED_NAME = 0x0D
RMCP_NO_CIPHER_SUITE_MATCH = 0x11
AUTH_ALGORITHM_HMAC_SHA1 = 1

BOOT_FLAGS_PARAMETER = 5
BOOT_FLAG_VALID = 0x80
BOOT_FLAG_PERSISTENT = 0x40
# Device selector (bits 5:2 of boot flags data 2) for the devices we model.
_BOOT_CODES = {"network": 0x1, "hd": 0x2, "optical": 0x5, "setup": 0x6}
_BOOT_NAMES = {code: name for name, code in _BOOT_CODES.items()}

_patched = False


def patch_pyghmi_server() -> None:
    """Apply the server-side fixes described in the module docstring (idempotent)."""
    global _patched
    if _patched:
        return
    session_cls = serversession.ServerSession
    original_open_response = session_cls.create_open_session_response
    original_rakp1 = session_cls._got_rakp1

    def create_open_session_response(self, request):
        request = bytearray(request)
        # Byte 12 is the authentication algorithm of the RMCP+ open session request.
        if len(request) > 12 and request[12] != AUTH_ALGORITHM_HMAC_SHA1:
            self.clientsessionid = request[4:8]
            return bytearray([request[0], RMCP_NO_CIPHER_SUITE_MATCH, 0, 0]) + request[4:8]
        return original_open_response(self, request)

    def got_rakp1(self, data):
        namelength = data[27] if len(data) > 27 else 0
        username = bytes(data[28 : 28 + namelength]).decode("utf-8", "replace")
        if namelength and self.authdata.get(username) is None:
            reply = bytearray([data[0], RMCP_UNAUTHORIZED_NAME, 0, 0]) + self.clientsessionid
            self.send_payload(reply, ipmiconstants.payload_types["rakp2"], retry=False)
            return None
        return original_rakp1(self, data)

    def sessionless_data(self, data, sockaddr):
        return self.bmc.sessionless_data(data, sockaddr)

    session_cls.create_open_session_response = create_open_session_response
    session_cls._got_rakp1 = got_rakp1
    session_cls.sessionless_data = sessionless_data
    pyghmi_io.install()
    _patched = True


def _fru_field(text: str) -> bytes:
    data = text.encode("latin-1", "replace")[:63]
    return bytes([0xC0 | len(data)]) + data  # type 3 (8-bit text), length


def build_fru(manufacturer: str, product: str, model: str, serial: str) -> bytes:
    """FRU image with a common header and a product info area (IPMI FRU spec v1.0)."""
    fields = b"".join(_fru_field(value) for value in (manufacturer, product, model, "", serial))
    fields += _fru_field("") + _fru_field("")  # asset tag, FRU file id
    body = bytes([1, 0, 0]) + fields + b"\xc1"  # version, length (filled below), English
    length = (len(body) + 1 + 7) // 8 * 8  # area plus checksum, in 8-byte units
    area = bytearray(body.ljust(length - 1, b"\x00"))
    area[1] = length // 8
    area.append((-sum(area)) & 0xFF)
    header = bytearray([1, 0, 0, 0, 1, 0, 0])  # product area starts at offset 1*8
    header.append((-sum(header)) & 0xFF)
    return bytes(header + area)


class LabBmc(bmc.Bmc):
    """One emulated node's BMC."""

    def __init__(self, node: dict[str, Any], power_delay: float = 0.0) -> None:
        address = require_loopback(node.get("address", "127.0.0.1"))
        guid = uuid.UUID(node["guid"]) if node.get("guid") else uuid.uuid4()
        super().__init__(
            {node["username"]: node["password"]},
            port=int(node.get("port", 0)),
            bmcuuid=guid,
            address=address,
        )
        # Port 0 binds a free port; sessions are routed by the real one.
        self.port = self.serversocket.getsockname()[1]
        self.address = address
        self.name = node.get("name", f"{address}:{self.port}")
        self.power_delay = power_delay
        self._power = node.get("power_state", "off").lower()
        self._pending: tuple[str, float] | None = None
        self.boot_device = "default"
        self.boot_persistent = False
        self.fru = build_fru(
            node.get("manufacturer", "Ironyard Lab"),
            node.get("model", "Virtual Server"),
            node.get("part_number", node.get("model", "")),
            node.get("serial_number", ""),
        )

    # -- power ------------------------------------------------------------------------------

    def _settle(self) -> None:
        if self._pending and time.monotonic() >= self._pending[1]:
            state, self._pending = self._pending[0], None
            if state == "on" and self._power == "off":
                self._booted()
            self._power = state

    def _booted(self) -> None:
        if not self.boot_persistent:
            self.boot_device = "default"  # a next-boot-only override is used up

    def _request_power(self, state: str) -> int:
        self._settle()
        if self._power != state:
            self._pending = (state, time.monotonic() + self.power_delay)
            self._settle()
        return CC_OK

    def get_power_state(self):
        """Current power state, after applying any due transition."""
        self._settle()
        return self._power

    def power_on(self):
        """Chassis control: power up."""
        return self._request_power("on")

    def power_off(self):
        """Chassis control: power down (hard)."""
        return self._request_power("off")

    def power_shutdown(self):
        """Chassis control: soft shutdown (there is no OS to ask, so the same as off)."""
        return self._request_power("off")

    def power_reset(self):
        """Chassis control: hard reset; refused while off, as real BMCs do."""
        self._settle()
        if self._power != "on":
            return CC_NOT_IN_PRESENT_STATE
        self._booted()
        return CC_OK

    def power_cycle(self):
        """Chassis control: off then on; refused while off."""
        return self.power_reset()

    def get_system_guid(self):
        """The node's GUID (SMBIOS UUID)."""
        return self.uuid

    # -- boot options -----------------------------------------------------------------------

    def get_system_boot_options(self, request, session):
        """Answer the boot flags parameter from our state (pyghmi's own ignores persistence)."""
        if request["data"][0] & 0x7F != BOOT_FLAGS_PARAMETER:
            return session.send_ipmi_response(code=CC_PARAM_NOT_SUPPORTED)
        flags = 0
        device = 0
        if self.boot_device != "default":
            flags = BOOT_FLAG_VALID | (BOOT_FLAG_PERSISTENT if self.boot_persistent else 0)
            device = _BOOT_CODES[self.boot_device] << 2
        return session.send_ipmi_response(data=[1, BOOT_FLAGS_PARAMETER, flags, device, 0, 0, 0])

    def set_system_boot_options(self, request, session):
        """Record the boot flags parameter, including "persistent"."""
        data = request["data"]
        if data[0] in (0, 3, 4):  # set-in-progress, info ack, acknowledge: nothing to keep
            return session.send_ipmi_response()
        if data[0] != BOOT_FLAGS_PARAMETER or len(data) < 3:
            return session.send_ipmi_response(code=CC_PARAM_NOT_SUPPORTED)
        if not data[1] & BOOT_FLAG_VALID:
            self.boot_device, self.boot_persistent = "default", False
            return session.send_ipmi_response()
        code = (data[2] >> 2) & 0xF
        if code == 0:
            self.boot_device, self.boot_persistent = "default", False
        elif code in _BOOT_NAMES:
            self.boot_device = _BOOT_NAMES[code]
            self.boot_persistent = bool(data[1] & BOOT_FLAG_PERSISTENT)
        else:
            return session.send_ipmi_response(code=CC_INVALID_FIELD)
        return session.send_ipmi_response()

    # -- FRU --------------------------------------------------------------------------------

    def handle_raw_request(self, request, session):
        """Serve FRU 0 (storage netfn); everything else goes to pyghmi's dispatcher."""
        if request["netfn"] == 0x0A and request["command"] in (0x10, 0x11):
            if not request["data"] or request["data"][0] != 0:
                return session.send_ipmi_response(code=0xCB)  # requested data not present
            if request["command"] == 0x10:  # get FRU inventory area info
                size = len(self.fru)
                return session.send_ipmi_response(data=[size & 0xFF, size >> 8, 0])
            offset = request["data"][1] | (request["data"][2] << 8)
            chunk = self.fru[offset : offset + request["data"][3]]
            return session.send_ipmi_response(data=[len(chunk), *chunk])
        return super().handle_raw_request(request, session)


def serve(config: dict[str, Any]) -> None:
    """Create every configured BMC, announce them on stdout, and run the event loop forever."""
    patch_pyghmi_server()
    delay = float(config.get("power_delay", 0))
    bmcs = [LabBmc(node, power_delay=delay) for node in config["bmcs"]]
    announce_ready({"bmcs": {b.name: {"address": b.address, "port": b.port} for b in bmcs}})
    while True:
        try:
            ipmisession.Session.wait_for_rsp(30)
        except Exception:
            # One bad packet must not take every BMC of this process down with it.
            logger.exception("IPMI event loop iteration failed; continuing")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="JSON config file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    serve(json.loads(args.config.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
