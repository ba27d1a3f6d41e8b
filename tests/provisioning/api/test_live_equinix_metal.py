"""equinix-metal 0.11.0 through the device story (see equinix_metal_story.py). It pins urllib3
below what equinix 0.19.0 needs, so it runs in its own virtualenv (tests/clients/), as a child
process against the HTTPS live server, with a real worker and the virtual rack behind it."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import factories
from tests.e2e.conftest import e2e  # noqa: F401 - the fixture, for this module

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
PYTHON = ROOT / ".venv-equinix-metal" / "bin" / "python"
STORY = Path(__file__).with_name("equinix_metal_story.py")


def test_equinix_metal_story(e2e, tls_live_server):  # noqa: F811
    assert PYTHON.exists(), "run `make test` once: it creates .venv-equinix-metal"
    owner = factories.make_user("emma@example.com")
    org = factories.make_org(owner, "Emma Co")
    foreign = factories.make_project(factories.make_org(factories.make_user("x@example.com")))
    env = {
        **os.environ,
        "METAL_URL": f"{tls_live_server.url}/metal/v1",
        "METAL_CA": str(tls_live_server.ca_path),
        "METAL_TOKEN": factories.make_token(owner),
        "METAL_READ_ONLY_TOKEN": factories.make_token(owner, read_only=True),
        "METAL_ORG": str(org.uuid),
        "METAL_FOREIGN": str(foreign.uuid),
        "METAL_SSH_KEY": factories.new_ssh_public_key(),
    }
    run = subprocess.run(  # noqa: S603 - our own script in our own virtualenv
        [str(PYTHON), str(STORY)], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-4000:] + e2e.worker.tail()
    seen = json.loads(run.stdout)
    assert "c3.small.x86" in seen["plans"] and "sv" in seen["metros"]
    assert "debian_12" in seen["oses"] and seen["available"] is True
    assert seen["created_by"] == owner.uuid.hex[:8]
    assert seen["pages"] == ["em-1"]
    assert seen["os"] == "debian_12"
    assert seen["events"][-1] == "device.created"
    assert {"device.power_off", "device.power_on", "device.reboot", "device.reinstall"} <= set(
        seen["events"]
    )
    assert seen["ips"] == [[4, False], [4, True], [6, True]]
    assert seen["updated"] == ["em-2", ["t"]]
    assert seen["deleted_state"] == "deprovisioning"
    assert seen["refusals"] == [422, 404, 403, 401]
