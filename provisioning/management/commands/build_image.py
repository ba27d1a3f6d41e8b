"""`manage.py build_image debian-12`: an OS image (a root filesystem tarball with a kernel,
cloud-init and SSH) built from Debian's packages into ARTIFACTS_DIR, or found there already
built; `--register` also puts it in the catalogue with the installer to write it."""

from django.core.management.base import BaseCommand, CommandError

from provisioning import artifacts, catalogue


class Command(BaseCommand):
    help = "Build an OS image (cached by what goes into it)."

    def add_arguments(self, parser):
        parser.add_argument("name", choices=sorted(artifacts.IMAGES))
        parser.add_argument(
            "--register",
            action="store_true",
            help="add (or update) the operating system in the catalogue, installable with the "
            "installer this also builds",
        )

    def handle(self, *args, name, register, **options):
        def log(line):
            self.stderr.write(line)

        try:
            image = artifacts.build_image(name, log=log)
            installer = artifacts.build_installer(log=log) if register else None
        except artifacts.BuildError as error:
            raise CommandError(str(error)) from error
        for file, digest in image.checksums.items():
            self.stdout.write(f"{image.url_path(file)}  sha256:{digest}")
        if installer is not None:
            os_ = catalogue.register_built_image(name, image, installer)
            self.stdout.write(f"registered {os_.slug}: {os_.name}")
