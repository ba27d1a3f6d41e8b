"""`manage.py create_user EMAIL [--password P] [--staff]`: the sign-up path, for automation."""

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from portal import audit, services
from portal.errors import ServiceError


class Command(BaseCommand):
    help = "Create a user with a personal organization and default project (as sign-up does)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--password",
            help="Omit to be prompted (or, without a terminal, "
            "to create the account with no usable password until a reset).",
        )
        parser.add_argument("--staff", action="store_true", help="An operator (inventory admin).")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")

    def handle(self, *args, email, password, staff, first_name, last_name, **options):
        if password is None and sys.stdin.isatty():
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        token = audit.set_context(audit.AuditContext(via="cli"))
        try:
            user = services.create_user(
                email=email,
                password=password or None,
                first_name=first_name,
                last_name=last_name,
                is_staff=staff,
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            audit.reset_context(token)
        kind = "operator" if staff else "user"
        self.stdout.write(f"Created {kind} {user.email} ({user.uuid})")
        if not password:
            self.stderr.write("No password set: use 'Forgot password' on the login page.")
