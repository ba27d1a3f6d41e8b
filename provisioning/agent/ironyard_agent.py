"""Ironyard's installer agent: the program the installer ramdisk runs on a machine that booted
it over the network. Standard library only (it runs under the ramdisk's Python, nothing of the
portal's): it asks the portal what to do (`GET {agent}/instructions`, the bearer token from the
kernel command line), does each step for real on the machine's disks, reports progress as it
goes (its calls are its heartbeat), says `done` (or `fail`), then reboots into what it
installed, or, for rescue, stays up with SSH listening.

Steps, as the portal lists them:
- wipe_disks: every disk, by the fastest safe method it supports (NVMe format, else a full
  discard), then the partition tables and signatures zeroed at both ends and read back zero.
- write_image: the image streamed over HTTP(S) (never stored whole), its SHA-256 checked,
  decompressed on the fly (gz, xz, zstd), written raw to the root disk or, for a root
  filesystem tarball, unpacked onto a fresh partition table with the bootloader the firmware
  needs (extlinux for BIOS, systemd-boot on an EFI System Partition for UEFI).
- configure: host name, SSH keys, the network (the device's addresses), and cloud-init pointed
  at the portal's NoCloud endpoint, so the installed system fetches its own metadata, runs its
  user data and phones home.
- rescue: SSH (dropbear) in memory for the device's keys.

Command line: ironyard.agent=<base URL of the agent API> ironyard.token=<token>
[ironyard.operation=<id>] (read from /proc/cmdline, or given as arguments for tests).
"""

# It runs the machine's own tools by name and fetches the URLs the portal gives it: that is its
# job, not a risk to flag at each call.
# ruff: noqa: S310, S603, S607

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

MiB = 1024 * 1024
CHUNK = 1 * MiB
# Progress calls: at most one every REPORT_EVERY seconds, and at least one every HEARTBEAT
# seconds while a long step runs (the portal restarts an installer that stays silent).
REPORT_EVERY = 2.0
HEARTBEAT = 30.0
TARGET = Path("/target")
ROOT_LABEL = "ironyard-root"
ESP_LABEL = "IRONYARDEFI"  # FAT labels hold 11 characters


class StepFailed(Exception):
    """A step could not be done. `machine_fault` says whether the machine is to blame (a disk
    that errors) or what it was asked to install (an image that does not verify)."""

    def __init__(self, message: str, *, machine_fault: bool = True):
        super().__init__(message)
        self.machine_fault = machine_fault


class Stopped(Exception):
    """The portal says this installer has nothing more to do (its token is over)."""


def log(message: str) -> None:
    print(f"ironyard-agent: {message}", file=sys.stderr, flush=True)


def run(*command: str, input_bytes: bytes | None = None, check: bool = True) -> str:
    """Run a command; its stdout. A failure is a StepFailed with what it said."""
    result = subprocess.run(command, input=input_bytes, capture_output=True, check=False)
    if check and result.returncode != 0:
        said = (result.stderr or result.stdout).decode(errors="replace").strip()[-500:]
        raise StepFailed(f"{shlex.join(command)} failed ({result.returncode}): {said}")
    return result.stdout.decode(errors="replace")


# -- talking to the portal ------------------------------------------------------------------


class Portal:
    """The agent API: JSON calls with the bearer token; connection errors and 5xx are retried."""

    def __init__(self, base: str, token: str, retries: int = 30, retry_delay: float = 2.0):
        self.base, self.token = base.rstrip("/"), token
        self.retries, self.retry_delay = retries, retry_delay
        self.pending: list[dict] = []
        self.last_call = 0.0

    def call(self, method: str, path: str, body: dict | None = None) -> dict | None:
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                f"{self.base}/{path}",
                data=data,
                method=method,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                    "User-Agent": "ironyard-agent/1",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    self.last_call = time.monotonic()
                    raw = response.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    said = error.read().decode(errors="replace")[:300]
                    raise Stopped(f"{method} {path}: {error.code} {said}") from error
                log(f"{method} {path}: {error.code}, retrying")
            except (urllib.error.URLError, OSError) as error:
                log(f"{method} {path}: {error}, retrying")
            if attempt < self.retries:
                time.sleep(self.retry_delay)
        raise Stopped(f"{method} {path}: the portal did not answer")

    def report(self, step: str, percent: int, message: str = "", *, now: bool = False) -> None:
        """Queue a progress report; send the queue if it is time (or `now`)."""
        self.pending.append({"step": step, "percent": int(percent), "message": message[:1000]})
        if now or time.monotonic() - self.last_call >= REPORT_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            reports, self.pending = self.pending[-20:], []
            self.call("POST", "progress", {"reports": reports})

    def heartbeat(self) -> None:
        if time.monotonic() - self.last_call >= HEARTBEAT:
            self.flush() if self.pending else self.call("POST", "progress", {"reports": []})

    def done(self) -> None:
        reports, self.pending = self.pending[-20:], []
        self.call("POST", "done", {"reports": reports})

    def fail(self, step: str, message: str, *, machine_fault: bool) -> None:
        reports, self.pending = self.pending[-20:], []
        self.call(
            "POST",
            "fail",
            {
                "step": step,
                "message": message[:2000],
                "machine_fault": machine_fault,
                "reports": reports,
            },
        )


# -- disks -------------------------------------------------------------------------------------


@dataclass
class Disk:
    name: str
    size: int
    serial: str = ""
    wwn: str = ""
    model: str = ""
    rotational: bool = False
    removable: bool = False
    partitions: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"


def disks() -> list[Disk]:
    """The machine's disks (not ramdisks, loop devices, CD-ROMs or removable media)."""
    found = json.loads(run("lsblk", "-J", "-b", "-o", "NAME,SIZE,TYPE,SERIAL,WWN,MODEL,ROTA,RM"))[
        "blockdevices"
    ]
    result = []
    for device in found:
        if device.get("type") != "disk" or str(device.get("rm")) in ("1", "True", "true"):
            continue
        result.append(
            Disk(
                name=device["name"],
                size=int(device.get("size") or 0),
                serial=(device.get("serial") or "").strip(),
                wwn=(device.get("wwn") or "").strip(),
                model=(device.get("model") or "").strip(),
                rotational=str(device.get("rota")) in ("1", "True", "true"),
                partitions=[child["name"] for child in device.get("children") or ()],
            )
        )
    return result


def root_disk(candidates: list[Disk], hints: dict | None) -> tuple[Disk, str]:
    """The disk to install on and why, by the operator's hints (Ironic's root device hints:
    serial, wwn, model, or the smallest disk of at least min_size_gb), else the smallest
    disk."""
    if not candidates:
        raise StepFailed("The machine has no disk to install on.")
    hints = hints or {}
    matching = list(candidates)
    reasons = []
    for key in ("serial", "wwn", "model"):
        if hints.get(key):
            matching = [d for d in matching if getattr(d, key).lower() == hints[key].lower()]
            reasons.append(f"{key} {hints[key]}")
    if hints.get("min_size_gb"):
        minimum = int(hints["min_size_gb"]) * 10**9
        matching = [d for d in matching if d.size >= minimum]
        reasons.append(f"at least {hints['min_size_gb']} GB")
    if not matching:
        raise StepFailed(f"No disk matches the plan's root disk rule ({', '.join(reasons)}).")
    chosen = min(matching, key=lambda d: (d.size, d.name))
    why = f"the smallest disk{' with ' + ', '.join(reasons) if reasons else ''}"
    return chosen, why


def gigabytes(size: int) -> str:
    return f"{size / 10**9:.0f} GB" if size >= 10**10 else f"{size / 10**9:.1f} GB"


def _zero(disk: Disk, offset: int, length: int) -> None:
    with open(disk.path, "r+b", buffering=0) as handle:
        handle.seek(offset)
        handle.write(b"\0" * length)
        os.fsync(handle.fileno())


def _read_back_zero(disk: Disk, offset: int, length: int) -> bool:
    with open(disk.path, "rb", buffering=0) as handle:
        handle.seek(offset)
        return handle.read(length) == b"\0" * length


def wipe(disk: Disk) -> str:
    """Wipe one disk; how it was done."""
    method = "zeroed partition tables and signatures"
    nvme = disk.name.startswith("nvme") and shutil.which("nvme")
    if (
        nvme
        and subprocess.run(
            ["nvme", "format", disk.path, "-s", "1", "-f"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        method = "NVMe format (user data erase)"
    elif (
        shutil.which("blkdiscard")
        and subprocess.run(
            ["blkdiscard", "-f", disk.path], capture_output=True, check=False
        ).returncode
        == 0
    ):
        method = "full discard"
    for partition in disk.partitions:
        run("wipefs", "-a", "-f", f"/dev/{partition}", check=False)
    run("wipefs", "-a", "-f", disk.path, check=False)
    # Whatever the method, the places partition tables and signatures live are written zero
    # (a discard need not read back zero) and read back.
    edge = min(MiB, disk.size)
    _zero(disk, 0, edge)
    _zero(disk, disk.size - edge, edge)
    if not (_read_back_zero(disk, 0, edge) and _read_back_zero(disk, disk.size - edge, edge)):
        raise StepFailed(f"{disk.path} did not read back zero after the wipe.")
    run("blockdev", "--rereadpt", disk.path, check=False)
    return method


# -- images ------------------------------------------------------------------------------------

DECOMPRESSORS = {"zst": ["zstd", "-dc"], "gz": ["gzip", "-dc"], "xz": ["xz", "-dc"], "": ["cat"]}


def image_kind(url: str, declared: str = "") -> tuple[str, str]:
    """(format, compression) of an image: as the catalogue says, else from its name
    (`.tar.zst`, `.raw.gz`, `.img.xz`, …)."""
    name = urlsplit(url).path.rsplit("/", 1)[-1].lower()
    compression = next((c for c in ("zst", "gz", "xz") if name.endswith("." + c)), "")
    stem = name[: -(len(compression) + 1)] if compression else name
    if declared:
        fmt, _, declared_compression = declared.partition("+")
        return fmt, declared_compression or compression
    return ("tar" if stem.endswith(".tar") else "raw"), compression


def stream_image(
    portal: Portal, step: str, url: str, checksum: str, sink: list[str], size_hint: int = 0
) -> int:
    """Download `url` into the command `sink` (its stdin) through the decompressor; verify
    the SHA-256 of what was downloaded. The bytes written."""
    algorithm, _, expected = checksum.partition(":")
    if algorithm.lower() != "sha256" or len(expected) != 64:
        raise StepFailed(
            f"The image checksum must be sha256:<64 hex digits>, not {checksum!r}.",
            machine_fault=False,
        )
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "ironyard-agent/1"})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except (urllib.error.URLError, OSError) as error:
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        raise StepFailed(
            f"Could not fetch the image {name}: {error}", machine_fault=False
        ) from error
    total = int(response.headers.get("Content-Length") or 0) or size_hint
    process = subprocess.Popen(sink, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    written, started, last = 0, time.monotonic(), 0.0
    try:
        with response:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                process.stdin.write(chunk)
                written += len(chunk)
                now = time.monotonic()
                if now - last >= REPORT_EVERY:
                    last = now
                    rate = written / MiB / max(now - started, 0.001)
                    percent = min(99, written * 100 // total) if total else 50
                    portal.report(
                        step,
                        max(1, percent),
                        f"Writing the image: {written // MiB} of "
                        f"{(total // MiB) if total else '?'} MiB, {rate:.0f} MiB/s",
                    )
        process.stdin.close()
    except BrokenPipeError:
        pass
    finally:
        error_output = process.stderr.read().decode(errors="replace")[-500:]
        code = process.wait()
    if digest.hexdigest() != expected.lower():
        raise StepFailed(
            f"The image's SHA-256 ({digest.hexdigest()[:12]}…) is not the catalogue's "
            f"({expected.lower()[:12]}…): it is not what was published, and is not used.",
            machine_fault=False,
        )
    if code != 0:
        raise StepFailed(f"Unpacking the image failed: {error_output}", machine_fault=False)
    portal.report(step, 99, "Image written, checksum verified")
    return written


def firmware() -> str:
    return "uefi" if Path("/sys/firmware/efi").is_dir() else "bios"


def partition(disk: Disk, boot: str) -> tuple[str, str | None]:
    """A fresh partition table for a root filesystem: (root partition, ESP or None)."""
    prefix = f"{disk.path}p" if disk.name[-1].isdigit() else disk.path
    if boot == "uefi":
        layout = "label: gpt\n,256MiB,U\n,,L\n"
        run("sfdisk", "--wipe", "always", disk.path, input_bytes=layout.encode())
        esp, root = f"{prefix}1", f"{prefix}2"
    else:
        layout = "label: dos\n,,L,*\n"
        run("sfdisk", "--wipe", "always", disk.path, input_bytes=layout.encode())
        esp, root = None, f"{prefix}1"
    run("partprobe", disk.path, check=False)
    run("udevadm", "settle", check=False)
    for _ in range(50):
        if Path(root).exists():
            break
        time.sleep(0.1)
    # 64-bit ext4 is more than extlinux reads; the disks here are far below its limit.
    run("mkfs.ext4", "-q", "-F", "-O", "^64bit", "-L", ROOT_LABEL, root)
    if esp:
        run("mkfs.vfat", "-F", "32", "-n", ESP_LABEL, esp)
    return root, esp


def install_bootloader(disk: Disk, boot: str, esp: str | None, cmdline: str) -> None:
    """Make the disk boot the installed system's own kernel and initrd."""
    boot_dir = TARGET / "boot"
    kernels = sorted(boot_dir.glob("vmlinuz-*"))
    initrds = sorted(boot_dir.glob("initrd.img-*"))
    if not kernels or not initrds:
        raise StepFailed("The image has no kernel and initrd in /boot.", machine_fault=False)
    kernel, initrd = kernels[-1], initrds[-1]
    if boot == "uefi":
        efi = TARGET / "boot" / "efi"
        efi.mkdir(parents=True, exist_ok=True)
        run("mount", esp, str(efi))
        try:
            loader = next(TARGET.glob("usr/lib/systemd/boot/efi/systemd-bootx64.efi"), None)
            if loader is None:
                raise StepFailed(
                    "UEFI needs systemd-boot in the image (systemd-boot-efi).", machine_fault=False
                )
            (efi / "EFI" / "BOOT").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(loader, efi / "EFI" / "BOOT" / "BOOTX64.EFI")
            shutil.copyfile(kernel, efi / "vmlinuz")
            shutil.copyfile(initrd, efi / "initrd.img")
            (efi / "loader" / "entries").mkdir(parents=True, exist_ok=True)
            (efi / "loader" / "loader.conf").write_text("default ironyard.conf\ntimeout 0\n")
            (efi / "loader" / "entries" / "ironyard.conf").write_text(
                f"title Installed by Ironyard\nlinux /vmlinuz\ninitrd /initrd.img\n"
                f"options {cmdline}\n"
            )
        finally:
            run("umount", str(efi), check=False)
        return
    extlinux_dir = boot_dir / "extlinux"
    extlinux_dir.mkdir(parents=True, exist_ok=True)
    (extlinux_dir / "extlinux.conf").write_text(
        f"DEFAULT ironyard\nTIMEOUT 1\nLABEL ironyard\n  LINUX /boot/{kernel.name}\n"
        f"  INITRD /boot/{initrd.name}\n  APPEND {cmdline}\n"
    )
    run("extlinux", "--install", str(extlinux_dir))
    mbr = Path("/usr/lib/EXTLINUX/mbr.bin")
    with open(disk.path, "r+b", buffering=0) as handle, mbr.open("rb") as code:
        handle.write(code.read(440))


def write_fstab(esp: str | None) -> None:
    lines = [f"LABEL={ROOT_LABEL} / ext4 errors=remount-ro 0 1"]
    if esp:
        lines.append(f"LABEL={ESP_LABEL} /boot/efi vfat umask=0077 0 2")
    (TARGET / "etc" / "fstab").write_text("\n".join(lines) + "\n")


def mount_installed_root(disk: Disk) -> None:
    """Mount the root filesystem of a raw image just written (its largest Linux partition)."""
    if os.path.ismount(TARGET):
        return
    run("partprobe", disk.path, check=False)
    parts = json.loads(run("lsblk", "-J", "-b", "-o", "NAME,SIZE,FSTYPE", disk.path))
    children = parts["blockdevices"][0].get("children") or []
    linux = [c for c in children if c.get("fstype") in ("ext4", "xfs", "btrfs", "ext3")]
    if not linux:
        raise StepFailed("The image wrote no Linux filesystem to configure.", machine_fault=False)
    biggest = max(linux, key=lambda c: int(c.get("size") or 0))
    TARGET.mkdir(exist_ok=True)
    run("mount", f"/dev/{biggest['name']}", str(TARGET))


# -- configuring the installed system ----------------------------------------------------------


def configure(step: dict, portal_origin: str) -> None:
    """Host name, keys, network and cloud-init for the system on TARGET."""
    hostname = step.get("hostname") or "ironyard"
    (TARGET / "etc" / "hostname").write_text(hostname + "\n")
    hosts = TARGET / "etc" / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n::1 localhost ip6-localhost\n")
    keys = [k.strip() for k in step.get("ssh_keys") or () if k.strip()]
    if keys:
        ssh = TARGET / "root" / ".ssh"
        ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        (ssh / "authorized_keys").write_text("\n".join(keys) + "\n")
        os.chmod(ssh / "authorized_keys", 0o600)
    cloud = TARGET / "etc" / "cloud" / "cloud.cfg.d"
    cloud.mkdir(parents=True, exist_ok=True)
    # The installed system asks the portal for its own metadata and user data at every boot
    # (NoCloud over HTTP, by the machine's address), runs its user data once, phones home.
    seed = f"{portal_origin}/nocloud/"
    # cloud-init's ds-identify reads datasource_list with a line match: it stays on one line.
    (cloud / "90_ironyard.cfg").write_text(
        "# Written by Ironyard's installer.\n"
        "datasource_list: [NoCloud, None]\n"
        f"datasource: {{NoCloud: {{seedfrom: {json.dumps(seed)}}}}}\n"
        "disable_root: false\n"
        "ssh_pwauth: false\n"
        "manage_etc_hosts: true\n"
        "locale: false\n"
    )
    network = step.get("network")
    if network:
        (cloud / "91_ironyard_network.cfg").write_text(json.dumps({"network": network}) + "\n")
    # A machine whose firmware network-boots first is sent to its disk by the portal (iPXE
    # `exit`); with nothing else to go on, it boots the disk anyway.


# -- the steps ---------------------------------------------------------------------------------


@dataclass
class Agent:
    portal: Portal
    instructions: dict
    origin: str
    boot: str = field(default_factory=firmware)
    root: Disk | None = None
    root_reason: str = ""
    esp: str | None = None

    def run(self) -> None:
        steps = self.instructions.get("steps") or []
        for step in steps:
            name = step["name"]
            self.portal.report(name, 0, self.describe(step), now=True)
            try:
                message = getattr(self, f"step_{name}")(step)
            except StepFailed as failure:
                log(f"{name} failed: {failure}")
                self.portal.fail(name, str(failure), machine_fault=failure.machine_fault)
                return
            except Exception as error:  # reported, not lost
                log(f"{name} crashed: {error!r}")
                self.portal.fail(name, f"{type(error).__name__}: {error}", machine_fault=True)
                return
            self.portal.report(name, 100, message or f"{name}: done")
        if os.path.ismount(TARGET):
            run("sync", check=False)
            run("umount", "-R", str(TARGET), check=False)
        self.portal.done()
        then = self.instructions.get("then")
        if then == "reboot":
            log("done; rebooting into the installed system")
            time.sleep(1)
            run("reboot", "-f", check=False)
        elif then == "poweroff":
            run("poweroff", "-f", check=False)

    def describe(self, step: dict) -> str:
        return {
            "wipe_disks": "Wiping the disks",
            "write_image": "Writing the image",
            "configure": "Configuring the installed system",
            "rescue": "Starting the rescue system",
        }.get(step["name"], step["name"])

    def disk(self, step: dict) -> Disk:
        if self.root is None:
            self.root, self.root_reason = root_disk(disks(), step.get("root_device"))
        return self.root

    def step_wipe_disks(self, step: dict) -> str:
        found = disks()
        done = []
        for n, disk in enumerate(found, start=1):
            method = wipe(disk)
            done.append(f"{disk.path} ({gigabytes(disk.size)}, {method})")
            self.portal.report("wipe_disks", n * 100 // len(found) - 1, f"Wiped {done[-1]}")
            self.portal.heartbeat()
        if not done:
            return "No disks to wipe"
        return f"Wiped {', '.join(done)}; their first and last MiB read back zero"

    def step_write_image(self, step: dict) -> str:
        disk = self.disk(step)
        url = step["image_url"]
        fmt, compression = image_kind(url, step.get("format", ""))
        decompress = " ".join(DECOMPRESSORS[compression])
        if fmt == "tar":
            root, self.esp = partition(disk, self.boot)
            TARGET.mkdir(exist_ok=True)
            run("mount", root, str(TARGET))
            sink = [
                "sh",
                "-c",
                f"{decompress} | tar -x -C {TARGET} --numeric-owner --xattrs --xattrs-include='*'",
            ]
        else:
            sink = ["sh", "-c", f"{decompress} | dd of={disk.path} bs=4M conv=fsync status=none"]
        started = time.monotonic()
        written = stream_image(
            self.portal,
            "write_image",
            url,
            step["checksum"],
            sink,
            int(step.get("size_bytes") or 0),
        )
        if fmt == "tar":
            write_fstab(self.esp)
            cmdline = f"root=LABEL={ROOT_LABEL} ro console=tty0 console=ttyS0,115200"
            install_bootloader(disk, self.boot, self.esp, cmdline)
        else:
            mount_installed_root(disk)
        seconds = max(time.monotonic() - started, 0.001)
        bootloader = f", {self.boot.upper()} bootloader" if fmt == "tar" else ""
        return (
            f"Image on {disk.path} ({gigabytes(disk.size)}, {self.root_reason}): "
            f"{written // MiB} MiB in {seconds:.0f} s, {written / MiB / seconds:.1f} MiB/s, "
            f"checksum verified{bootloader}"
        )

    def step_configure(self, step: dict) -> str:
        if not os.path.ismount(TARGET):
            mount_installed_root(self.disk(step))
        configure(step, self.origin)
        keys = len([k for k in step.get("ssh_keys") or () if k.strip()])
        return (
            f"Configured {step.get('hostname', '')}: {keys} SSH key{'s' if keys != 1 else ''}, "
            "network, cloud-init from the portal"
        )

    def step_rescue(self, step: dict) -> str:
        keys = [k.strip() for k in step.get("ssh_keys") or () if k.strip()]
        ssh = Path("/root/.ssh")
        ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        (ssh / "authorized_keys").write_text("\n".join(keys) + "\n")
        os.chmod(ssh / "authorized_keys", 0o600)
        Path("/etc/dropbear").mkdir(exist_ok=True)
        subprocess.Popen(["dropbear", "-R", "-E", "-s", "-p", "22"])
        return "Rescue system up: SSH as root with the server's keys"


def command_line() -> dict[str, str]:
    words = Path("/proc/cmdline").read_text().split() + sys.argv[1:]
    return dict(
        word.split("=", 1) for word in words if "=" in word and word.startswith("ironyard.")
    )


def main() -> int:
    args = command_line()
    base, token = args.get("ironyard.agent"), args.get("ironyard.token")
    if not base or not token:
        log("no ironyard.agent / ironyard.token on the command line: nothing to do")
        return 2
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    portal = Portal(base, token)
    try:
        instructions = portal.call("GET", "instructions") or {}
        log(f"instructions: {[s['name'] for s in instructions.get('steps', [])]}")
        Agent(portal, instructions, origin).run()
    except Stopped as stop:
        log(f"stopping: {stop}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
