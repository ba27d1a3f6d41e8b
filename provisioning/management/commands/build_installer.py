"""`manage.py build_installer`: the installer kernel and ramdisk (with Ironyard's agent), built
from Debian's packages into ARTIFACTS_DIR, or found there already built."""

from django.core.management.base import BaseCommand, CommandError

from provisioning import artifacts


class Command(BaseCommand):
    help = "Build the installer kernel and ramdisk (cached by what goes into them)."

    def handle(self, *args, **options):
        try:
            build = artifacts.build_installer(log=lambda line: self.stderr.write(line))
        except artifacts.BuildError as error:
            raise CommandError(str(error)) from error
        for name, digest in build.checksums.items():
            self.stdout.write(f"{build.url_path(name)}  sha256:{digest}")
