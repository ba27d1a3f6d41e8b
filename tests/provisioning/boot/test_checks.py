"""`check --deploy` refuses a boot path open to every address; `make check-deploy` (what CI
runs) with it open fails."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

ROOT = Path(__file__).resolve().parents[3]


def found(*, deploy: bool) -> set[str]:
    return {m.id for m in checks.run_checks(tags=["security"], include_deployment_checks=deploy)}


def test_deploy_check_refuses_an_open_boot_path(settings):
    settings.BOOT_ALLOWED_NETWORKS = []
    assert "ironyard.E004" in found(deploy=True)
    assert "ironyard.E004" not in found(deploy=False)  # the demo may run open
    settings.BOOT_ALLOWED_NETWORKS = ["10.250.0.0/16"]
    assert "ironyard.E004" not in found(deploy=True)


def test_a_boot_network_that_is_not_a_network_is_an_error_anywhere(settings):
    settings.BOOT_ALLOWED_NETWORKS = ["10.250.0.0/16", "10.250.0.0/33"]
    with pytest.raises(SystemCheckError, match=r"ironyard\.E005.*10\.250\.0\.0/33"):
        call_command("check", "--tag", "security")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make (.ci/run installs it)")
@pytest.mark.parametrize(("networks", "passes"), [(None, True), ("", False)])
def test_make_check_deploy(networks, passes):
    env = {k: v for k, v in os.environ.items() if k != "BOOT_ALLOWED_NETWORKS"}
    if networks is not None:
        env["BOOT_ALLOWED_NETWORKS"] = networks
    result = subprocess.run(
        ["make", "-s", "check-deploy"],  # noqa: S607
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (result.returncode == 0) is passes, result.stdout + result.stderr
    assert ("ironyard.E004" in result.stderr + result.stdout) is not passes
