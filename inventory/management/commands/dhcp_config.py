"""`manage.py dhcp_config --facility CODE`: the dnsmasq configuration that serves the
facility's provisioning networks from Ironyard's records (see inventory.dhcp)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inventory import dhcp
from inventory.models import Facility


class Command(BaseCommand):
    help = "Print the dnsmasq configuration for a facility's provisioning networks."

    def add_arguments(self, parser):
        parser.add_argument("--facility", required=True, metavar="CODE")
        parser.add_argument(
            "--boot-url",
            help="the portal as booting servers reach it (default: BOOT_BASE_URL, else SITE_URL)",
        )
        parser.add_argument(
            "--tftp-root",
            default=dhcp.IPXE_TFTP_ROOT,
            help=f"where {dhcp.IPXE_BIOS} and {dhcp.IPXE_UEFI} are (Debian's ipxe package)",
        )
        parser.add_argument(
            "--hosts-file",
            metavar="PATH",
            help="read the reservations from PATH (dnsmasq rereads it on SIGHUP) instead of "
            "listing them in the configuration",
        )
        parser.add_argument(
            "--hosts",
            action="store_true",
            help="print only the reservations, in dnsmasq's dhcp-hostsfile format",
        )

    def handle(self, *args, **options):
        facility = Facility.objects.filter(code=options["facility"]).first()
        if facility is None:
            raise CommandError(f"Unknown facility '{options['facility']}'.")
        if not facility.provisioning_networks.exists():
            raise CommandError(
                f"Facility {facility.code} has no provisioning network: add one first "
                "(Operator → Provisioning networks)."
            )
        if options["hosts"]:
            self.stdout.write(dhcp.hosts_file(facility), ending="")
            return
        boot_url = options["boot_url"] or settings.BOOT_BASE_URL or settings.SITE_URL
        self.stdout.write(
            dhcp.dnsmasq_config(
                facility,
                boot_url=boot_url,
                tftp_root=options["tftp_root"],
                hosts_file=options["hosts_file"] or "",
            ),
            ending="",
        )
