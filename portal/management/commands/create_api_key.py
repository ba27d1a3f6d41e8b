"""`manage.py create_api_key EMAIL [--project UUID] [--read-only] [--description TEXT]`.

Prints only the token, so scripts can capture it: TOKEN=$(manage.py create_api_key …).
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal import audit, services
from portal.errors import ServiceError
from portal.models import Project, User


class Command(BaseCommand):
    help = "Create an API key for a user (optionally for one project) and print its token."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--project", help="UUID of a project: a project key.")
        parser.add_argument("--read-only", action="store_true")
        parser.add_argument("--description", default="created from the command line")

    def handle(self, *args, email, project, read_only, description, **options):
        try:
            user = User.objects.get(email__iexact=email)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user with e-mail address {email}.") from exc
        target = None
        if project:
            try:
                target = Project.objects.for_user(user).get(uuid=project)
            except (Project.DoesNotExist, ValidationError) as exc:
                raise CommandError(f"{email} has no project {project}.") from exc
        token = audit.set_context(audit.AuditContext(via="cli"))
        try:
            _, secret = services.create_api_key(
                acting_user=user, project=target, read_only=read_only, description=description
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            audit.reset_context(token)
        self.stdout.write(secret)
