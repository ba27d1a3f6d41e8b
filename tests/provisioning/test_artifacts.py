"""The builds' cache and how the portal serves it: keys follow every input, a build in
progress or anything outside ARTIFACTS_DIR is never served, the catalogue registers a build,
and pruning removes only the builds nothing boots from."""

import hashlib
import io
import os
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inventory.models import OperatingSystem
from provisioning import artifacts, catalogue, services
from provisioning.models import Operation
from tests.inventory import factories as inv
from tests.provisioning.factories import make_site, request_for


@pytest.fixture
def builds(settings, tmp_path):
    """ARTIFACTS_DIR with a finished installer build and a build still in progress."""
    settings.ARTIFACTS_DIR = str(tmp_path / "artifacts")
    folder = tmp_path / "artifacts" / "installer" / "0123abcd"
    folder.mkdir(parents=True)
    (folder / "vmlinuz").write_bytes(b"kernel bytes")
    (folder / "initrd.img").write_bytes(b"ramdisk bytes")
    artifacts._checksums(folder, ["vmlinuz", "initrd.img"])
    busy = tmp_path / "artifacts" / ".build-xyz" / "out"
    busy.mkdir(parents=True)
    (busy / "vmlinuz").write_bytes(b"half")
    (tmp_path / "secret").write_text("not served")
    return artifacts._finished(folder)


def test_a_finished_build_knows_its_files_checksums(builds):
    assert builds.checksums == {
        "vmlinuz": hashlib.sha256(b"kernel bytes").hexdigest(),
        "initrd.img": hashlib.sha256(b"ramdisk bytes").hexdigest(),
    }
    assert builds.url_path("vmlinuz") == "/boot/files/installer/0123abcd/vmlinuz"


def test_the_portal_serves_finished_builds_and_nothing_else(client, builds):
    response = client.get("/boot/files/installer/0123abcd/vmlinuz", REMOTE_ADDR="127.0.0.5")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"kernel bytes"
    assert response["Content-Length"] == str(len(b"kernel bytes"))
    for path in (
        "installer/0123abcd/missing",
        ".build-xyz/out/vmlinuz",  # a build in progress
        "installer/0123abcd/../../../secret",
        "installer/0123abcd",  # a folder
    ):
        refused = client.get(f"/boot/files/{path}", REMOTE_ADDR="127.0.0.5")
        assert refused.status_code == 404, path
        assert refused.json()["errors"]


def test_a_key_changes_with_what_goes_into_the_build(settings):
    installer, image = artifacts.installer_key(), artifacts.image_key("debian-12")
    settings.INSTALLER_KERNEL_PACKAGE = "linux-image-amd64"
    assert artifacts.installer_key() != installer
    assert artifacts.image_key("debian-12") == image
    assert len({installer, image, artifacts.installer_key()}) == 3


def test_an_unknown_image_is_refused_before_anything_is_built(builds):
    with pytest.raises(artifacts.BuildError, match="Unknown image 'windows'"):
        artifacts.build_image("windows")


def test_registering_a_build_points_the_catalogue_at_it(db, builds, tmp_path):
    plan = inv.make_plan("v1.small.x86", metros=[inv.make_metro("sv")])
    folder = tmp_path / "artifacts" / "images" / "debian-12-4567"
    folder.mkdir(parents=True)
    (folder / "debian-12.tar.zst").write_bytes(b"image bytes")
    artifacts._checksums(folder, ["debian-12.tar.zst"])
    image = artifacts._finished(folder)

    os_ = catalogue.register_built_image("debian-12", image, builds)
    assert (os_.slug, os_.name, os_.distro, os_.version) == (
        "debian_12",
        "Debian 12",
        "debian",
        "12",
    )
    assert os_.kernel_url == "/boot/files/installer/0123abcd/vmlinuz"
    assert os_.initrd_url == "/boot/files/installer/0123abcd/initrd.img"
    assert os_.image_url == "/boot/files/images/debian-12-4567/debian-12.tar.zst"
    assert os_.image_checksum == "sha256:" + hashlib.sha256(b"image bytes").hexdigest()
    assert os_.image_format == "tar+zst"
    assert list(os_.provisionable_on.all()) == [plan]

    # Registered again (a new build), the record is updated, its name and plans kept.
    OperatingSystem.objects.filter(pk=os_.pk).update(name="Debian 12 (ours)")
    os_.provisionable_on.clear()
    again = catalogue.register_built_image("debian-12", image, builds)
    assert again.pk == os_.pk and again.name == "Debian 12 (ours)"
    assert list(again.provisionable_on.all()) == []


def _build(tmp_path, kind: str, name: str) -> artifacts.Build:
    folder = tmp_path / "artifacts" / kind / name
    folder.mkdir(parents=True)
    (folder / "file").write_bytes(b"x" * 1024)
    artifacts._checksums(folder, ["file"])
    return artifacts._finished(folder)


def _prune(*args) -> str:
    out = io.StringIO()
    call_command("prune_artifacts", *args, stdout=out)
    return out.getvalue()


def test_pruning_removes_only_the_builds_nothing_boots_from(db, builds, settings, tmp_path):
    root = tmp_path / "artifacts"
    image = _build(tmp_path, "images", "debian-12-4567")
    catalogue.register_built_image("debian-12", image, builds)  # installer/0123abcd in use
    today = _build(tmp_path, "installer", artifacts.installer_key())
    rescue = _build(tmp_path, "installer", "rescue01")
    settings.RESCUE_KERNEL_URL = "http://10.0.0.1/boot/files/installer/rescue01/vmlinuz"
    # Served by another HTTP server, under a prefix of its own.
    elsewhere = _build(tmp_path, "images", "debian-12-0042")
    OperatingSystem.objects.filter(pk=inv.make_os("debian_11").pk).update(
        image_url="https://files.example/ironyard/images/debian-12-0042/debian-12.tar.zst"
    )
    old_installer = _build(tmp_path, "installer", "old00001")
    old_image = _build(tmp_path, "images", "debian-12-old1")
    killed = root / ".build-killed"
    killed.mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(killed, (two_days_ago, two_days_ago))
    running = root / ".build-xyz"  # the fixture's build in progress

    listed = _prune("--dry-run")
    assert f"would remove {old_installer.folder} (0.0 MiB)" in listed
    assert "would remove 3 folder(s)" in listed
    assert old_installer.folder.exists() and old_image.folder.exists() and killed.exists()

    removed = _prune()
    assert "removed 3 folder(s)" in removed
    assert not old_installer.folder.exists()
    assert not old_image.folder.exists()
    assert not killed.exists()
    for kept in (builds.folder, image.folder, today.folder, rescue.folder, elsewhere.folder):
        assert kept.exists(), kept
    assert running.exists()
    assert _prune().endswith("removed 0 folder(s), 0.0 MiB\n")


def test_pruning_waits_for_installs_in_flight(web, alice, builds, tmp_path):
    old = _build(tmp_path, "installer", "old00001")
    services.create_devices(project=web, acting_user=alice, request=request_for(*make_site(1)))
    assert Operation.objects.filter(state="running", kind="provision").exists()
    with pytest.raises(CommandError, match="1 install, rescue or wipe operation"):
        _prune()
    assert old.folder.exists()
    assert "would remove" in _prune("--dry-run")
