"""Configuration of a virtual rack: timing, addresses, faults, and the servers' hardware specs."""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field

from inventory.bmc.emulators import require_loopback

FAULT_KINDS = (
    "bmc-timeout",  # the BMC accepts the connection and never answers
    "bmc-5xx",  # the BMC answers 503 (Redfish) or "node busy" 0xC0 (IPMI)
    "bmc-bad-password",  # the BMC refuses the published credentials
    "dead",  # the BMC works, the server itself never boots: no in-band traffic at all
    "agent-crash",  # the installer agent dies half-way through write_image: no done, no fail
    "agent-fail",  # the installer agent reports a failure (POST /fail) on its first disk step
    "slow-wipe",  # wipe_disks runs SLOW_WIPE_FACTOR times slower (at least slow_wipe_seconds)
)
SLOW_WIPE_FACTOR = 20

_RATE = re.compile(r"^(\d+(?:\.\d+)?)%$")


@dataclass(frozen=True)
class Fault:
    """One fault: a kind, aimed at one server by name or at every server with a probability."""

    kind: str
    server: str | None = None  # a server name, or None for the rate form
    rate: float = 1.0  # probability per event (BMC request, boot, agent run), rate form only

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse "kind:name" or "kind:NN%" (e.g. "bmc-5xx:node03", "bmc-5xx:10%")."""
        kind, sep, target = spec.strip().partition(":")
        if kind not in FAULT_KINDS or not sep or not target:
            raise ValueError(
                f"bad fault {spec!r}: expected KIND:SERVER or KIND:NN% with KIND one of "
                + ", ".join(FAULT_KINDS)
            )
        match = _RATE.match(target)
        if match:
            rate = float(match.group(1)) / 100
            if not 0 <= rate <= 1:
                raise ValueError(f"bad fault {spec!r}: a rate is between 0% and 100%")
            return cls(kind=kind, server=None, rate=rate)
        return cls(kind=kind, server=target)

    def __str__(self) -> str:
        return f"{self.kind}:{self.server}" if self.server else f"{self.kind}:{self.rate:.0%}"


@dataclass
class RackConfig:
    """Everything a rack needs; durations in seconds, speeds in MB/s (10**6 bytes)."""

    servers: int = 16
    facilities: tuple[str, ...] = ()  # empty: every facility of the demo layout
    bmc_host: str = "127.0.0.1"  # the Redfish chassis manager's address
    bmc_port: int = 0  # 0: any free port
    ipmi_every: int = 0  # every Nth server gets an IPMI BMC instead of Redfish; 0: none
    ipmi_address_base: str = "127.2.0.0"  # an IPMI server n's BMC listens on base + n
    ipmi_port: int = 0  # UDP port of every IPMI BMC (each has its own address); 0: any free
    bmc_username: str = "admin"
    bmc_password: str = field(default="virtual-rack-password", repr=False)
    portal_url: str = "http://127.0.0.1:8000"
    power_delay: float = 2.0  # a power-state change takes this long
    boot_delay: float = 3.0  # firmware/POST: from power-on (or reset) to the first in-band act
    write_speed: float = 400.0  # write_image speed
    wipe_speed: float = 100_000.0  # wipe_disks speed (discard-style wipe)
    slow_wipe_seconds: float = 10.0  # a slow-wipe fault makes a wipe last at least this long
    step_seconds: float = 1.0  # configure and rescue steps take this long
    progress_updates: int = 4  # progress reports per timed step (after the 0% one)
    # The agent calls with progress at most once per this many seconds of its work; reports
    # made sooner travel with its next call (at the latest with done or fail). 0: every report
    # is a call of its own.
    report_interval: float = 1.0
    http_timeout: float = 10.0  # in-band HTTP requests
    retry_delay: float = 2.0  # in-band retry after a connection error or a 5xx
    retries: int = 5  # in-band retries before the server gives up on that request
    bmc_hang_seconds: float = 120.0  # how long a bmc-timeout fault keeps a request hanging
    workers: int = 32  # threads doing in-band work; idle servers use none
    faults: list[Fault] = field(default_factory=list)
    seed: int = 0  # for rate-form faults
    state_file: str | None = None  # inventory (and server state) JSON written on start and stop
    # Real virtual machines (vm.py) beside the simulated servers: how many, of which plan and
    # facility, every Nth booting UEFI (OVMF) rather than BIOS, and where their disks live
    # (None: beside the state file, else a temporary folder).
    vms: int = 0
    vm_plan: str = "v1.small.x86"
    vm_facility: str = "sv15"
    vm_uefi_every: int = 0
    vm_dir: str | None = None
    # VM k's SSH on 127.0.0.1:(vm_ssh_port_base + k - 1), stable across restarts (the portal
    # shows it as the machine's "SSH via"); 0: any free port.
    vm_ssh_port_base: int = 0

    def zero_delay(self) -> RackConfig:
        """Make every delay zero and every transfer instantaneous (tests, benchmarks)."""
        self.power_delay = self.boot_delay = self.step_seconds = 0.0
        self.retry_delay = 0.05
        self.write_speed = self.wipe_speed = float("inf")
        # An agent reports progress as time passes; an instantaneous step has only its start.
        self.progress_updates = 1
        return self

    def validate(self) -> None:
        """Raise ValueError on settings that cannot work."""
        require_loopback(self.bmc_host)
        require_loopback(self.ipmi_address_base)
        if not 0 <= self.vms <= 64 or self.vm_uefi_every < 0:
            raise ValueError("a rack has between 0 and 64 VMs; vm_uefi_every >= 0")
        if not 0 <= self.servers <= 0xFFFF - self.vms or self.servers + self.vms < 1:
            # MACs carry the index in two octets.
            raise ValueError("a rack has between 1 and 65535 servers")
        last = ipaddress.ip_address(self.ipmi_address_base) + self.servers + self.vms
        if not last.is_loopback:
            raise ValueError(
                f"{self.servers + self.vms} BMCs from {self.ipmi_address_base} leave 127.0.0.0/8"
            )
        if self.ipmi_every < 0 or self.progress_updates < 1 or self.workers < 1:
            raise ValueError("ipmi_every >= 0, progress_updates >= 1 and workers >= 1")
        if self.report_interval < 0:
            raise ValueError("report_interval >= 0")


@dataclass(frozen=True)
class Disk:
    """One disk of a simulated server."""

    name: str
    size_bytes: int


@dataclass(frozen=True)
class ServerSpec:
    """A simulated server's fixed identity and hardware, derived from its index alone."""

    index: int  # 1-based
    name: str
    facility: str
    plan: str
    uuid: str
    serial: str
    macs: tuple[str, ...]
    bmc_driver: str  # "redfish" or "ipmi"
    manufacturer: str
    model: str
    cpus: int  # sockets
    cores: int  # per socket
    threads: int  # per socket
    cpu_model: str
    memory_gib: int
    disks: tuple[Disk, ...]
    firmware: str = ""  # a VM's: "bios" or "uefi"; "" for a simulated server

    @property
    def disk_bytes(self) -> int:
        """Total raw capacity, what a full wipe has to cover."""
        return sum(disk.size_bytes for disk in self.disks)


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([GT])B$", re.IGNORECASE)


def _drive_bytes(size: str) -> int:
    match = _SIZE.match(size.strip())
    if not match:
        raise ValueError(f"unknown drive size {size!r}")
    return int(float(match.group(1)) * (10**9 if match.group(2).upper() == "G" else 10**12))


def demo_layout() -> list[tuple[str, dict]]:
    """The demo rack's (facility, plan spec) sequence, taken from inventory.demo."""
    # Imported here: inventory.demo imports Django models, which need a configured Django.
    from inventory import demo

    plans = {(p["cpus"], p["memory"]): p for p in demo.PLANS}
    return [(s["facility"], plans[(s["cpus"], s["memory_gib"])]) for s in demo.demo_systems()]


def build_specs(
    config: RackConfig, layout: list[tuple[str, dict]] | None = None
) -> list[ServerSpec]:
    """The rack's servers: the demo layout repeated to `config.servers`, stable per index;
    then its VMs."""
    if not config.servers:
        return vm_specs(config)
    layout = demo_layout() if layout is None else layout
    if config.facilities:
        layout = [(f, p) for f, p in layout if f in config.facilities]
        if not layout:
            raise ValueError(f"no demo servers in facilities {', '.join(config.facilities)}")
    specs = []
    for n in range(1, config.servers + 1):
        facility, plan = layout[(n - 1) % len(layout)]
        driver = "ipmi" if config.ipmi_every and n % config.ipmi_every == 0 else "redfish"
        specs.append(
            ServerSpec(
                index=n,
                name=f"node{n:02d}",
                facility=facility,
                plan=plan["slug"],
                uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"ironyard-virtual-rack-{n}")),
                serial=f"VR{n:06d}",
                # 52:54:00 is QEMU's prefix; the fourth octet keeps clear of the demo BMC's range.
                macs=tuple(f"52:54:01:{n >> 8 & 0xFF:02x}:{n & 0xFF:02x}:{k:02x}" for k in (0, 1)),
                bmc_driver=driver,
                manufacturer="Ironyard Lab",
                model=plan["slug"].split(".")[0].upper(),
                cpus=plan["cpus"],
                cores=plan["cores"] // plan["cpus"],
                threads=2 * plan["cores"] // plan["cpus"],
                cpu_model=plan["cpu"],
                memory_gib=plan["memory"],
                disks=_disks(plan),
            )
        )
    return specs + vm_specs(config)


# A VM's disks: the OS goes on the first (the VM plan's root disk rule picks it), the second
# is small scratch space that a wipe must still cover.
VM_DISKS = (Disk("vda", 4 * 1024**3), Disk("vdb", 1024**3))


def vm_specs(config: RackConfig) -> list[ServerSpec]:
    """The rack's VMs (vm01, vm02, …), numbered after its simulated servers."""
    specs = []
    for k in range(1, config.vms + 1):
        n = config.servers + k
        specs.append(
            ServerSpec(
                index=n,
                name=f"vm{k:02d}",
                facility=config.vm_facility,
                plan=config.vm_plan,
                uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"ironyard-virtual-rack-vm-{k}")),
                serial=f"VM{k:06d}",
                macs=(f"52:54:02:{k >> 8 & 0xFF:02x}:{k & 0xFF:02x}:00",),
                bmc_driver="ipmi"
                if config.ipmi_every and k % config.ipmi_every == 0
                else "redfish",
                manufacturer="QEMU",
                model="Standard PC",
                cpus=1,
                cores=1,
                threads=1,
                cpu_model="QEMU TCG CPU",
                memory_gib=1,
                disks=VM_DISKS,
                firmware="uefi"
                if config.vm_uefi_every and k % config.vm_uefi_every == 0
                else "bios",
            )
        )
    return specs


def _disks(plan: dict) -> tuple[Disk, ...]:
    disks: list[Disk] = []
    nvme = sata = 0
    for drive in plan.get("drives", ()):
        for _ in range(drive["count"]):
            if drive["type"].lower() == "nvme":
                name, nvme = f"nvme{nvme}n1", nvme + 1
            else:
                name, sata = f"sd{_letters(sata)}", sata + 1
            disks.append(Disk(name=name, size_bytes=_drive_bytes(drive["size"])))
    return tuple(disks)


def _letters(n: int) -> str:
    """Linux disk letters: 0 → a, 25 → z, 26 → aa."""
    text = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        text = chr(ord("a") + rest) + text
    return text
