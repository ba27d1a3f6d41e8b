"""Servers that are real virtual machines: a QEMU process per server, with real firmware
(SeaBIOS or OVMF, and Debian's iPXE ROM), virtio disks and a NIC with a fixed MAC. The rack's
BMCs drive them like the simulated ones: power on starts QEMU, booting from the network when the
one-time override says so; reset restarts it; power off stops it; a guest that powers itself
off is seen as off.

The guest's network is QEMU's user mode with `restrict=on`: nothing leaves it but DHCP, one
`guestfwd` (10.0.2.100:80, the portal, through `relay.py` from the address Ironyard assigned
the machine, so the boot path knows who calls) and one `hostfwd` (SSH on a 127.0.0.1 port).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from provisioning.virtualrack.server import OFF, Server

if TYPE_CHECKING:
    from provisioning.virtualrack.config import ServerSpec
    from provisioning.virtualrack.rack import VirtualRack

QEMU = "qemu-system-x86_64"
GUEST_PORTAL = "10.0.2.100"
RELAY = Path(__file__).with_name("relay.py")
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
STOP_TIMEOUT = 10.0


def accelerator() -> tuple[str, str]:
    """("kvm", why) when hardware virtualization really works here, else ("tcg", why).

    /dev/kvm alone does not say: some hosts offer a paravirtual one on which firmware and
    Linux crash, and those have no vmx/svm flag."""
    flags = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no usable /dev/kvm"
    if not flags & {"vmx", "svm"}:
        return "tcg", "/dev/kvm without vmx/svm (paravirtual): firmware would crash on it"
    return "kvm", "hardware virtualization"


def missing_tools(uefi: bool = False) -> list[str]:
    """What this machine lacks to run the VMs (Debian packages named)."""
    missing = []
    if shutil.which(QEMU) is None:
        missing.append(f"{QEMU} (qemu-system-x86, ipxe-qemu)")
    if shutil.which("qemu-img") is None:
        missing.append("qemu-img (qemu-utils)")
    if uefi and not (OVMF_CODE.exists() and OVMF_VARS.exists()):
        missing.append(f"{OVMF_CODE} (ovmf)")
    return missing


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class VmServer(Server):
    """A server whose hardware is a QEMU process; its folder holds its disks, its UEFI
    variables and its serial console's log."""

    def __init__(self, spec: ServerSpec, rack: VirtualRack) -> None:
        super().__init__(spec, rack)
        self.folder = Path(spec.name)  # prepare() says where
        self.ssh_port = 0
        self.process: subprocess.Popen | None = None

    @property
    def serial_log(self) -> Path:
        return self.folder / "serial.log"

    def disk_paths(self) -> list[Path]:
        return [self.folder / f"{disk.name}.qcow2" for disk in self.spec.disks]

    def prepare(self, folder: Path, ssh_port: int = 0) -> None:
        """Create the disks (empty, as from the factory) and UEFI variables in `folder` if
        missing; SSH on `ssh_port` (0: any free one)."""
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        for disk, path in zip(self.spec.disks, self.disk_paths(), strict=True):
            if not path.exists():
                subprocess.run(  # noqa: S603
                    ["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(disk.size_bytes)],  # noqa: S607
                    check=True,
                )
        if self.spec.firmware == "uefi" and not (self.folder / "OVMF_VARS.fd").exists():
            shutil.copyfile(OVMF_VARS, self.folder / "OVMF_VARS.fd")
        self.ssh_port = ssh_port or free_port()

    # -- power: what the BMCs call lands here ---------------------------------------------------

    def _power_off(self) -> None:
        super()._power_off()
        self._stop_process()

    def _boot(self) -> None:
        """Firmware starts: QEMU (re)starts, from the network if the override says so."""
        device = self._pick_boot_device()
        self._stop_process()
        self.environment = "firmware"
        self.address = self.rack.lease(self)
        self.process = subprocess.Popen(  # noqa: S603 (argv built here, no shell)
            self.command(network_first=device == "pxe"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "qemu.log").open("ab"),
            # A session of its own: stopping it stops the relays QEMU started too.
            start_new_session=True,
        )
        threading.Thread(
            target=self._watch, args=(self.process, self.generation), daemon=True
        ).start()

    def _watch(self, process: subprocess.Popen, generation: int) -> None:
        """A guest that powers itself off ends QEMU: the server is then off."""
        process.wait()
        with self.lock:
            if self.process is not process or self.generation != generation:
                return  # stopped or restarted by the BMC
            self.process = None
            self.power = OFF
            self.generation += 1
            self.environment = OFF
            self._event("power", {"action": "guest power off", "state": OFF})
        self.rack.changed()

    def _stop_process(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def shutdown(self) -> None:
        """The rack stops: the VM goes with it (its state file says it was on)."""
        with self.lock:
            self._stop_process()

    # -- the QEMU command --------------------------------------------------------------------

    def command(self, network_first: bool) -> list[str]:
        spec = self.spec
        accel = self.rack.accelerator
        portal = urlsplit(self.rack.config.portal_url)
        # Without an address from the rack's DHCP (not enrolled yet) the portal knows it not.
        relay = [
            sys.executable,
            str(RELAY),
            portal.hostname or "127.0.0.1",
            str(portal.port or 80),
            self.address or "127.0.0.1",
        ]
        netdev = ",".join(
            [
                "user,id=n0,restrict=on",
                # Commas inside guestfwd's command are doubled (QEMU's option syntax).
                f"guestfwd=tcp:{GUEST_PORTAL}:80-cmd:{' '.join(relay)}",
                f"bootfile=http://{GUEST_PORTAL}/boot/ipxe",
                f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22",
            ]
        )
        command = [
            QEMU,
            *("-name", spec.name, "-machine", "q35" if spec.firmware == "uefi" else "pc"),
            *("-accel", accel, "-cpu", "host" if accel == "kvm" else "max"),
            *("-smp", "1", "-m", str(spec.memory_gib * 1024)),
            *("-display", "none", "-monitor", "none"),
            *("-chardev", f"file,id=console,path={self.serial_log},append=on"),
            *("-serial", "chardev:console"),
            *(
                "-smbios",
                f"type=1,manufacturer={spec.manufacturer},product={spec.model},"
                f"serial={spec.serial},uuid={spec.uuid}",
            ),
            *("-netdev", netdev),
        ]
        nic = f"virtio-net-pci,netdev=n0,mac={spec.macs[0]}"
        drives = [
            f"file={path},if=none,id=disk{n},format=qcow2,discard=unmap"
            for n, path in enumerate(self.disk_paths())
        ]
        if spec.firmware == "uefi":
            # OVMF boots by each device's bootindex: the NIC first for a network boot; after
            # the installer's reboot the portal tells iPXE to `exit` and a disk comes next.
            command += [
                *("-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
                *("-drive", f"if=pflash,format=raw,file={self.folder / 'OVMF_VARS.fd'}"),
                *("-device", f"{nic},bootindex={1 if network_first else 9}"),
            ]
            for n, drive in enumerate(drives):
                command += [
                    "-drive",
                    drive,
                    "-device",
                    f"virtio-blk-pci,drive=disk{n},bootindex={n + 2}",
                ]
        else:
            # SeaBIOS by the legacy order (bootindex would override it): the network once,
            # then the first disk, from which the installer's reboot comes back up.
            command += [
                *("-device", nic),
                *("-boot", "once=n,order=c" if network_first else "order=c"),
            ]
            for n, drive in enumerate(drives):
                command += ["-drive", drive, "-device", f"virtio-blk-pci,drive=disk{n}"]
        return command

    # -- reporting ------------------------------------------------------------------------------

    def status(self) -> dict:
        status = super().status()
        status.update(self.describe())
        return status

    def describe(self) -> dict:
        """Where to reach the VM and its files (what the state file lists)."""
        return {
            "ssh": f"127.0.0.1:{self.ssh_port}",
            "firmware": self.spec.firmware,
            "serial_log": str(self.serial_log),
            "disks": [str(path) for path in self.disk_paths()],
        }

    def wait_for_ssh(self, timeout: float) -> bool:
        """Has the VM's SSH port answered with an SSH banner within timeout seconds?"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.ssh_port), timeout=5) as conn,
            ):
                if conn.recv(4).startswith(b"SSH-"):
                    return True
            time.sleep(1)
        return False
