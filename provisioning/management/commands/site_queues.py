"""`manage.py site_queues [--facility CODE …]`: the Celery queues a worker should consume.

Hardware steps are routed to `site.<facility code>`, so a worker placed in a datacenter runs
`celery -A portal worker -Q "$(python manage.py site_queues --facility sv15)"` and reaches only
its own BMCs. Without --facility: the default queue and every facility's (one worker for all,
as `make run` does).
"""

from django.core.management.base import BaseCommand, CommandError

from inventory.models import Facility
from provisioning.doorbell import site_queue


class Command(BaseCommand):
    help = "Print the comma-separated Celery queues for a worker."

    def add_arguments(self, parser):
        parser.add_argument(
            "--facility",
            action="append",
            default=[],
            help="only this facility's queue (repeatable)",
        )

    def handle(self, *args, facility, **options):
        codes = list(Facility.objects.order_by("code").values_list("code", flat=True))
        unknown = sorted(set(facility) - set(codes))
        if unknown:
            raise CommandError(f"Unknown facility: {', '.join(unknown)}")
        queues = [site_queue(code) for code in (facility or codes)]
        self.stdout.write(",".join(queues if facility else ["celery", *queues]))
