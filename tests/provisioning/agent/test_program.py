"""The installer agent's parts that run anywhere: choosing the root disk, reading an image's
kind, streaming an image through its decompressor while checking its SHA-256 and reporting
progress to a real HTTP server, writing the installed system's configuration, and the retry
rules of its portal calls. (What touches disks runs on real VMs: tests/e2e/test_real_vms.py.)"""

import ast
import gzip
import hashlib
import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from provisioning.artifacts import AGENT_DIR

_spec = importlib.util.spec_from_file_location("ironyard_agent", AGENT_DIR / "ironyard_agent.py")
agent = importlib.util.module_from_spec(_spec)
sys.modules["ironyard_agent"] = agent  # its dataclasses look themselves up there
_spec.loader.exec_module(agent)

GB = 10**9


class Portal(BaseHTTPRequestHandler):
    """Serves /image (the payload) and records the agent API calls it receives."""

    payload = b""
    calls: list = []
    fail_first: int = 0

    def do_GET(self):
        if self.path == "/image":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.payload)))
            self.end_headers()
            self.wfile.write(self.payload)
        else:
            self._answer(404, b'{"errors": ["no"]}')

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append((self.path, self.headers["Authorization"], body))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self._answer(503, b"")
        else:
            self._answer(204, b"")

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Portal.calls, Portal.fail_first = [], 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def disk(name, size, **fields):
    return agent.Disk(name=name, size=size, **fields)


DISKS = [
    disk("sda", 480 * GB, serial="S1", model="Samsung PM883"),
    disk("sdb", 240 * GB, serial="S2", model="Samsung PM883"),
    disk("nvme0n1", 3800 * GB, serial="N1", wwn="eui.0025", model="Micron 7300"),
]


@pytest.mark.parametrize(
    ("hints", "chosen", "why"),
    [
        (None, "sdb", "the smallest disk"),
        ({"min_size_gb": 300}, "sda", "the smallest disk with at least 300 GB"),
        ({"model": "micron 7300"}, "nvme0n1", "the smallest disk with model micron 7300"),
        ({"serial": "S1"}, "sda", "the smallest disk with serial S1"),
        ({"wwn": "eui.0025", "min_size_gb": 1000}, "nvme0n1", None),
    ],
)
def test_the_root_disk_follows_the_plans_rules(hints, chosen, why):
    found, reason = agent.root_disk(DISKS, hints)
    assert found.name == chosen
    if why:
        assert reason == why


def test_no_disk_matching_the_rules_is_a_failure_that_says_which_rules():
    with pytest.raises(agent.StepFailed, match=r"serial S9, at least 100 GB"):
        agent.root_disk(DISKS, {"serial": "S9", "min_size_gb": 100})
    with pytest.raises(agent.StepFailed, match="no disk"):
        agent.root_disk([], None)


@pytest.mark.parametrize(
    ("url", "declared", "kind"),
    [
        ("http://x/debian-12.tar.zst", "", ("tar", "zst")),
        ("http://x/disk.raw.gz", "", ("raw", "gz")),
        ("http://x/disk.img.xz?sig=1", "", ("raw", "xz")),
        ("http://x/disk.img", "", ("raw", "")),
        ("http://x/blob", "tar+xz", ("tar", "xz")),
        ("http://x/blob.gz", "raw", ("raw", "gz")),
    ],
)
def test_an_images_kind_is_the_catalogues_else_its_names(url, declared, kind):
    assert agent.image_kind(url, declared) == kind


def test_an_image_streams_through_its_decompressor_and_is_verified(server, tmp_path):
    content = bytes(range(256)) * 40_000  # 10 MB
    Portal.payload = gzip.compress(content, compresslevel=1)
    out = tmp_path / "written"
    portal = agent.Portal(server, "tok", retries=0)
    written = agent.stream_image(
        portal,
        "write_image",
        f"{server}/image",
        "sha256:" + hashlib.sha256(Portal.payload).hexdigest(),
        ["sh", "-c", f"gzip -dc > {out}"],
    )
    portal.flush()
    assert written == len(Portal.payload)
    assert out.read_bytes() == content
    reports = [r for _, _, body in Portal.calls for r in body["reports"]]
    assert reports[-1] == {
        "step": "write_image",
        "percent": 99,
        "message": "Image written, checksum verified",
    }
    assert all(auth == "Bearer tok" for _, auth, _ in Portal.calls)


def test_an_image_that_does_not_verify_is_the_images_fault(server, tmp_path):
    Portal.payload = b"not what was published"
    portal = agent.Portal(server, "tok", retries=0)
    with pytest.raises(agent.StepFailed, match="is not the catalogue's") as failure:
        agent.stream_image(portal, "write_image", f"{server}/image", "sha256:" + "0" * 64, ["cat"])
    assert failure.value.machine_fault is False
    with pytest.raises(agent.StepFailed, match="sha256:<64 hex digits>"):
        agent.stream_image(portal, "write_image", f"{server}/image", "md5:abc", ["cat"])
    with pytest.raises(agent.StepFailed, match="Could not fetch the image missing"):
        agent.stream_image(
            portal, "write_image", f"{server}/missing", "sha256:" + "0" * 64, ["cat"]
        )


def test_configure_points_cloud_init_at_the_portal(tmp_path, monkeypatch):
    monkeypatch.setattr(agent, "TARGET", tmp_path)
    (tmp_path / "etc").mkdir()
    network = {"version": 1, "config": [{"type": "physical", "name": "uplink0"}]}
    agent.configure(
        {"hostname": "web-01", "ssh_keys": ["ssh-ed25519 AAAA me", " "], "network": network},
        "http://10.0.2.100",
    )
    assert (tmp_path / "etc/hostname").read_text() == "web-01\n"
    assert "127.0.1.1 web-01" in (tmp_path / "etc/hosts").read_text()
    keys = tmp_path / "root/.ssh/authorized_keys"
    assert keys.read_text() == "ssh-ed25519 AAAA me\n"
    assert keys.stat().st_mode & 0o777 == 0o600
    config = (tmp_path / "etc/cloud/cloud.cfg.d/90_ironyard.cfg").read_text().splitlines()
    # cloud-init's ds-identify matches this line as it is.
    assert "datasource_list: [NoCloud, None]" in config
    assert 'datasource: {NoCloud: {seedfrom: "http://10.0.2.100/nocloud/"}}' in config
    written = (tmp_path / "etc/cloud/cloud.cfg.d/91_ironyard_network.cfg").read_text()
    assert json.loads(written) == {"network": network}


def test_the_portals_5xx_are_retried_and_its_4xx_stop_the_agent(server):
    Portal.fail_first = 2
    portal = agent.Portal(server, "tok", retries=3, retry_delay=0)
    portal.report("wipe_disks", 0, "Wiping", now=True)
    assert len(Portal.calls) == 3  # two 503s, then the call that counted
    with pytest.raises(agent.Stopped, match="404"):
        agent.Portal(server, "tok", retries=3, retry_delay=0).call("GET", "instructions")


def test_the_agent_imports_the_standard_library_only():
    # It runs under the ramdisk's bare Python: nothing of the portal's, nothing from PyPI.
    tree = ast.parse(Path(agent.__file__).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
        )
    }
    assert imported and imported <= sys.stdlib_module_names | {"__future__"}, imported


def test_the_filesystem_labels_fit_their_filesystems():
    # mkfs refuses longer ones, and only on the machine: FAT takes 11 characters, ext4 16.
    assert len(agent.ESP_LABEL) <= 11 and len(agent.ROOT_LABEL) <= 16
