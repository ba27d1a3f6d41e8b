"""`manage.py virtual_rack`: run the virtual rack in the foreground until SIGTERM or Ctrl-C.

It writes the inventory file (servers, MACs, current addresses, how to reach each BMC) for the
portal's seed and enrollment code, prints `READY <json>`, and keeps each server's state (installed
OS, boot override, power) in the same file so a restart finds the machines as they were.
"""

import signal
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inventory.bmc.emulators import announce_ready
from provisioning.virtualrack import Fault, RackConfig, VirtualRack
from provisioning.virtualrack.dhcp import Dhcp, from_portal_database
from provisioning.virtualrack.enroll import enrollment_csv

SAVE_EVERY_SECONDS = 10.0


class Command(BaseCommand):
    help = "Run the virtual rack: simulated servers with BMCs that boot against the portal."

    def add_arguments(self, parser):
        defaults = RackConfig()
        parser.add_argument("--servers", type=int, default=defaults.servers)
        parser.add_argument(
            "--facility",
            dest="facilities",
            nargs="+",
            action="extend",
            default=[],
            metavar="CODE",
            help="only servers of these demo facilities (default: all)",
        )
        parser.add_argument("--bmc-host", default=defaults.bmc_host)
        parser.add_argument("--bmc-port", type=int, default=8623, help="Redfish port (0: any)")
        parser.add_argument(
            "--ipmi",
            dest="ipmi_every",
            type=int,
            default=0,
            metavar="EVERY_NTH",
            help="every Nth server gets an IPMI BMC instead of Redfish",
        )
        parser.add_argument("--ipmi-address-base", default=defaults.ipmi_address_base)
        parser.add_argument("--ipmi-port", type=int, default=6230, help="UDP port (0: any)")
        parser.add_argument("--bmc-username", default=defaults.bmc_username)
        parser.add_argument("--bmc-password", default=defaults.bmc_password)
        parser.add_argument("--portal-url", default=defaults.portal_url)
        parser.add_argument("--power-delay", type=float, default=defaults.power_delay)
        parser.add_argument("--boot-delay", type=float, default=defaults.boot_delay)
        parser.add_argument("--write-speed", type=float, default=defaults.write_speed, help="MB/s")
        parser.add_argument("--wipe-speed", type=float, default=defaults.wipe_speed, help="MB/s")
        parser.add_argument(
            "--report-interval",
            type=float,
            default=defaults.report_interval,
            help="seconds between the installer agent's progress calls (0: one per report)",
        )
        parser.add_argument("--workers", type=int, default=defaults.workers)
        parser.add_argument(
            "--fault",
            dest="faults",
            action="append",
            default=[],
            metavar="SPEC",
            help="KIND:SERVER or KIND:NN%%, e.g. bmc-5xx:node03 (repeatable)",
        )
        parser.add_argument(
            "--state-file", default=str(Path(settings.VAR_DIR) / "virtual-rack.json")
        )
        parser.add_argument(
            "--zero-delay", action="store_true", help="no delays at all (tests, benchmarks)"
        )
        parser.add_argument(
            "--vms",
            type=int,
            default=0,
            help="real QEMU virtual machines beside the simulated servers (vm01, …): real "
            "firmware, disks and installer; SSH to each on the 127.0.0.1 port the state file "
            "lists",
        )
        parser.add_argument("--vm-plan", default=defaults.vm_plan, help="the VMs' plan")
        parser.add_argument("--vm-facility", default=defaults.vm_facility)
        parser.add_argument(
            "--vm-uefi-every",
            type=int,
            default=0,
            metavar="N",
            help="every Nth VM boots UEFI firmware (OVMF) rather than BIOS (0: none)",
        )
        parser.add_argument(
            "--vm-dir", help="the VMs' disks and console logs (default: beside the state file)"
        )
        parser.add_argument(
            "--vm-ssh-port-base",
            type=int,
            default=2201,
            metavar="PORT",
            help="vm01's SSH on 127.0.0.1:PORT, vm02's on PORT+1, … (0: any free ports)",
        )
        parser.add_argument(
            "--enroll-as",
            metavar="EMAIL",
            help="once up, enroll the servers not yet enrolled through their BMCs, as this "
            "operator (what `make run` does)",
        )

    def handle(self, *args, **options):
        try:
            config = RackConfig(
                servers=options["servers"],
                facilities=tuple(options["facilities"]),
                bmc_host=options["bmc_host"],
                bmc_port=options["bmc_port"],
                ipmi_every=options["ipmi_every"],
                ipmi_address_base=options["ipmi_address_base"],
                ipmi_port=options["ipmi_port"],
                bmc_username=options["bmc_username"],
                bmc_password=options["bmc_password"],
                portal_url=options["portal_url"],
                power_delay=options["power_delay"],
                boot_delay=options["boot_delay"],
                write_speed=options["write_speed"],
                wipe_speed=options["wipe_speed"],
                report_interval=options["report_interval"],
                workers=options["workers"],
                faults=[Fault.parse(spec) for spec in options["faults"]],
                state_file=options["state_file"],
                vms=options["vms"],
                vm_plan=options["vm_plan"],
                vm_facility=options["vm_facility"],
                vm_uefi_every=options["vm_uefi_every"],
                vm_dir=options["vm_dir"],
                vm_ssh_port_base=options["vm_ssh_port_base"],
            )
            if options["zero_delay"]:
                config.zero_delay()
            # Its servers take the addresses the portal reserved for them, as from DHCP.
            rack = VirtualRack(config, dhcp=Dhcp(from_portal_database))
        except ValueError as error:
            raise CommandError(str(error)) from error

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            rack.start()
        except (OSError, ValueError, RuntimeError) as error:
            raise CommandError(f"the virtual rack could not start: {error}") from error
        try:
            ipmi = sum(1 for s in rack.servers.values() if s.spec.bmc_driver == "ipmi")
            self.stdout.write(
                f"Virtual rack: {len(rack.servers)} servers ({ipmi} on IPMI), Redfish at "
                f"{rack.redfish_url}, portal {config.portal_url}, inventory {config.state_file}"
            )
            for fault in rack.faults():
                self.stdout.write(f"  fault {fault}")
            for vm in rack.vms():
                self.stdout.write(
                    f"  {vm.name}: a QEMU VM ({vm.spec.firmware.upper()}, "
                    f"{rack.accelerator.upper()}: {rack.accelerator_reason}), MAC "
                    f"{vm.spec.macs[0]}, ssh root@127.0.0.1 -p {vm.ssh_port}, console "
                    f"{vm.serial_log}"
                )
            if options["enroll_as"]:
                self._enroll(rack, options["enroll_as"])
            self.stdout.flush()
            announce_ready(
                {
                    "redfish_url": rack.redfish_url,
                    "servers": len(rack.servers),
                    "state_file": config.state_file,
                }
            )
            while not stop.wait(SAVE_EVERY_SECONDS):
                rack.save()
        except KeyboardInterrupt:
            pass
        finally:
            rack.stop()

    def _enroll(self, rack: VirtualRack, email: str) -> None:
        # In a child process: pyghmi's client must not share a process with the IPMI BMCs it
        # talks to (its I/O loop and theirs interfere), as on real hardware it never does.
        rows = enrollment_csv(rack.inventory())
        if rows.count("\n") <= 1:
            self.stdout.write("  every server is already enrolled")
            return
        result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "enroll_machines",
                "--as",
                email,
                "--csv",
                "-",
            ],
            input=rows,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in (result.stdout + result.stderr).splitlines():
            self.stdout.write(f"  {line}")
