"""The rack's Redfish service: one chassis-manager style endpoint for all its Redfish servers.

Standard library only (`http.server`, threaded, HTTP/1.1 keep-alive with Nagle off: without it a
keep-alive GET stalls 40 ms on delayed ACKs). Systems are addressed by UUID (or name):
`/redfish/v1/Systems/<uuid>`. The service root is readable without credentials, as the spec
says; everything else needs HTTP Basic auth. There is no SessionService, so sushy uses Basic.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from provisioning.virtualrack.server import OFF, ON, Server

if TYPE_CHECKING:
    from provisioning.virtualrack.rack import VirtualRack

logger = logging.getLogger(__name__)

ROOT = "/redfish/v1"
_TO_REDFISH = {"pxe": "Pxe", "disk": "Hdd", "cd": "Cd", "bios": "BiosSetup"}
_FROM_REDFISH = {v: k for k, v in _TO_REDFISH.items()}
BOOT_TARGETS = ["None", *_TO_REDFISH.values()]
BOOT_ENABLED = ["Disabled", "Once", "Continuous"]
RESET_TYPES = [
    "On",
    "ForceOn",
    "ForceOff",
    "GracefulShutdown",
    "GracefulRestart",
    "ForceRestart",
    "PushPowerButton",
]
DIMM_GIB = 32


class RedfishError(Exception):
    """An error answer with a Redfish error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str) -> dict:
    """A Redfish error object (DSP0266 §9.6)."""
    return {
        "error": {
            "code": f"Base.1.8.{code}",
            "message": message,
            "@Message.ExtendedInfo": [
                {
                    "@odata.type": "#Message.v1_1_1.Message",
                    "MessageId": f"Base.1.8.{code}",
                    "Message": message,
                    "Severity": "Warning",
                    "Resolution": "See the message.",
                }
            ],
        }
    }


class RedfishService:
    """Serves the rack's Redfish servers on one host:port until stop()."""

    def __init__(self, rack: VirtualRack, servers: list[Server]) -> None:
        self.rack = rack
        self.by_id: dict[str, Server] = {}
        for server in servers:
            self.by_id[server.spec.uuid] = server
            self.by_id[server.name] = server
        self.servers = servers
        self.stopping = threading.Event()
        handler = type("Handler", (_Handler,), {"service": self})
        config = rack.config
        self.httpd = ThreadingHTTPServer((config.bmc_host, config.bmc_port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},  # stop() waits for one poll
            name="virtual-rack-redfish",
            daemon=True,
        )

    def start(self) -> None:
        """Start answering."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and release hanging requests (bmc-timeout faults)."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    # -- resources ------------------------------------------------------------------------------

    def service_root(self) -> dict:
        return {
            "@odata.id": f"{ROOT}/",
            "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
            "Id": "RootService",
            "Name": "Ironyard virtual rack",
            "RedfishVersion": "1.11.0",
            "UUID": "8f0c1b6e-9b43-5a2d-9c5e-0d8d1f2c7a10",
            "Product": "Ironyard virtual rack",
            "Vendor": "Ironyard Lab",
            "Systems": {"@odata.id": f"{ROOT}/Systems"},
            "Managers": {"@odata.id": f"{ROOT}/Managers"},
            "Links": {},
        }

    def collection(self, path: str, kind: str, members: list[str]) -> dict:
        return {
            "@odata.id": path,
            "@odata.type": f"#{kind}Collection.{kind}Collection",
            "Name": f"{kind} Collection",
            "Members@odata.count": len(members),
            "Members": [{"@odata.id": f"{path}/{m}"} for m in members],
        }

    def system(self, server: Server) -> dict:
        spec = server.spec
        path = f"{ROOT}/Systems/{spec.uuid}"
        with server.lock:
            power = server.power
            target, persistent = server.boot_target, server.boot_persistent
        return {
            "@odata.id": path,
            "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
            "Id": spec.uuid,
            "Name": spec.name,
            "SystemType": "Physical",
            "UUID": spec.uuid,
            "SerialNumber": spec.serial,
            "Manufacturer": spec.manufacturer,
            "Model": spec.model,
            "SKU": spec.plan,
            "BiosVersion": "1.0.0",
            "PowerState": "On" if power == ON else "Off",
            "Status": {"State": "Enabled", "Health": "OK"},
            "ProcessorSummary": {
                "Count": spec.cpus,
                "Model": spec.cpu_model,
                "LogicalProcessorCount": spec.cpus * spec.threads,
                "Status": {"State": "Enabled", "Health": "OK"},
            },
            "MemorySummary": {
                "TotalSystemMemoryGiB": spec.memory_gib,
                "Status": {"State": "Enabled", "Health": "OK"},
            },
            "Boot": {
                "BootSourceOverrideTarget": _TO_REDFISH[target] if target else "None",
                "BootSourceOverrideEnabled": (
                    ("Continuous" if persistent else "Once") if target else "Disabled"
                ),
                "BootSourceOverrideMode": "UEFI",
                "BootSourceOverrideTarget@Redfish.AllowableValues": BOOT_TARGETS,
                "BootSourceOverrideEnabled@Redfish.AllowableValues": BOOT_ENABLED,
            },
            "Processors": {"@odata.id": f"{path}/Processors"},
            "Memory": {"@odata.id": f"{path}/Memory"},
            "EthernetInterfaces": {"@odata.id": f"{path}/EthernetInterfaces"},
            "SimpleStorage": {"@odata.id": f"{path}/SimpleStorage"},
            "Links": {"ManagedBy": [{"@odata.id": f"{ROOT}/Managers/{spec.uuid}"}]},
            "Actions": {
                "#ComputerSystem.Reset": {
                    "target": f"{path}/Actions/ComputerSystem.Reset",
                    "ResetType@Redfish.AllowableValues": RESET_TYPES,
                }
            },
        }

    def system_child(self, server: Server, parts: list[str]) -> dict:
        spec = server.spec
        path = f"{ROOT}/Systems/{spec.uuid}"
        kind, member = parts[0], parts[1] if len(parts) > 1 else None
        if kind == "EthernetInterfaces":
            nics = {f"NIC{k + 1}": mac for k, mac in enumerate(spec.macs)}
            if member is None:
                return self.collection(f"{path}/{kind}", "EthernetInterface", list(nics))
            if member in nics:
                return {
                    "@odata.id": f"{path}/{kind}/{member}",
                    "@odata.type": "#EthernetInterface.v1_6_0.EthernetInterface",
                    "Id": member,
                    "Name": member,
                    "MACAddress": nics[member],
                    "PermanentMACAddress": nics[member],
                    "SpeedMbps": 25000,
                    "LinkStatus": "LinkUp",
                    "Status": {"State": "Enabled", "Health": "OK"},
                }
        elif kind == "Processors":
            cpus = [f"CPU{k}" for k in range(spec.cpus)]
            if member is None:
                return self.collection(f"{path}/{kind}", "Processor", cpus)
            if member in cpus:
                return {
                    "@odata.id": f"{path}/{kind}/{member}",
                    "@odata.type": "#Processor.v1_10_0.Processor",
                    "Id": member,
                    "Name": member,
                    "Socket": member,
                    "ProcessorType": "CPU",
                    "ProcessorArchitecture": "x86",
                    "InstructionSet": "x86-64",
                    "Manufacturer": spec.cpu_model.split()[0],
                    "Model": spec.cpu_model,
                    "TotalCores": spec.cores,
                    "TotalThreads": spec.threads,
                    "Status": {"State": "Enabled", "Health": "OK"},
                }
        elif kind == "Memory":
            dimms = [f"DIMM{k}" for k in range(max(1, spec.memory_gib // DIMM_GIB))]
            if member is None:
                return self.collection(f"{path}/{kind}", "Memory", dimms)
            if member in dimms:
                return {
                    "@odata.id": f"{path}/{kind}/{member}",
                    "@odata.type": "#Memory.v1_9_0.Memory",
                    "Id": member,
                    "Name": member,
                    "MemoryDeviceType": "DDR4",
                    "CapacityMiB": spec.memory_gib * 1024 // len(dimms),
                    "Status": {"State": "Enabled", "Health": "OK"},
                }
        elif kind == "SimpleStorage":
            if member is None:
                return self.collection(f"{path}/{kind}", "SimpleStorage", ["1"])
            if member == "1":
                return {
                    "@odata.id": f"{path}/{kind}/1",
                    "@odata.type": "#SimpleStorage.v1_3_0.SimpleStorage",
                    "Id": "1",
                    "Name": "Storage controller",
                    "Devices": [
                        {
                            "Name": disk.name,
                            "CapacityBytes": disk.size_bytes,
                            "Status": {"State": "Enabled", "Health": "OK"},
                        }
                        for disk in spec.disks
                    ],
                    "Status": {"State": "Enabled", "Health": "OK"},
                }
        raise RedfishError(404, "ResourceMissingAtURI", f"No resource at {path}/{'/'.join(parts)}")

    def manager(self, server: Server) -> dict:
        spec = server.spec
        return {
            "@odata.id": f"{ROOT}/Managers/{spec.uuid}",
            "@odata.type": "#Manager.v1_10_0.Manager",
            "Id": spec.uuid,
            "Name": f"BMC of {spec.name}",
            "ManagerType": "BMC",
            "FirmwareVersion": "1.0.0",
            "Model": "Ironyard virtual BMC",
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {"ManagerForServers": [{"@odata.id": f"{ROOT}/Systems/{spec.uuid}"}]},
        }

    # -- actions ----------------------------------------------------------------------------------

    def patch_system(self, server: Server, body: Any) -> None:
        boot = body.get("Boot") if isinstance(body, dict) else None
        if not isinstance(boot, dict) or not boot:
            raise RedfishError(400, "PropertyUnknown", "Only Boot can be changed on this system")
        target = boot.get("BootSourceOverrideTarget")
        enabled = boot.get("BootSourceOverrideEnabled")
        if target is not None and target not in BOOT_TARGETS:
            raise RedfishError(
                400, "PropertyValueNotInList", f"BootSourceOverrideTarget {target!r} not allowed"
            )
        if enabled is not None and enabled not in BOOT_ENABLED:
            raise RedfishError(
                400, "PropertyValueNotInList", f"BootSourceOverrideEnabled {enabled!r} not allowed"
            )
        mode = boot.get("BootSourceOverrideMode")
        if mode not in (None, "UEFI"):
            raise RedfishError(400, "PropertyValueNotInList", "Only UEFI boot mode is supported")
        with server.lock:
            device = server.boot_target
            persistent = server.boot_persistent
            if target is not None:
                device = _FROM_REDFISH.get(target)
                if enabled is None and server.boot_target is None:
                    persistent = False  # a target without a frequency means the next boot
            if enabled is not None:
                persistent = enabled == "Continuous"
                if enabled == "Disabled":
                    device = None
        server.set_boot(device, persistent)

    def reset(self, server: Server, body: Any) -> None:
        reset_type = body.get("ResetType") if isinstance(body, dict) else None
        if reset_type not in RESET_TYPES:
            raise RedfishError(
                400, "ActionParameterNotSupported", f"ResetType {reset_type!r} is not supported"
            )
        if reset_type in ("On", "ForceOn"):
            server.request_power(ON, reset_type)
        elif reset_type in ("ForceOff", "GracefulShutdown"):
            server.request_power(OFF, reset_type)
        elif reset_type == "PushPowerButton":
            target = OFF if server.power_target() == ON else ON
            server.request_power(target, reset_type)
        elif not server.reset(reset_type):
            # Like sushy-tools (and several vendors): a restart of a server that is off starts it.
            server.request_power(ON, reset_type)


class _Handler(BaseHTTPRequestHandler):
    """One HTTP connection to the rack's Redfish service."""

    service: RedfishService
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "IronyardVirtualBMC/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections give their thread back

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("redfish %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        try:
            status, payload = self._route(method, body)
        except RedfishError as error:
            status, payload = error.status, error_body(error.code, error.message)
        except _Hang:
            self.close_connection = True
            return
        self._send(status, payload)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return {"__malformed__": True}

    def _send(self, status: int, payload: dict | None) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Ironyard virtual rack"')
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("OData-Version", "4.0")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            # sushy asks for "Connection: close"; saying so lets the client drop the socket
            # instead of reusing it from its pool and hitting a closed connection.
            self.send_header("Connection", "close")
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _authorised(self) -> bool:
        config = self.service.rack.config
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, config.bmc_username) & hmac.compare_digest(
            password, config.bmc_password
        )

    def _route(self, method: str, body: Any) -> tuple[int, dict | None]:
        service = self.service
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/redfish", ""):
            return self._only_get(method, {"v1": f"{ROOT}/"})
        if path == ROOT:
            return self._only_get(method, service.service_root())
        if not path.startswith(ROOT + "/"):
            raise RedfishError(404, "ResourceMissingAtURI", f"No resource at {path}")
        parts = path[len(ROOT) + 1 :].split("/")
        server = service.by_id.get(parts[1]) if len(parts) > 1 else None
        if server is not None:
            self._apply_faults(server)
        if not self._authorised() or (
            server is not None and service.rack.fault_active(server, "bmc-bad-password")
        ):
            raise RedfishError(401, "InsufficientPrivilege", "Authentication failed")
        if body is not None and isinstance(body, dict) and body.get("__malformed__"):
            raise RedfishError(400, "MalformedJSON", "The request body is not valid JSON")
        if parts == ["Systems"]:
            ids = [s.spec.uuid for s in service.servers]
            return self._only_get(
                method, service.collection(f"{ROOT}/Systems", "ComputerSystem", ids)
            )
        if parts == ["Managers"]:
            ids = [s.spec.uuid for s in service.servers]
            return self._only_get(method, service.collection(f"{ROOT}/Managers", "Manager", ids))
        if server is None:
            raise RedfishError(404, "ResourceMissingAtURI", f"No resource at {path}")
        if parts[0] == "Managers" and len(parts) == 2:
            return self._only_get(method, service.manager(server))
        if parts[0] != "Systems":
            raise RedfishError(404, "ResourceMissingAtURI", f"No resource at {path}")
        if len(parts) == 2:
            if method == "PATCH":
                service.patch_system(server, body)
                return 204, None
            return self._only_get(method, service.system(server))
        if parts[2:] == ["Actions", "ComputerSystem.Reset"]:
            if method != "POST":
                raise RedfishError(405, "ActionNotSupported", "POST the Reset action")
            service.reset(server, body)
            return 204, None
        return self._only_get(method, service.system_child(server, parts[2:]))

    @staticmethod
    def _only_get(method: str, payload: dict) -> tuple[int, dict]:
        if method != "GET":
            raise RedfishError(405, "OperationNotAllowed", f"{method} is not allowed here")
        return 200, payload

    def _apply_faults(self, server: Server) -> None:
        rack = self.service.rack
        if rack.fault_active(server, "bmc-timeout"):
            # Hang like a BMC whose web server wedged; the client's timeout decides.
            self.service.stopping.wait(rack.config.bmc_hang_seconds)
            raise _Hang
        if rack.fault_active(server, "bmc-5xx"):
            raise RedfishError(503, "ServiceTemporarilyUnavailable", "The BMC is busy; retry later")


class _Hang(Exception):
    """Close the connection without an answer."""
