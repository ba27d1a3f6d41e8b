"""What machines boot and install, built from Debian's packages with mmdebstrap: the installer
(a kernel and a ramdisk holding Ironyard's agent) and OS images (root filesystem tarballs).

Each build lands in ARTIFACTS_DIR under a folder named by a digest of what went into it (the
package lists, the agent's files, this module's recipe), with a SHA256SUMS file; a build whose
folder exists is not built again. The portal serves the folder under /boot/files/ (or any HTTP
server can), and the catalogue's records point at the files.
"""

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

AGENT_DIR = Path(__file__).resolve().parent / "agent"
SUITE = "bookworm"
# The recipe's own version: bump it when the steps below change what a build produces.
RECIPE = "1"

INSTALLER_PACKAGES = (
    "busybox",
    "util-linux",
    "fdisk",
    "parted",
    "e2fsprogs",
    "dosfstools",
    "tar",
    "zstd",
    "gzip",
    "xz-utils",
    "kmod",
    "extlinux",
    "syslinux-common",
    "nvme-cli",
    "python3-minimal",
    "libpython3.11-stdlib",
    "dropbear-bin",
    "ca-certificates",
)
# Enough to reach disks and NICs, real and virtual; the rest of the kernel's modules stay out
# of the ramdisk (it is downloaded at every network boot).
INSTALLER_MODULES = (
    "kernel/drivers/virtio",
    "kernel/drivers/block",
    "kernel/drivers/nvme",
    "kernel/drivers/ata",
    "kernel/drivers/scsi",
    "kernel/drivers/net",
    "kernel/net/core",
    "kernel/fs/fat",
    "kernel/fs/nls",
    "kernel/lib",
    "kernel/crypto",
)

IMAGES = {
    "debian-12": {
        # The catalogue record it is registered as (build_image --register).
        "slug": "debian_12",
        "name": "Debian 12",
        "distro": "debian",
        "version": "12",
        "packages": (
            "linux-image-cloud-amd64",
            "systemd-sysv",
            "cloud-init",
            "openssh-server",
            "ifupdown",
            "isc-dhcp-client",
            "dbus",
            "sudo",
            "netbase",
            "iproute2",
            "systemd-boot-efi",
            "ca-certificates",
        ),
    }
}


@dataclass(frozen=True)
class Build:
    """A finished build: its folder and its files' SHA-256 (name → hex)."""

    folder: Path
    checksums: dict[str, str]

    def url_path(self, name: str) -> str:
        """The file's path under the portal's /boot/files/."""
        return f"/boot/files/{self.folder.parent.name}/{self.folder.name}/{name}"


class BuildError(Exception):
    """A build step failed; the message says which and what it printed."""


# The tools a build runs, by the Debian package that has them.
BUILD_TOOLS = {"mmdebstrap": "mmdebstrap", "cpio": "cpio", "zstd": "zstd", "depmod": "kmod"}


def missing_tools() -> list[str]:
    """What this machine lacks to build (as "tool (package)")."""
    return [f"{t} ({p})" for t, p in BUILD_TOOLS.items() if shutil.which(t) is None]


def artifacts_dir() -> Path:
    return Path(settings.ARTIFACTS_DIR)


def _mirror_sources() -> list[str]:
    mirror = settings.DEBIAN_MIRROR.rstrip("/")
    security = settings.DEBIAN_SECURITY_MIRROR.rstrip("/")
    return [
        f"deb {mirror} {SUITE} main",
        f"deb {mirror} {SUITE}-updates main",
        f"deb {security} {SUITE}-security main",
    ]


def _digest(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else json.dumps(part).encode())
    return digest.hexdigest()[:16]


def _run(*command: str, cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, check=False)  # noqa: S603
    if result.returncode != 0:
        said = (result.stderr or result.stdout).decode(errors="replace")[-2000:]
        raise BuildError(f"{' '.join(command)} failed ({result.returncode}):\n{said}")


def _checksums(folder: Path, names: list[str]) -> dict[str, str]:
    sums = {}
    for name in names:
        digest = hashlib.sha256()
        with (folder / name).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        sums[name] = digest.hexdigest()
    (folder / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    return sums


def _finished(folder: Path) -> Build | None:
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        return None
    checksums = {}
    for line in sums.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        checksums[name.strip()] = digest
    return Build(folder, checksums)


def _publish(work: Path, folder: Path) -> None:
    """Move a finished build in place at once: a reader never sees half of one."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(work, folder)
    except OSError:
        if not (folder / "SHA256SUMS").exists():  # not another build's, finished meanwhile
            raise


def installer_key() -> str:
    files = sorted(p for p in AGENT_DIR.iterdir() if p.is_file())
    return _digest(
        RECIPE,
        SUITE,
        INSTALLER_PACKAGES,
        INSTALLER_MODULES,
        INSTALLER_PRUNE,
        settings.INSTALLER_KERNEL_PACKAGE,
        *[p.name.encode() + p.read_bytes() for p in files],
    )


def build_installer(log=print) -> Build:
    """The installer kernel and ramdisk (cached by what goes into them)."""
    folder = artifacts_dir() / "installer" / installer_key()
    found = _finished(folder)
    if found is not None:
        return found
    artifacts_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=artifacts_dir(), prefix=".build-") as scratch:
        scratch = Path(scratch)
        root, out = scratch / "root", scratch / "out"
        out.mkdir()
        log(f"installer: extracting {len(INSTALLER_PACKAGES) + 1} packages with mmdebstrap")
        _run(
            "mmdebstrap",
            "--variant=extract",
            "--quiet",
            f"--include={','.join([*INSTALLER_PACKAGES, settings.INSTALLER_KERNEL_PACKAGE])}",
            SUITE,
            str(root),
            *_mirror_sources(),
        )
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise BuildError(f"{settings.INSTALLER_KERNEL_PACKAGE} brought no kernel")
        version = kernels[-1].name.removeprefix("vmlinuz-")
        shutil.copyfile(kernels[-1], out / "vmlinuz")
        shutil.rmtree(root / "boot")
        _keep_modules(root / "lib" / "modules" / version)
        _run("depmod", "-b", str(root), version)
        # The extract variant runs no maintainer scripts: what they would set up, set up here.
        (root / "bin").mkdir(exist_ok=True)
        if not (root / "bin" / "sh").exists():
            (root / "bin" / "sh").symlink_to("busybox")
        _run("ldconfig", "-r", str(root))
        certificates = sorted((root / "usr/share/ca-certificates").rglob("*.crt"))
        (root / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
        (root / "etc/ssl/certs/ca-certificates.crt").write_text(
            "".join(c.read_text() for c in certificates)
        )
        (root / "etc/dropbear").mkdir(parents=True, exist_ok=True)
        # Rescue logs in as root (dropbear looks the user up); no password anywhere.
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "etc/group").write_text("root:x:0:\n")
        (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
        (root / "etc/shadow").chmod(0o600)
        (root / "root").mkdir(mode=0o700, exist_ok=True)
        (root / "ironyard").mkdir()
        for name in ("ironyard_agent.py", "udhcpc.script"):
            shutil.copy2(AGENT_DIR / name, root / "ironyard" / name)
        shutil.copy2(AGENT_DIR / "init", root / "init")
        _prune(root)
        log("installer: packing the ramdisk (cpio, zstd)")
        with (out / "initrd.img").open("wb") as ramdisk:
            find = subprocess.Popen(["find", ".", "-print0"], cwd=root, stdout=subprocess.PIPE)  # noqa: S607
            cpio = subprocess.Popen(
                ["cpio", "--null", "-o", "-H", "newc", "--quiet"],  # noqa: S607
                cwd=root,
                stdin=find.stdout,
                stdout=subprocess.PIPE,
            )
            zstd = subprocess.Popen(["zstd", "-3", "-q", "-T0"], stdin=cpio.stdout, stdout=ramdisk)  # noqa: S607
            codes = (zstd.wait(), cpio.wait(), find.wait())
        if any(codes):
            raise BuildError(f"packing the ramdisk failed: {codes}")
        (out / "manifest.json").write_text(
            json.dumps({"kind": "installer", "kernel": version, "suite": SUITE}, indent=2)
        )
        _checksums(out, ["vmlinuz", "initrd.img"])
        _publish(out, folder)
    return _finished(folder)


# What dependencies bring that the agent never runs (Perl from debconf, gconv, Python's own
# tests and docs): half the ramdisk, downloaded at every network boot.
INSTALLER_PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/bash-completion",
    "usr/share/zsh",
    "usr/share/bug",
    "usr/share/perl",
    "usr/share/perl5",
    "usr/lib/x86_64-linux-gnu/perl",
    "usr/lib/x86_64-linux-gnu/perl-base",
    "usr/lib/x86_64-linux-gnu/gconv",
    "usr/lib/python3.11/test",
    "usr/lib/python3.11/pydoc_data",
    "usr/lib/python3.11/ensurepip",
    "usr/lib/python3.11/idlelib",
    "usr/lib/python3.11/tkinter",
    "usr/lib/syslinux",
    "var/cache/apt",
    "var/cache/debconf",
)


def _prune(root: Path) -> None:
    for useless in INSTALLER_PRUNE:
        shutil.rmtree(root / useless, ignore_errors=True)
    for perl in (*root.glob("usr/bin/perl*"), *root.glob("usr/lib/x86_64-linux-gnu/libperl.so*")):
        perl.unlink()


def _keep_modules(modules: Path) -> None:
    kernel = modules / "kernel"
    keep = {modules / path for path in INSTALLER_MODULES}
    for directory in sorted(kernel.rglob("*"), key=lambda p: -len(p.parts)):
        if directory.is_file() and not any(k in directory.parents for k in keep):
            directory.unlink()
    for directory in sorted(kernel.rglob("*"), key=lambda p: -len(p.parts)):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


# As Debian's slim images do: no manual pages, translations or documentation but the
# licences, now or from any package installed later (dpkg keeps these settings). A tenth of
# the image, written to every machine it goes on.
IMAGE_DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)

# cloud-init in the image: host keys of the kinds every current SSH client takes (an RSA key
# costs seconds of a first boot), no GRUB to tell about its boot disk (Ironyard installs
# extlinux or systemd-boot).
IMAGE_CLOUD_CFG = ("ssh_genkeytypes: [ed25519, ecdsa]", "grub_dpkg: {enabled: false}")

# Before sshd starts: its host keys, made anew where missing or empty. cloud-init makes them at
# first boot, but a hard power-off soon after (through the API, say) can leave them empty on
# disk, and sshd then refuses to start. Should there be none at all, an ed25519 one (cloud-init
# not run, say).
IMAGE_HOST_KEYS_SCRIPT = (
    "#!/bin/sh",
    "for key in /etc/ssh/ssh_host_*_key; do",
    '  [ -s "$key" ] || rm -f "$key" "$key.pub"',
    "done",
    "ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 ||",
    '  ssh-keygen -q -N "" -t ed25519 -f /etc/ssh/ssh_host_ed25519_key',
)


def _write(path: str, lines: tuple[str, ...]) -> str:
    """A customize hook writing lines to a file of the image."""
    return f"printf '%s\\n' {' '.join(map(shlex.quote, lines))} > \"$1\"{path}"


# Run in the image's root ("$1") once its packages are in.
IMAGE_HOOKS = (
    # Every machine makes its own SSH host keys and machine id at first boot.
    'rm -f "$1"/etc/ssh/ssh_host_*',
    _write("/usr/local/sbin/ironyard-ssh-host-keys", IMAGE_HOST_KEYS_SCRIPT),
    'chmod 755 "$1"/usr/local/sbin/ironyard-ssh-host-keys',
    'mkdir -p "$1"/etc/systemd/system/ssh.service.d',
    _write(
        "/etc/systemd/system/ssh.service.d/host-keys.conf",
        # First, before Debian's own `sshd -t`, which fails on an empty key.
        (
            "[Service]",
            "ExecStartPre=",
            "ExecStartPre=/usr/local/sbin/ironyard-ssh-host-keys",
            "ExecStartPre=/usr/sbin/sshd -t",
        ),
    ),
    _write("/etc/cloud/cloud.cfg.d/80_ironyard_image.cfg", IMAGE_CLOUD_CFG),
    ': > "$1"/etc/machine-id',
    'rm -rf "$1"/var/lib/apt/lists/*',
)


def image_key(name: str) -> str:
    return _digest(RECIPE, SUITE, name, IMAGES[name]["packages"], IMAGE_DPKG_OPTIONS, IMAGE_HOOKS)


def build_image(name: str, log=print) -> Build:
    """An OS image: a root filesystem tarball (tar.zst) with a kernel, cloud-init and SSH."""
    if name not in IMAGES:
        raise BuildError(f"Unknown image {name!r}; Ironyard builds {', '.join(IMAGES)}.")
    folder = artifacts_dir() / "images" / f"{name}-{image_key(name)}"
    found = _finished(folder)
    if found is not None:
        return found
    artifacts_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=artifacts_dir(), prefix=".build-") as scratch:
        out = Path(scratch) / "out"
        out.mkdir()
        log(f"{name}: building the root filesystem with mmdebstrap")
        _run(
            "mmdebstrap",
            "--variant=minbase",
            "--quiet",
            f"--include={','.join(IMAGES[name]['packages'])}",
            *(f"--dpkgopt={option}" for option in IMAGE_DPKG_OPTIONS),
            *(f"--customize-hook={hook}" for hook in IMAGE_HOOKS),
            SUITE,
            str(out / f"{name}.tar.zst"),
            *_mirror_sources(),
        )
        (out / "manifest.json").write_text(
            json.dumps({"kind": "image", "name": name, "format": "tar+zst"}, indent=2)
        )
        _checksums(out, [f"{name}.tar.zst"])
        _publish(out, folder)
    return _finished(folder)


# The folders under ARTIFACTS_DIR that hold finished builds, one folder a build.
BUILD_KINDS = ("installer", "images")
# A scratch folder this old belongs to a build that was killed, not to one still running.
STALE_SCRATCH_SECONDS = 24 * 3600


def current_builds() -> list[Path]:
    """The folders the installer and each image would be built into today."""
    root = artifacts_dir()
    return [
        root / "installer" / installer_key(),
        *(root / "images" / f"{name}-{image_key(name)}" for name in IMAGES),
    ]


def build_folder(url: str) -> Path | None:
    """The build folder a file's URL names, if it names one: `…/<kind>/<folder>/<file>`, as
    the portal serves them under /boot/files/ and another HTTP server serving ARTIFACTS_DIR
    would under a prefix of its own."""
    parts = urlsplit(url).path.split("/")
    if len(parts) < 4 or parts[-3] not in BUILD_KINDS:
        return None
    return artifacts_dir() / parts[-3] / parts[-2]


def prunable(keep: set[Path]) -> list[Path]:
    """Every build folder but those in `keep`, and the scratch folders of builds that were
    killed."""
    root = artifacts_dir()
    stale = time.time() - STALE_SCRATCH_SECONDS
    builds = [
        folder
        for kind in BUILD_KINDS
        if (root / kind).is_dir()
        for folder in sorted((root / kind).iterdir())
        if folder.is_dir() and folder not in keep
    ]
    scratch = [
        folder
        for folder in sorted(root.glob(".build-*"))
        if folder.is_dir() and folder.stat().st_mtime < stale
    ]
    return builds + scratch


def serve_path(relative: str) -> Path | None:
    """The file under ARTIFACTS_DIR that /boot/files/<relative> names, if it is a finished
    build's (never outside the folder, never a build in progress)."""
    base = artifacts_dir().resolve()
    candidate = (base / relative).resolve()
    if base not in candidate.parents or not candidate.is_file():
        return None
    if any(part.startswith(".") for part in candidate.relative_to(base).parts):
        return None
    return candidate
