"""`manage.py enroll_machines --as EMAIL (--csv FILE | --driver D --address A --username U
--password P --facility F [...])`: enroll machines through their BMCs, one line per result."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory import enrollment
from portal import audit
from portal.errors import ServiceError
from portal.models import User


class Command(BaseCommand):
    help = "Enroll machines by talking to their BMCs (Redfish or IPMI)."

    def add_arguments(self, parser):
        parser.add_argument("--as", dest="operator", required=True, help="operator's e-mail")
        parser.add_argument("--csv", help="CSV file ('-' for stdin); see inventory.enrollment")
        parser.add_argument("--driver", choices=["redfish", "ipmi"], default="redfish")
        parser.add_argument("--address")
        parser.add_argument("--username")
        parser.add_argument("--password")
        parser.add_argument("--facility")
        parser.add_argument("--system-id", default="")
        parser.add_argument("--name", default="")
        parser.add_argument("--plan", default="")
        parser.add_argument("--rack", default="")
        parser.add_argument("--rack-unit", type=int)
        parser.add_argument("--insecure", action="store_true", help="skip TLS verification")
        parser.add_argument(
            "--mac",
            action="append",
            default=[],
            help="a NIC's MAC, for BMCs that do not report them (repeatable)",
        )

    def handle(self, *args, **options):
        operator = User.objects.filter(email__iexact=options["operator"], is_staff=True).first()
        if operator is None:
            raise CommandError(f"No operator (staff user) {options['operator']}.")
        requests = self._requests(options)
        token = audit.set_context(audit.AuditContext(via="cli"))
        try:
            results = enrollment.enroll_many(requests, acting_user=operator)
        finally:
            audit.reset_context(token)
        for result in results:
            where = result.request.address
            if result.ok:
                self.stdout.write(
                    f"enrolled {result.machine.name} ({result.plan.slug}) from {where}"
                )
            else:
                self.stdout.write(f"FAILED {where}: {result.error}")
        failed = sum(not r.ok for r in results)
        if failed:
            raise CommandError(f"{failed} of {len(results)} machine(s) not enrolled.")

    def _requests(self, options) -> list[enrollment.EnrollmentRequest]:
        if options["csv"]:
            source = options["csv"]
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
            try:
                return enrollment.parse_csv(text)
            except ServiceError as exc:
                raise CommandError(str(exc)) from exc
        needed = ["address", "username", "password", "facility"]
        missing = [f"--{n}" for n in needed if not options[n]]
        if missing:
            raise CommandError(f"Give --csv, or {', '.join(missing)}.")
        return [
            enrollment.EnrollmentRequest(
                driver=options["driver"],
                address=options["address"],
                username=options["username"],
                password=options["password"],
                facility=options["facility"],
                system_id=options["system_id"],
                name=options["name"],
                plan=options["plan"],
                rack=options["rack"],
                rack_unit=options["rack_unit"],
                verify_tls=not options["insecure"],
                macs=tuple(options["mac"]),
            )
        ]
