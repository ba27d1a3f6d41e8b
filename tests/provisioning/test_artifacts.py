"""The builds' cache and how the portal serves it: keys follow every input, a build in
progress or anything outside ARTIFACTS_DIR is never served, the catalogue registers a build."""

import hashlib

import pytest

from inventory.models import OperatingSystem
from provisioning import artifacts, catalogue
from tests.inventory import factories as inv


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
