"""Real iPXE firmware (Debian's ipxe-qemu ROM in QEMU, TCG) network-boots against the portal.

The guest can reach nothing but 10.0.2.100:80 (`restrict=on`), which QEMU forwards through the
virtual rack's relay.py to the live server. The boot file is /boot/ipxe without a MAC, so the
portal's first answer must make iPXE come back with its MAC, UUID and serial; the second is the
installer script. Its kernel URL points back at the portal and 404s, so iPXE stops there and
the machine "reboots", which -no-reboot turns into QEMU exiting.
"""

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from django.core.signals import request_started

from inventory.models import IPBlock, Machine, MachineNic
from provisioning import services
from provisioning.models import Operation, Step
from provisioning.virtualrack import vm
from tests.inventory import factories as inv

QEMU = "/usr/bin/qemu-system-x86_64"
ROM = "/usr/lib/ipxe/qemu/pxe-e1000.rom"
RELAY = vm.RELAY
GUEST_PORTAL = "10.0.2.100"
MAC = "52:54:00:1e:0a:01"
BOOT_TIMEOUT = 60

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (os.path.exists(QEMU) and os.path.exists(ROM)),
        reason=f"needs {QEMU} and {ROM}: apt-get install -y --no-install-recommends "
        "qemu-system-x86 ipxe-qemu (.ci/run installs them)",
    ),
]


@pytest.fixture
def portal_requests():
    """Every request the live server receives: (method, path, query, peer, user agent)."""
    seen: list[dict] = []

    def record(sender, environ, **kwargs):
        seen.append(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ["PATH_INFO"],
                "query": urllib.parse.parse_qs(environ.get("QUERY_STRING", "")),
                "peer": environ.get("REMOTE_ADDR"),
                "agent": environ.get("HTTP_USER_AGENT", ""),
            }
        )

    request_started.connect(record, weak=False)
    yield seen
    request_started.disconnect(record)


@pytest.fixture
def waiting_device(transactional_db, alice, web):
    """A device whose provisioning waits on the installer, on a machine with our MAC."""
    metro = inv.make_metro("sv")
    # A facility of its own: the provision task published for it goes to a queue (site.ipxe1)
    # that no worker of any other test consumes.
    facility = inv.make_facility(metro, "ipxe1")
    plan = inv.make_plan("c3.small.x86", metros=[metro])
    os_ = inv.make_os("ubuntu_24_04", plans=[plan])
    # Served by the portal itself (a 404), so iPXE fails fast instead of resolving DNS.
    os_.kernel_url = f"http://{GUEST_PORTAL}/images/vmlinuz"
    os_.initrd_url = f"http://{GUEST_PORTAL}/images/initrd"
    os_.save()
    IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/24", metro=metro)
    IPBlock.objects.create(kind="private_ipv4", network="10.70.0.0/24", metro=metro)
    IPBlock.objects.create(kind="public_ipv6", network="2001:db8:70::/56", metro=metro)
    machine = inv.make_machine(facility, plan)
    MachineNic.objects.filter(machine=machine).update(mac_address=MAC)
    # A serial with a space and a colon: the chain script must escape it into the query.
    Machine.objects.filter(pk=machine.pk).update(system_uuid=uuid.uuid4(), serial_number="SN 42:7")
    machine.refresh_from_db()
    [device] = services.create_devices(
        project=web,
        acting_user=alice,
        request=services.DeviceRequest(
            plan=plan, operating_system=os_, metros=[metro], hostnames=["pxe-01"]
        ),
    )
    operation = device.operations.get(state=Operation.State.RUNNING)
    operation.steps.filter(name__in=["set_boot_pxe", "power_cycle"]).update(state=Step.State.DONE)
    operation.steps.filter(name="await_agent").update(state=Step.State.WAITING)
    return device


def _boot(live_server, machine: Machine, log_dir: Path) -> tuple[int, float]:
    host, port = urllib.parse.urlsplit(live_server.url).netloc.rsplit(":", 1)
    # The guest reaches the portal from the address Ironyard gave the machine, as it would with
    # DHCP serving Ironyard's reservations on a real provisioning network.
    relay = f"{sys.executable} {RELAY} {host} {port} {machine.provisioning_address} {log_dir}"
    command = [
        QEMU,
        *("-accel", "tcg", "-m", "256", "-display", "none", "-vga", "std", "-serial", "none"),
        "-smbios",
        f"type=1,uuid={machine.system_uuid},serial={machine.serial_number}",
        "-netdev",
        f"user,id=n0,restrict=on,guestfwd=tcp:{GUEST_PORTAL}:80-cmd:{relay},"
        f"bootfile=http://{GUEST_PORTAL}/boot/ipxe",
        "-device",
        f"e1000,netdev=n0,mac={MAC},romfile={ROM}",
        *("-boot", "order=n,reboot-timeout=0", "-no-reboot"),
    ]
    started = time.monotonic()
    # A session of its own, so the relays QEMU spawned end with it.
    process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=BOOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"QEMU did not finish within {BOOT_TIMEOUT}s: {output.decode()[-2000:]}")
    finally:
        # Relays still open (none, normally) go with QEMU's session; gone already is fine.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, time.monotonic() - started


def test_real_ipxe_boots_the_installer(
    live_server, settings, waiting_device, portal_requests, tmp_path
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, GUEST_PORTAL]
    machine = waiting_device.machine
    returncode, seconds = _boot(live_server, machine, tmp_path)
    print(f"QEMU iPXE boot took {seconds:.1f}s")  # shown with -s or -rA
    assert returncode == 0

    ipxe = [r for r in portal_requests if r["agent"].startswith("iPXE/")]
    paths = [(r["path"], sorted(r["query"])) for r in ipxe]
    # 1. the boot file, no identity yet; 2. the chain back with MAC, UUID and serial;
    # 3. the installer kernel the script named (a 404 here, which ends the boot).
    assert paths[:3] == [
        ("/boot/ipxe", []),
        ("/boot/ipxe", ["mac", "serial", "uuid"]),
        ("/images/vmlinuz", []),
    ], paths
    query = ipxe[1]["query"]
    assert query["mac"] == [MAC.replace(":", "-")]
    assert query["uuid"] == [str(machine.system_uuid)]
    assert query["serial"] == [machine.serial_number]

    assert {r["peer"] for r in ipxe} == {machine.provisioning_address}

    answers = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("response-*.bin")))
    kernel = re.search(rb"^kernel (\S+) (.*)$", answers, re.MULTILINE)
    assert kernel, answers.decode(errors="replace")[-2000:]
    assert kernel[1].decode() == f"http://{GUEST_PORTAL}/images/vmlinuz"
    arguments = dict(a.split("=", 1) for a in kernel[2].decode().split() if "=" in a)
    operation = waiting_device.operations.get(state=Operation.State.RUNNING)
    assert arguments["ironyard.operation"] == str(operation.uuid)

    # The token the firmware was given is the one the agent API accepts, from the machine.
    token = arguments["ironyard.token"]
    status, body = _instructions(live_server, token, machine.provisioning_address)
    assert status == 200
    assert body["operation"] == {"id": str(operation.uuid), "type": "provision"}
    assert [s["name"] for s in body["steps"]] == ["wipe_disks", "write_image", "configure"]
    assert _instructions(live_server, token[::-1], machine.provisioning_address)[0] == 401
    # Anywhere else, the same token is refused.
    assert _instructions(live_server, token, "127.0.0.1")[0] == 403


def _instructions(live_server, token: str, source: str) -> tuple[int, dict]:
    """GET the agent's instructions with a token, from a source address."""
    host, port = urllib.parse.urlsplit(live_server.url).netloc.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        connection.request(
            "GET", "/boot/agent/v1/instructions", headers={"Authorization": f"Bearer {token}"}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()
