"""A protocol test double of the portal's boot endpoints: serves iPXE scripts, agent
instructions and metadata per server, and records every request with its source address.

It stands in for the portal where a test needs answers the real boot path cannot be made to give
on demand (503s, a lost connection, a token refused half-way, a customer's chained iPXE) and
holds no logic of theirs: tests set what it answers, and the addresses it reserves for servers
(`address_of`), which the rack's DHCP serves them. The rack against the real boot path is
test_against_the_portal.py.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from provisioning.virtualrack.dhcp import Dhcp

if TYPE_CHECKING:
    from provisioning.virtualrack import Server


@dataclass(frozen=True)
class Seen:
    """One request the double received."""

    method: str
    path: str
    query: dict[str, list[str]]
    source: str
    headers: dict[str, str]
    body: Any


@dataclass
class PortalDouble:
    """What the double answers; tests change these between steps."""

    url: str = ""
    # By MAC: the iPXE script text; None falls back to `agent_script(mac)`.
    scripts: dict[str, str] = field(default_factory=dict)
    # By token: the instructions JSON.
    instructions: dict[str, dict] = field(default_factory=dict)
    # By path: a status to answer instead of the normal one (e.g. 410, 503).
    statuses: dict[str, int] = field(default_factory=dict)
    # By path: statuses to answer first, one per request, before the normal answer.
    status_queue: dict[str, list[int]] = field(default_factory=dict)
    # By source address: metadata and user data.
    metadata: dict[str, dict] = field(default_factory=dict)
    userdata: dict[str, str] = field(default_factory=dict)
    # Extra documents (custom iPXE chains) by path.
    documents: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The reservations the portal made (MAC → address), which the rack's DHCP serves.
    leases: dict[str, str] = field(default_factory=dict)

    def address_of(self, server: Server) -> str:
        """Reserve the server an address (as enrollment does; the same one every time) and
        return it."""
        n = server.spec.index
        address = f"127.1.{n >> 8}.{n & 255}"
        with self.lock:
            for mac in server.spec.macs:
                self.leases[mac] = address
        return address

    def dhcp(self) -> Dhcp:
        """The rack's DHCP, serving these reservations."""

        def table() -> dict[str, str]:
            with self.lock:
                return dict(self.leases)

        return Dhcp(table, refresh=0.0)

    def token_for(self, mac: str) -> str:
        """The per-boot token the default script hands out for a MAC."""
        return "token-" + mac.replace(":", "")

    def agent_script(self, mac: str) -> str:
        """An iPXE script booting the installer agent, as the portal's would."""
        return (
            "#!ipxe\n"
            f"kernel {self.url}/images/vmlinuz initrd=initrd.img console=ttyS0 "
            f"ironyard.agent={self.url}/agent ironyard.token={self.token_for(mac)}\n"
            f"initrd {self.url}/images/initrd.img\n"
            "boot\n"
        )

    def requests_from(self, source: str) -> list[Seen]:
        """Requests whose source address was source, in order."""
        with self.lock:
            return [s for s in self.seen if s.source == source]

    def paths_from(self, source: str) -> list[str]:
        """Paths (no query) requested from source, in order."""
        return [s.path for s in self.requests_from(source)]


def _make_handler(double: PortalDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            source = self.client_address[0]
            seen = Seen(method, parts.path, parse_qs(parts.query), source, dict(self.headers), body)
            with double.lock:
                double.seen.append(seen)
                queued = double.status_queue.get(parts.path)
                forced = queued.pop(0) if queued else double.statuses.get(parts.path)
            if forced:
                return self._send(forced, {"errors": [f"forced {forced}"]})
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            path = parts.path
            if path == "/boot/ipxe":
                mac = seen.query.get("mac", [""])[0]
                return self._send(200, double.scripts.get(mac) or double.agent_script(mac))
            if path == "/agent/instructions":
                if token not in double.instructions:
                    return self._send(404, {"errors": ["unknown token"]})
                return self._send(200, double.instructions[token])
            if path in ("/agent/progress", "/agent/done", "/agent/fail"):
                return self._send(200, {})
            if path == "/metadata":
                if source not in double.metadata:
                    return self._send(404, {"errors": ["unknown server"]})
                return self._send(200, double.metadata[source])
            if path == "/userdata":
                return self._send(200, double.userdata.get(source, ""))
            if path in ("/phone-home", "/user-state"):
                return self._send(204, None)
            if path in double.documents:
                return self._send(200, double.documents[path])
            return self._send(404, {"errors": ["not found"]})

        def _send(self, status: int, payload: Any) -> None:
            if payload is None:
                data, kind = b"", "text/plain"
            elif isinstance(payload, str):
                data, kind = payload.encode(), "text/plain"
            else:
                data, kind = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class PortalServer:
    """Runs a PortalDouble on 127.0.0.1 (any port) in a thread."""

    def __init__(self) -> None:
        self.double = PortalDouble()
        server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 1024})
        self.httpd = server_class(("127.0.0.1", 0), _make_handler(self.double))
        self.httpd.daemon_threads = True
        self.double.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PortalDouble:
        self.thread.start()
        return self.double

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
