"""VirtualRack: simulated servers with BMCs (Redfish, IPMI) and an in-band side, in one process."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioning.virtualrack.config import Fault, RackConfig, ServerSpec, build_specs
from provisioning.virtualrack.dhcp import Dhcp
from provisioning.virtualrack.inband import Inband
from provisioning.virtualrack.ipmi import IpmiService
from provisioning.virtualrack.redfish import RedfishService
from provisioning.virtualrack.scheduler import Scheduler
from provisioning.virtualrack.server import Event, InbandRequest, Server
from provisioning.virtualrack.vm import VmServer, accelerator, missing_tools

INVENTORY_VERSION = 1


class VirtualRack:
    """A rack of simulated servers; start() brings the BMCs up, stop() takes everything down."""

    def __init__(
        self,
        config: RackConfig | None = None,
        specs: list[ServerSpec] | None = None,
        dhcp: Dhcp | None = None,
    ):
        """`dhcp` is the provisioning network's DHCP server: without one no server gets an
        address, so none boots over the network or reaches the portal."""
        self.config = config or RackConfig()
        self.dhcp = dhcp
        self.config.validate()
        self.specs = specs if specs is not None else build_specs(self.config)
        self.servers: dict[str, Server] = {}
        self.stopped = True
        self.scheduler: Scheduler | None = None
        self.inband = Inband(self)
        self.redfish: RedfishService | None = None
        self.ipmi: IpmiService | None = None
        self._faults: list[Fault] = list(self.config.faults)
        self._faults_lock = threading.Lock()
        self._random = random.Random(self.config.seed)  # noqa: S311 - fault dice, not secrets
        self._changed = threading.Condition()
        self._version = 0
        self.started_at: float | None = None
        self.vm_dir: str | None = None
        self.accelerator, self.accelerator_reason = "tcg", ""
        self._scratch: tempfile.TemporaryDirectory | None = None

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> VirtualRack:
        """Create the servers, start the BMCs and the scheduler, write the inventory file."""
        self.stopped = False
        self.scheduler = Scheduler(self.config.workers)
        self.servers = {
            spec.name: (VmServer if spec.firmware else Server)(spec, self) for spec in self.specs
        }
        vms = self.vms()
        if vms:
            self._prepare_vms(vms)
        for fault in self._faults:
            if fault.server and fault.server not in self.servers:
                raise ValueError(f"fault {fault}: no server named {fault.server!r}")
        redfish = [s for s in self.servers.values() if s.spec.bmc_driver == "redfish"]
        ipmi_base = ipaddress.ip_address(self.config.ipmi_address_base)
        ipmi = [
            (s, str(ipmi_base + s.spec.index))
            for s in self.servers.values()
            if s.spec.bmc_driver == "ipmi"
        ]
        try:
            self.redfish = RedfishService(self, redfish)
            self.ipmi = IpmiService(self, ipmi)
            self.redfish.start()
            self.ipmi.start()
            self._restore()
        except BaseException:
            self.stop()
            raise
        self.started_at = time.monotonic()
        self.save()
        return self

    def stop(self) -> None:
        """Save the state file, then stop the BMCs and all in-band work."""
        if self.stopped:
            return
        if self.servers and self.redfish is not None:
            self.save()
        self.stopped = True
        with self._changed:
            self._changed.notify_all()
        if self.redfish is not None:
            self.redfish.stop()
        if self.ipmi is not None:
            self.ipmi.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        for vm in self.vms():
            vm.shutdown()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def vms(self) -> list[VmServer]:
        """The rack's real virtual machines."""
        return [s for s in self.servers.values() if isinstance(s, VmServer)]

    def _prepare_vms(self, vms: list[VmServer]) -> None:
        missing = missing_tools(uefi=any(vm.spec.firmware == "uefi" for vm in vms))
        if missing:
            raise RuntimeError(f"VMs need {', '.join(missing)}")
        if self.config.vm_dir:
            self.vm_dir = self.config.vm_dir
        elif self.config.state_file:
            self.vm_dir = str(Path(self.config.state_file).resolve().parent / "vms")
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix="ironyard-vms-")
            self.vm_dir = self._scratch.name
        self.accelerator, self.accelerator_reason = accelerator()
        base = self.config.vm_ssh_port_base
        for k, vm in enumerate(vms):
            vm.prepare(Path(self.vm_dir) / vm.spec.name, base + k if base else 0)

    def __enter__(self) -> VirtualRack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inventory and state file -----------------------------------------------------------------

    @property
    def redfish_url(self) -> str:
        """Base URL of the rack's Redfish service."""
        assert self.redfish is not None, "start the rack first"
        return self.redfish.url

    def bmc(self, name: str) -> dict:
        """How to reach a server's BMC: driver, address, username, password, system_id."""
        server = self.servers[name]
        config = self.config
        if server.spec.bmc_driver == "ipmi":
            assert self.ipmi is not None, "start the rack first"
            address, system_id = self.ipmi.addresses()[name], None
        else:
            address, system_id = self.redfish_url, server.spec.uuid
        return {
            "driver": server.spec.bmc_driver,
            "address": address,
            "username": config.bmc_username,
            "password": config.bmc_password,
            "system_id": system_id,
        }

    def inventory(self) -> dict:
        """The rack's servers and how to reach their BMCs (what the inventory file holds)."""
        servers = []
        for server in self.servers.values():
            spec = server.spec
            servers.append(
                {
                    "name": spec.name,
                    "facility": spec.facility,
                    "plan": spec.plan,
                    "uuid": spec.uuid,
                    "serial": spec.serial,
                    "macs": list(spec.macs),
                    "address": server.address,
                    "rack": f"vr{(spec.index - 1) // 42 + 1:02d}",
                    "rack_unit": (spec.index - 1) % 42 + 1,
                    "bmc": self.bmc(spec.name),
                    **(server.describe() if isinstance(server, VmServer) else {}),
                }
            )
        return {
            "version": INVENTORY_VERSION,
            "portal_url": self.config.portal_url,
            "redfish_url": self.redfish_url,
            "servers": servers,
        }

    def save(self) -> None:
        """Write the inventory, with each server's state, to the state file (if configured)."""
        if not self.config.state_file:
            return
        data = self.inventory()
        for entry in data["servers"]:
            entry["state"] = self.servers[entry["name"]].snapshot()
        path = Path(self.config.state_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        os.replace(temporary, path)  # readers never see half a file

    def _restore(self) -> None:
        """Take back installed OSes, boot overrides and power from an earlier run's file."""
        path = Path(self.config.state_file) if self.config.state_file else None
        if path is None or not path.exists():
            return
        try:
            earlier = json.loads(path.read_text())
        except ValueError:
            return  # unreadable: start fresh; the file is rewritten at once
        by_uuid = {s.spec.uuid: s for s in self.servers.values()}
        for entry in earlier.get("servers", []):
            server = by_uuid.get(entry.get("uuid"))
            if server is not None and isinstance(entry.get("state"), dict):
                server.restore(entry["state"])

    # -- faults -----------------------------------------------------------------------------------

    def inject(self, target: str, kind: str | None = None) -> Fault:
        """Add a fault, e.g. inject("node03", "bmc-5xx") or inject("bmc-5xx:10%")."""
        fault = Fault.parse(target if kind is None else f"{kind}:{target}")
        if fault.server and self.servers and fault.server not in self.servers:
            raise ValueError(f"no server named {fault.server!r}")
        with self._faults_lock:
            self._faults.append(fault)
        return fault

    def clear(self, target: str | None = None, kind: str | None = None) -> None:
        """Remove faults: all of them, a server's, or one kind (of a server)."""
        with self._faults_lock:
            self._faults = [
                f
                for f in self._faults
                if not ((target is None or f.server == target) and (kind is None or f.kind == kind))
            ]

    def faults(self) -> list[Fault]:
        """The faults in force."""
        with self._faults_lock:
            return list(self._faults)

    def fault_active(self, server: Server, kind: str) -> bool:
        """Does a fault of this kind hit server now? Rate faults draw once per call."""
        with self._faults_lock:
            for fault in self._faults:
                if fault.kind != kind:
                    continue
                if fault.server == server.name:
                    return True
                if fault.server is None and self._random.random() < fault.rate:
                    return True
        return False

    # -- observing --------------------------------------------------------------------------------

    def changed(self) -> None:
        """Wake wait_for() callers; servers call this after every change (never under a lock)."""
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        """Wait until predicate() is true (re-checked on changes, at most every 10 ms)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                version = self._version
            # Outside the condition's lock: predicates take server locks.
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stopped:
                return bool(predicate())
            # A predicate over 1,000 servers after each of their changes would eat the CPU the
            # servers need; a short pause batches changes.
            time.sleep(min(remaining, 0.01))
            with self._changed:
                if self._version == version:
                    # Re-check now and then too: a predicate may depend on time as well.
                    self._changed.wait(min(max(deadline - time.monotonic(), 0), 0.5))

    def history(self, name: str) -> list[InbandRequest]:
        """The in-band requests a server made, in order."""
        server = self.servers[name]
        with server.lock:
            return list(server.history)

    def events(self, name: str) -> list[Event]:
        """A server's state changes (power, boot, environment, os), in order."""
        server = self.servers[name]
        with server.lock:
            return list(server.events)

    def lease(self, server: Server) -> str | None:
        """Ask DHCP for the server's address (each boot does)."""
        return self.dhcp.lease(server.spec.macs) if self.dhcp is not None else None

    def status(self, name: str) -> dict:
        """A server's current power, boot override, environment, OS and disks."""
        return self.servers[name].status()
