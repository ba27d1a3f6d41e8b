"""`manage.py prune_artifacts [--dry-run]`: remove the builds in ARTIFACTS_DIR that nothing
boots from any more (each upgrade that changes the agent or a recipe leaves the last one
behind), keeping what the catalogue and the rescue settings point at and today's builds."""

import shutil

from django.core.management.base import BaseCommand, CommandError

from provisioning import artifacts, catalogue
from provisioning.boot.scripts import AGENT_KINDS
from provisioning.models import Operation


def _size(folder) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


class Command(BaseCommand):
    help = "Remove the installer and image builds that nothing boots from any more."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be removed, remove nothing"
        )

    def handle(self, *args, dry_run, **options):
        running = Operation.objects.filter(
            state=Operation.State.RUNNING, kind__in=AGENT_KINDS
        ).count()
        if running and not dry_run:
            # An installer that booted before its OS record moved on may still be fetching the
            # previous build's image.
            raise CommandError(
                f"{running} install, rescue or wipe operation(s) are running and may still "
                "fetch from older builds; run this again when they have finished."
            )
        verb = "would remove" if dry_run else "removed"
        total = 0
        doomed = artifacts.prunable(catalogue.builds_in_use())
        for folder in doomed:
            size = _size(folder)
            if not dry_run:
                shutil.rmtree(folder)
            total += size
            self.stdout.write(f"{verb} {folder} ({size / 2**20:.1f} MiB)")
        self.stdout.write(f"{verb} {len(doomed)} folder(s), {total / 2**20:.1f} MiB")
