"""Builds into the catalogue: an OS image Ironyard built becomes (or updates) an operating
system record whose installer, image, checksum and format point at the portal's own files."""

from pathlib import Path

from django.conf import settings
from django.db import transaction

from inventory.models import ImageFormat, OperatingSystem, Plan

from .artifacts import IMAGES, Build, build_folder, current_builds


@transaction.atomic
def register_built_image(name: str, image: Build, installer: Build) -> OperatingSystem:
    """Point the catalogue's record for image `name` at these builds (created, installable on
    every active plan, if it is new)."""
    spec = IMAGES[name]
    [(file, digest)] = image.checksums.items()
    boot = {
        "kernel_url": installer.url_path("vmlinuz"),
        "initrd_url": installer.url_path("initrd.img"),
        "image_url": image.url_path(file),
        "image_checksum": f"sha256:{digest}",
        "image_format": ImageFormat.TAR_ZST,
        "custom_ipxe": False,
    }
    os_, created = OperatingSystem.objects.update_or_create(
        slug=spec["slug"],
        defaults=boot,
        create_defaults={
            **boot,
            "name": spec["name"],
            "distro": spec["distro"],
            "version": spec["version"],
            "distro_label": spec["name"],
        },
    )
    if created:
        os_.provisionable_on.set(Plan.objects.filter(active=True))
    os_.full_clean()
    return os_


def builds_in_use() -> set[Path]:
    """The build folders machines may still boot or install from: those the catalogue's
    operating systems and the rescue settings point at, and today's builds."""
    urls = [settings.RESCUE_KERNEL_URL, settings.RESCUE_INITRD_URL]
    for row in OperatingSystem.objects.values_list("kernel_url", "initrd_url", "image_url"):
        urls.extend(row)
    return {folder for folder in map(build_folder, urls) if folder is not None} | set(
        current_builds()
    )
