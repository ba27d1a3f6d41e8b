"""Real provisioning on real (virtual) machines: QEMU VMs with real firmware, driven through
their BMCs by the worker, network-boot Ironyard's installer from the live portal, which writes
the Debian image Ironyard built onto their disks; the installed system runs cloud-init against
the portal's metadata service and lets us in over SSH. Everything goes through the Metal API
with the real `equinix.services.metalv1` client."""

import subprocess
import time
from pathlib import Path

import pytest
from equinix.services import metalv1

from inventory.models import Machine, OperatingSystem
from portal.models import Event
from provisioning.models import Device
from provisioning.virtualrack import ssh
from tests import factories
from tests.waiting import wait_until

pytestmark = [pytest.mark.live, pytest.mark.vm, pytest.mark.django_db(transaction=True)]

# Under TCG on two cores: the installer's boot, a 140 MB image, the first boot's cloud-init.
DEPLOY_TIMEOUT = 600
MiB = 1024 * 1024


class Ssh:
    """Logging in as the device's owner, with a key of our own."""

    def __init__(self, folder: Path):
        self.identity = folder / "id_ed25519"
        self.public = ssh.new_key(self.identity, "e2e@ironyard")

    def run(self, endpoint: str, command: str, timeout: float = 60):
        return ssh.run(endpoint, self.identity, command, timeout)

    def wait(self, endpoint: str, timeout: float) -> float:
        """Seconds until a login works."""
        started = time.monotonic()
        wait_until(
            lambda: ssh.can_log_in(endpoint, self.identity),
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


def disk_ends(path: Path) -> tuple[bytes, bytes]:
    """The first and last MiB of a VM's qcow2 disk (the VM off), as the guest would read
    them (through a sparse raw copy)."""
    raw = path.with_suffix(".raw")
    subprocess.run(  # noqa: S603
        ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(path), str(raw)],  # noqa: S607
        capture_output=True,
        check=True,
    )
    try:
        with raw.open("rb") as disk:
            first = disk.read(MiB)
            disk.seek(-MiB, 2)
            return first, disk.read(MiB)
    finally:
        raw.unlink()


def timeline(device_id: str) -> list[str]:
    """The device's timeline entries, oldest first."""
    return list(
        Event.objects.filter(relations__object_id=device_id)
        .order_by("created_at", "id")
        .values_list("body", flat=True)
    )


def take(machine_name: str, others_away: list[str]) -> None:
    """Make the allocator pick `machine_name`: the other VMs go to maintenance meanwhile, as
    an operator would take them out."""
    Machine.objects.filter(name__in=others_away).update(state=Machine.State.MAINTENANCE)


@pytest.fixture
def owner_api(vm_e2e, tmp_path):
    owner = factories.make_user("vera@example.com")
    project = factories.make_project(factories.make_org(owner, "Vera Co"))
    ssh = Ssh(tmp_path)
    api = metal(vm_e2e.live_server, factories.make_token(owner))
    metalv1.SSHKeysApi(api).create_ssh_key(
        metalv1.SSHKeyCreateInput(label="laptop", key=ssh.public)
    )
    yield str(project.uuid), metalv1.DevicesApi(api), ssh
    # pytest-django's live server keeps a request thread, and its database connection, for as
    # long as the client keeps the HTTP connection alive: hang up, or those sessions are still
    # on the test database when it is dropped.
    api.rest_client.pool_manager.clear()


def create(devices, project_id: str, hostname: str, operating_system: str = "debian_12", **extra):
    return str(
        devices.create_device(
            project_id,
            metalv1.CreateDeviceRequest(
                metalv1.DeviceCreateInMetroInput(
                    metro=metalv1.MetroInputMetro("sv"),
                    hostname=hostname,
                    plan="v1.small.x86",
                    operating_system=operating_system,
                    **extra,
                )
            ),
        ).id
    )


def test_a_real_vm_deployed_logged_into_power_cycled_reinstalled_rescued_and_wiped(
    vm_e2e, owner_api
):
    project_id, devices, ssh = owner_api
    take("vm01", others_away=["vm02"])  # BIOS firmware, a Redfish BMC
    started = time.monotonic()
    device_id = create(
        devices,
        project_id,
        "real-01",
        userdata="#cloud-config\nwrite_files:\n"
        "  - path: /root/from-userdata\n    content: written by cloud-init\n",
    )
    vm = vm_e2e.rack.servers["vm01"]
    endpoint = vm.describe()["ssh"]
    active = wait_for_state(devices, device_id, "active", vm_e2e)
    to_active = time.monotonic() - started
    ssh.wait(endpoint, 120)
    print(f"vm01: active after {to_active:.0f} s, SSH after {time.monotonic() - started:.0f} s")

    # (sync: powering off through the BMC is a hard power off, as on hardware.)
    facts = ssh.run(
        endpoint,
        "hostname; cat /root/from-userdata; cat /root/.ssh/authorized_keys; cat /proc/cmdline;"
        " ip -o addr show; touch /root/before-reinstall; sync",
    )
    assert facts.returncode == 0, facts.stderr
    out = facts.stdout
    assert out.splitlines()[0] == "real-01"
    assert "written by cloud-init" in out
    assert ssh.public.split()[1] in out
    # Booted from its disk, not from the network.
    assert "root=LABEL=ironyard-root" in out and "ironyard.agent" not in out
    # The addresses the metadata service gives the device are on its NIC.
    assert len(active.ip_addresses) == 3
    for address in active.ip_addresses:
        assert f" {address.address}/" in out, (address.address, out)
    entries = timeline(device_id)
    assert any(
        "Image on /dev/vda (4.3 GB, the smallest disk with at least 2 GB)" in e for e in entries
    ), entries

    # Power through the BMC: off stops the VM, on boots the same disk. A hard power-off soon
    # after the first boot can lose the host keys' contents; sshd must come up regardless.
    lost = ssh.run(endpoint, "for k in /etc/ssh/ssh_host_*_key; do : > $k; done; sync")
    assert lost.returncode == 0, lost.stderr
    devices.perform_action(device_id, metalv1.DeviceActionInput(type="power_off"))
    wait_for_state(devices, device_id, "inactive", vm_e2e, timeout=120)
    assert vm.status()["power"] == "off"
    devices.perform_action(device_id, metalv1.DeviceActionInput(type="power_on"))
    wait_for_state(devices, device_id, "active", vm_e2e, timeout=120)
    ssh.wait(endpoint, 180)
    assert ssh.run(endpoint, "test -e /root/before-reinstall").returncode == 0

    # Reinstall: a fresh disk (our file is gone), the user data run again.
    devices.perform_action(device_id, metalv1.DeviceActionInput(type="reinstall"))
    wait_for_state(devices, device_id, "reinstalling", vm_e2e, timeout=60)
    wait_for_state(devices, device_id, "active", vm_e2e)
    ssh.wait(endpoint, 180)
    after = ssh.run(endpoint, "ls /root; cat /root/from-userdata")
    assert after.returncode == 0, after.stderr
    assert "before-reinstall" not in after.stdout and "written by cloud-init" in after.stdout

    # Rescue: the installer's in-memory system, SSH for the device's keys.
    devices.perform_action(device_id, metalv1.DeviceActionInput(type="rescue"))
    wait_until(
        lambda: not Device.objects.get(uuid=device_id).operations.filter(state="running").exists(),
        300,
        interval=1,
        what="the rescue to be up",
    )
    ssh.wait(endpoint, 60)
    rescue = ssh.run(
        endpoint,
        "cat /proc/cmdline; cat /proc/mounts;"
        # Something on the second disk's both ends, for the wipe to take away.
        " printf IRONYARD | dd of=/dev/vdb conv=notrunc; size=$(blockdev --getsize64 /dev/vdb);"
        " printf IRONYARD | dd of=/dev/vdb bs=1 seek=$((size - 8)) conv=notrunc; sync",
    )
    assert rescue.returncode == 0, rescue.stderr
    assert "ironyard.agent=" in rescue.stdout
    assert " / ext4 " not in rescue.stdout  # nothing of the installed system is mounted

    # Delete: the disks are wiped and the machine goes back to the pool.
    devices.delete_device(device_id)
    machine = wait_until(
        lambda: Machine.objects.filter(name="vm01", state=Machine.State.AVAILABLE).first(),
        300,
        interval=1,
        what="vm01 to be available again",
    )
    assert machine.power_state == "off" and vm.status()["power"] == "off"
    wiped = [e for e in timeline(device_id) if e.startswith("Wiped ")]
    assert wiped and "/dev/vda" in wiped[-1] and "/dev/vdb" in wiped[-1], wiped
    for disk in vm.disk_paths():
        assert disk_ends(disk) == (bytes(MiB), bytes(MiB)), disk


def test_uefi_and_an_image_that_does_not_verify(vm_e2e, owner_api):
    project_id, devices, ssh = owner_api
    take("vm02", others_away=["vm01"])  # UEFI firmware (OVMF), an IPMI BMC
    good = vm_e2e.os
    bad = OperatingSystem.objects.create(
        slug="debian_12_tampered",
        name="Debian 12 (tampered)",
        distro="debian",
        version="12",
        kernel_url=good.kernel_url,
        initrd_url=good.initrd_url,
        image_url=good.image_url,
        image_format=good.image_format,
        image_checksum="sha256:" + "0" * 64,
    )
    bad.provisionable_on.set(good.provisionable_on.all())

    failed_id = create(devices, project_id, "tampered-01", operating_system="debian_12_tampered")
    wait_for_state(devices, failed_id, "failed", vm_e2e, timeout=DEPLOY_TIMEOUT)
    reason = Device.objects.get(uuid=failed_id).failure_reason
    assert (
        reason.startswith("write_image: The image's SHA-256") and "is not the catalogue's" in reason
    )
    # The image is to blame, not the machine: it is wiped when the device goes, then reused.
    devices.delete_device(failed_id)
    wait_until(
        lambda: Machine.objects.filter(name="vm02", state=Machine.State.AVAILABLE).first(),
        300,
        interval=1,
        what="vm02 to be wiped and available",
    )

    started = time.monotonic()
    device_id = create(devices, project_id, "uefi-01")
    wait_for_state(devices, device_id, "active", vm_e2e)
    endpoint = vm_e2e.rack.servers["vm02"].describe()["ssh"]
    ssh.wait(endpoint, 120)
    print(f"vm02 (UEFI): SSH after {time.monotonic() - started:.0f} s")
    facts = ssh.run(
        endpoint, "hostname; test -d /sys/firmware/efi && echo uefi; ls /boot/efi/EFI/BOOT"
    )
    assert facts.returncode == 0, facts.stderr
    assert facts.stdout.split() == ["uefi-01", "uefi", "BOOTX64.EFI"]
