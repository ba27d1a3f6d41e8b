"""`manage.py dhcp_config`: the DHCP configuration generated from Ironyard's records, checked by
dnsmasq itself and served by it, in network namespaces of the test's own, to DHCP clients with an
enrolled machine's MAC and with a stranger's."""

import io
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inventory import dhcp
from inventory.models import Machine, MachineNic, ProvisioningNetwork
from tests.inventory import factories as inv

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"
needs_dnsmasq = pytest.mark.skipif(
    not os.path.exists(DNSMASQ),
    reason="needs dnsmasq: apt-get install -y dnsmasq-base (.ci/run installs it)",
)


@pytest.fixture
def facility(db):
    """sv15 with one provisioning network, two enrolled machines and a retired one."""
    facility = inv.make_facility(inv.make_metro("sv"), "sv15")
    facility.provisioning_networks.all().delete()
    ProvisioningNetwork.objects.create(
        facility=facility, network="10.250.0.0/24", gateway="10.250.0.1"
    )
    first, _, retired = (inv.make_machine(facility, None) for _ in range(3))
    MachineNic.objects.create(machine=first, name="eth1", mac_address="52:54:00:aa:bb:02")
    MachineNic.objects.filter(machine=first, name="eth0").update(mac_address="52:54:00:aa:bb:01")
    Machine.objects.filter(pk=retired.pk).update(
        state=Machine.State.RETIRED, provisioning_network=None, provisioning_address=None
    )
    return facility


def config(*args) -> str:
    out = io.StringIO()
    call_command("dhcp_config", *args, stdout=out)
    return out.getvalue()


def test_the_configuration_reserves_each_machines_macs_and_nothing_else(facility, settings):
    settings.BOOT_BASE_URL = "http://10.250.0.1:8000"
    text = config("--facility", "sv15")
    lines = text.splitlines()
    hosts = [line for line in lines if line.startswith("dhcp-host=")]
    machines = Machine.objects.exclude(state=Machine.State.RETIRED).order_by("pk")
    expected = []
    for machine in machines:
        macs = ",".join(machine.nics.order_by("pk").values_list("mac_address", flat=True))
        expected.append(f"dhcp-host={macs},{machine.provisioning_address},{machine.name}")
    assert sorted(hosts) == sorted(expected)
    assert "dhcp-host=52:54:00:aa:bb:01,52:54:00:aa:bb:02,10.250.0.2," in text
    assert "dhcp-ignore=tag:!known" in lines
    assert "dhcp-range=set:prov1,10.250.0.0,static,255.255.255.0,12h" in lines
    assert "dhcp-option=tag:prov1,option:router,10.250.0.1" in lines
    assert "dhcp-boot=tag:ipxe,http://10.250.0.1:8000/boot/ipxe" in lines


def test_the_hosts_file_form_for_dnsmasqs_sighup(facility, tmp_path):
    hosts = config("--facility", "sv15", "--hosts").splitlines()
    assert hosts[0].startswith("52:54:00:aa:bb:01,52:54:00:aa:bb:02,10.250.0.2,")
    assert len(hosts) == 2
    text = config("--facility", "sv15", "--hosts-file", str(tmp_path / "hosts"))
    assert f"dhcp-hostsfile={tmp_path / 'hosts'}" in text
    assert "dhcp-host=" not in text


def test_a_name_that_is_not_a_host_name_is_left_out(facility):
    Machine.objects.filter(provisioning_address="10.250.0.2").update(name="Rack 4 / slot 7")
    [reservation, _] = dhcp.reservations(facility)
    assert (reservation.address, reservation.hostname) == ("10.250.0.2", "")


def test_unknown_facilities_and_facilities_without_a_network_are_errors(facility):
    with pytest.raises(CommandError, match="Unknown facility 'xx1'"):
        config("--facility", "xx1")
    inv.make_facility(facility.metro, "sv16").provisioning_networks.all().delete()
    with pytest.raises(CommandError, match="no provisioning network"):
        config("--facility", "sv16")


@needs_dnsmasq
def test_dnsmasq_accepts_the_configuration(facility, tmp_path):
    path = tmp_path / "dnsmasq.conf"
    path.write_text(config("--facility", "sv15", "--boot-url", "http://10.250.0.1:8000"))
    checked = subprocess.run(  # noqa: S603 - fixed argv
        [DNSMASQ, "--test", "-C", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax check OK" in checked.stderr


class Namespaces:
    """A DHCP server namespace and a client namespace joined by a veth pair (made and removed
    by the test; nothing leaves them)."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.server, self.client = f"iy-dhcp-s-{tag}", f"iy-dhcp-c-{tag}"
        self.server_link, self.client_link = f"iys{tag}", f"iyc{tag}"

    def __enter__(self):
        for command in (
            ["ip", "netns", "add", self.server],
            ["ip", "netns", "add", self.client],
            ["ip", "link", "add", self.server_link, "type", "veth", "peer", self.client_link],
            ["ip", "link", "set", self.server_link, "netns", self.server],
            ["ip", "link", "set", self.client_link, "netns", self.client],
            ["ip", "-n", self.server, "addr", "add", "10.250.0.1/24", "dev", self.server_link],
            ["ip", "-n", self.server, "link", "set", self.server_link, "up"],
            ["ip", "-n", self.client, "link", "set", self.client_link, "up"],
        ):
            subprocess.run(command, check=True, capture_output=True)  # noqa: S603
        return self

    def __exit__(self, *exc_info):
        for namespace in (self.server, self.client):
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)  # noqa: S603, S607

    def lease(self, mac: str, tmp_path: Path, *options: str) -> dict[str, str]:
        """What a DHCP client with `mac` is offered (empty: nothing)."""
        subprocess.run(  # noqa: S603
            ["ip", "-n", self.client, "link", "set", self.client_link, "address", mac],  # noqa: S607
            check=True,
            capture_output=True,
        )
        out = tmp_path / f"lease-{uuid.uuid4().hex[:6]}"
        script = tmp_path / "udhcpc.sh"
        script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && env > {out}\nexit 0\n')
        script.chmod(0o755)
        extra = [arg for option in options for arg in ("-x", option)]
        subprocess.run(  # noqa: S603
            ["ip", "netns", "exec", self.client, BUSYBOX, "udhcpc", "-i", self.client_link,  # noqa: S607
             "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", str(script), *extra],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        if not out.exists():
            return {}
        return dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)


def _can_make_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and os.path.exists(BUSYBOX)


@needs_dnsmasq
@pytest.mark.skipif(
    not _can_make_namespaces(),
    reason="needs root, iproute2 and busybox (udhcpc) to make network namespaces",
)
def test_dnsmasq_serves_the_reservations_and_boot_files(facility, tmp_path):
    path = tmp_path / "dnsmasq.conf"
    path.write_text(config("--facility", "sv15", "--boot-url", "http://10.250.0.1:8000"))
    with Namespaces() as net:
        server = subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", net.server, DNSMASQ, "-C", str(path), "--keep-in-foreground",  # noqa: S607
             f"--interface={net.server_link}", "--bind-interfaces",
             f"--dhcp-leasefile={tmp_path / 'leases'}", f"--pid-file={tmp_path / 'pid'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            enrolled = "52:54:00:aa:bb:02"  # the machine's second NIC: any of its MACs boots
            pxe = net.lease(enrolled, tmp_path)
            assert (pxe.get("ip"), pxe.get("router")) == ("10.250.0.2", "10.250.0.1")
            assert pxe.get("boot_file") == dhcp.IPXE_BIOS
            # x86-64 UEFI firmware (option 93 = 7) gets iPXE's EFI build.
            uefi = net.lease(enrolled, tmp_path, "0x5d:0007")
            assert uefi.get("boot_file") == dhcp.IPXE_UEFI
            # iPXE itself (user class "iPXE") is sent on to the portal.
            ipxe = net.lease(enrolled, tmp_path, "0x4d:69505845")
            assert ipxe.get("boot_file") == "http://10.250.0.1:8000/boot/ipxe"
            assert ipxe.get("ip") == "10.250.0.2"
            # A MAC Ironyard did not enroll gets nothing at all.
            assert net.lease("52:54:00:aa:bb:99", tmp_path) == {}
        finally:
            server.terminate()
            server.communicate(timeout=10)
