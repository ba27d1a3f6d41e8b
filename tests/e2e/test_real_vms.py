"""Real provisioning on real (virtual) machines: QEMU VMs with real firmware, driven through
their BMCs by the worker, network-boot Ironyard's installer from the live portal, which writes
the Debian image Ironyard built onto their disks; the installed system runs cloud-init against
the portal's metadata service and lets us in over SSH. Everything goes through the Metal API
with the real `equinix.services.metalv1` client."""

import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from equinix.services import metalv1

from inventory.models import Machine
from provisioning.models import Device
from tests import factories
from tests.waiting import wait_until

pytestmark = [pytest.mark.live, pytest.mark.vm, pytest.mark.django_db(transaction=True)]

# Under TCG on two cores: the installer's boot, a 140 MB image, the first boot's cloud-init.
DEPLOY_TIMEOUT = 600
MiB = 1024 * 1024


class Ssh:
    """`ssh root@127.0.0.1 -p PORT` with a key of our own."""

    def __init__(self, folder: Path):
        key = Ed25519PrivateKey.generate()
        self.identity = folder / "id_ed25519"
        self.identity.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
        self.identity.chmod(0o600)
        self.public = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
            + " e2e@ironyard"
        )

    def run(self, endpoint: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        host, port = endpoint.rsplit(":", 1)
        return subprocess.run(  # noqa: S603
            [  # noqa: S607
                "ssh",
                *("-i", str(self.identity), "-p", port),
                *("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"),
                *("-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"),
                *("-o", "ConnectTimeout=10"),
                f"root@{host}",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def wait(self, endpoint: str, timeout: float) -> float:
        """Seconds until a login works (a command runs)."""
        started = time.monotonic()
        wait_until(
            lambda: self.run(endpoint, "true").returncode == 0,
            timeout,
            interval=2,
            what=f"an SSH login on {endpoint}",
        )
        return time.monotonic() - started


def metal(live_server, token: str) -> metalv1.ApiClient:
    conf = metalv1.Configuration(host=live_server.url + "/metal/v1")
    conf.api_key["x_auth_token"] = token
    return metalv1.ApiClient(conf)


def wait_for_state(devices, device_id: str, state: str, vm_e2e, timeout: float = DEPLOY_TIMEOUT):
    def reached():
        device = devices.find_device_by_id(device_id)
        if device.state == "failed" and state != "failed":
            current = Device.objects.get(uuid=device_id)
            pytest.fail(f"failed: {current.failure_reason}\n{vm_e2e.worker.tail()}")
        return device if device.state == state else None

    return wait_until(reached, timeout, interval=1, what=f"{device_id} to be {state}")


def test_deploy_ssh_reinstall_rescue_delete_on_a_real_vm(vm_e2e, tmp_path):
    owner = factories.make_user("vera@example.com")
    org = factories.make_org(owner, "Vera Co")
    project = factories.make_project(org)
    ssh = Ssh(tmp_path)
    api = metal(vm_e2e.live_server, factories.make_token(owner))
    metalv1.SSHKeysApi(api).create_ssh_key(
        metalv1.SSHKeyCreateInput(label="laptop", key=ssh.public)
    )
    devices = metalv1.DevicesApi(api)
    started = time.monotonic()
    created = devices.create_device(
        str(project.uuid),
        metalv1.CreateDeviceRequest(
            metalv1.DeviceCreateInMetroInput(
                metro=metalv1.MetroInputMetro("sv"),
                hostname="real-01",
                plan="v1.small.x86",
                operating_system="debian_12",
                userdata="#cloud-config\nwrite_files:\n"
                "  - path: /root/from-userdata\n    content: written by cloud-init\n",
            )
        ),
    )
    device_id = str(created.id)
    machine = Machine.objects.get(device__uuid=device_id)
    vm = vm_e2e.rack.servers[machine.name]
    active = wait_for_state(devices, device_id, "active", vm_e2e)
    to_active = time.monotonic() - started
    endpoint = vm.describe()["ssh"]
    ssh.wait(endpoint, 120)
    print(
        f"{machine.name}: active after {to_active:.0f} s, SSH after {time.monotonic() - started:.0f} s"
    )

    facts = ssh.run(
        endpoint,
        "hostname; cat /root/from-userdata; cat /root/.ssh/authorized_keys; cat /proc/cmdline;"
        " ip -o addr show",
    )
    assert facts.returncode == 0, facts.stderr
    out = facts.stdout
    assert out.splitlines()[0] == "real-01"
    assert "written by cloud-init" in out
    assert ssh.public.split()[1] in out
    assert "root=LABEL=ironyard-root" in out and "ironyard.agent" not in out
    for address in active.ip_addresses:
        assert f" {address.address}/" in out, (address.address, out)
