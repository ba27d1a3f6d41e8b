"""`manage.py bench_vm [--vms 2]`: real provisioning, timed. N QEMU VMs of the virtual rack are
deployed with Debian 12 (as Ironyard builds it) from one batch request through the Metal API;
for each it prints the time to `active` and to a successful SSH login, split by phase (from
the device's timeline), then the baseline: the same VM, powered off and on through the API,
booting what was installed to an SSH login. The ratio says what provisioning costs over a
plain boot.

A benchmark, not a test: run it on a scratch PostgreSQL database (`make bench-vm` creates one).
Under TCG (no usable KVM here) the VMs are several times slower than on real hardware.
"""

import os
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory import demo
from inventory.models import IPBlock, Metro, Plan
from portal import services as portal_services
from portal.models import Event, Project
from provisioning import artifacts, catalogue, services
from provisioning.bench.processes import free_port, start_gunicorn, start_worker, stop
from provisioning.management.commands.bench_provision import BENCH_BLOCKS, post_batch, rack_machines
from provisioning.models import Device
from provisioning.virtualrack import RackConfig, VirtualRack, ssh
from provisioning.virtualrack.dhcp import Dhcp, from_portal_database
from provisioning.virtualrack.vm import GUEST_PORTAL

# The timeline entries that end each phase, in order, and the phase's name.
PHASES = (
    ("provisioning.installer_booted", "power on, firmware, installer boot"),
    ("provisioning.wipe_disks", "wipe"),
    ("provisioning.write_image", "write image"),
    ("provisioning.configure", "configure"),
    ("device.phoned_home", "reboot, first boot, phone-home"),
    ("device.provision.succeeded", "active"),
)
TARGET_SECONDS = 120


class Command(BaseCommand):
    help = "Deploy N real VMs from one batch; time each to active and to SSH, by phase."

    def add_arguments(self, parser):
        parser.add_argument("--vms", type=int, default=2)
        parser.add_argument("--timeout", type=float, default=1200)

    def handle(self, *args, vms, timeout, **options):
        if Device.objects.exists():
            raise CommandError("This database already has devices; use a scratch database.")
        self.stderr.write("Building (or finding) the installer and the Debian 12 image…")
        installer = artifacts.build_installer(log=self.stderr.write)
        image = artifacts.build_image("debian-12", log=self.stderr.write)
        demo.seed_catalogue()
        os_ = catalogue.register_built_image("debian-12", image, installer)
        metro = Metro.objects.get(code="sv")
        for kind, network in BENCH_BLOCKS:
            IPBlock.objects.get_or_create(network=network, defaults={"kind": kind, "metro": metro})
        user = portal_services.create_user(
            email=f"bench-{time.time_ns()}@example.com", password=None, is_staff=True
        )
        project = Project.objects.for_user(user).get()
        # The VMs' disks (a few GB) and the key go when the run ends, however it ends.
        with tempfile.TemporaryDirectory(prefix="ironyard-bench-vm-") as scratch:
            key_dir = Path(scratch)
            identity = key_dir / "id_ed25519"
            public = ssh.new_key(identity, "bench@ironyard")
            portal_services.create_ssh_key(
                acting_user=user, project=None, label="bench", key=public
            )
            _, token = portal_services.create_api_key(
                acting_user=user, project=None, read_only=False, description="bench_vm"
            )
            port = free_port()
            config = RackConfig(
                servers=0,
                vms=vms,
                portal_url=f"http://127.0.0.1:{port}",
                bmc_port=0,
                ipmi_port=0,
                power_delay=0,
                vm_dir=str(key_dir / "vms"),
            )
            with VirtualRack(config, dhcp=Dhcp(from_portal_database)) as rack:
                self.stderr.write(
                    f"VMs under {rack.accelerator.upper()}: {rack.accelerator_reason}"
                )
                rack_machines(rack, Plan.objects.get(slug=config.vm_plan))
                env = {
                    **os.environ,
                    "ALLOWED_HOSTS": f"127.0.0.1,{GUEST_PORTAL}",
                    "POWER_POLL_SECONDS": "0.5",
                    "IRONYARD_INSECURE_HTTP": "1",
                    "SECURE_SSL_REDIRECT": "0",
                }
                # Threads: a worker streaming an image to a slow VM must not hold up the rest.
                web = start_gunicorn(port, 2, {**env, "GUNICORN_CMD_ARGS": "--threads 8"})
                worker = start_worker(env, "celery,site.sv15", "bench-vm")
                try:
                    time.sleep(3)
                    started = time.monotonic()
                    post_batch(
                        port,
                        token,
                        project,
                        {
                            "batches": [
                                {
                                    "plan": config.vm_plan,
                                    "operating_system": os_.slug,
                                    "metro": metro.code,
                                    "quantity": vms,
                                    "hostnames": [f"bench-{k + 1:02d}" for k in range(vms)],
                                }
                            ]
                        },
                    )
                    results = self._wait(rack, identity, started, timeout)
                    baselines = self._baselines(rack, identity, user, timeout)
                finally:
                    stop(worker, web)
            self._print(results, baselines)

    def _wait(self, rack: VirtualRack, identity: Path, started: float, timeout: float) -> dict:
        """Per device: seconds from the batch request to active and to an SSH login."""
        results: dict[str, dict] = {}
        vms = {vm.name: vm for vm in rack.vms()}
        while len(results) < len(vms) or any("ssh" not in r for r in results.values()):
            if time.monotonic() - started > timeout:
                raise CommandError(f"not every VM was reachable within {timeout:.0f} s")
            for device in Device.objects.select_related("machine").filter(
                state__in=["active", "failed"]
            ):
                if device.state == "failed":
                    raise CommandError(f"{device.hostname} failed: {device.failure_reason}")
                results.setdefault(
                    device.hostname,
                    {
                        "vm": vms[device.machine.name],
                        "active": device.time_to_active.total_seconds(),
                    },
                )
            for hostname, result in results.items():
                if "ssh" not in result and ssh.can_log_in(result["vm"].describe()["ssh"], identity):
                    result["ssh"] = time.monotonic() - started
                    self.stderr.write(f"  {hostname}: SSH after {result['ssh']:.0f} s")
            time.sleep(1)
        for hostname, result in results.items():
            result["phases"] = _phases(Device.objects.get(hostname=hostname))
        return results

    def _baselines(self, rack, identity: Path, user, timeout: float) -> dict[str, float]:
        """Per device: power off, then on (through the portal and the BMC), to an SSH login:
        the installed system's own boot."""
        baselines = {}
        for device in Device.objects.select_related("machine").filter(state="active"):
            vm = rack.servers[device.machine.name]
            services.perform_action(device=device, acting_user=user, action="power_off")
            _until(lambda d=device: Device.objects.get(pk=d.pk).state == "inactive", timeout)
            started = time.monotonic()
            services.perform_action(
                device=Device.objects.get(pk=device.pk), acting_user=user, action="power_on"
            )
            _until(lambda v=vm: ssh.can_log_in(v.describe()["ssh"], identity), timeout)
            baselines[device.hostname] = time.monotonic() - started
        return baselines

    def _print(self, results: dict, baselines: dict) -> None:
        for hostname, result in sorted(results.items()):
            vm = result["vm"]
            self.stdout.write(
                f"{hostname} on {vm.name} ({vm.spec.firmware.upper()}, "
                f"{vm.rack.accelerator.upper()})"
            )
            for name, seconds, note in result["phases"]:
                self.stdout.write(f"  {name:<36} {seconds:6.1f} s  {note}")
            self.stdout.write(f"  {'time to active':<36} {result['active']:6.1f} s")
            self.stdout.write(
                f"  {'time to SSH login':<36} {result['ssh']:6.1f} s  "
                f"(goal: under {TARGET_SECONDS} s)"
            )
            baseline = baselines.get(hostname)
            if baseline:
                self.stdout.write(
                    f"  {'baseline: power on to SSH':<36} {baseline:6.1f} s  "
                    f"ratio deploy/boot {result['ssh'] / baseline:.2f}"
                )


def _phases(device: Device) -> list[tuple[str, float, str]]:
    """(phase, seconds, what the timeline said) from the device's creation on."""
    events = list(
        Event.objects.filter(relations__object_id=device.uuid)
        .order_by("created_at", "id")
        .values_list("type", "created_at", "body")
    )
    phases, last = [], device.created_at
    for kind, name in PHASES:
        found = next(((at, body) for t, at, body in events if t == kind and at >= last), None)
        if found is None:
            continue
        at, body = found
        phases.append((name, (at - last).total_seconds(), body if kind.startswith("prov") else ""))
        last = at
    return phases


def _until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CommandError("timed out")
        time.sleep(1)
