"""The rack's real VMs as far as they show without booting one: their specs, the QEMU command
their BMC's boot override turns into, and what the state file tells scripts about them.
(Booting them: tests/e2e/test_real_vms.py.)"""

import json
import shutil

import pytest

from provisioning.virtualrack import RackConfig, VirtualRack
from provisioning.virtualrack.config import VM_DISKS, build_specs
from provisioning.virtualrack.vm import GUEST_PORTAL, RELAY, VmServer, accelerator

needs_qemu_img = pytest.mark.skipif(
    shutil.which("qemu-img") is None, reason="needs qemu-img (qemu-utils; .ci/run installs it)"
)


def test_vms_come_after_the_simulated_servers_with_their_own_identities():
    config = RackConfig(servers=3, vms=3, vm_uefi_every=3, ipmi_every=2)
    specs = build_specs(config)
    vms = specs[3:]
    assert [s.name for s in vms] == ["vm01", "vm02", "vm03"]
    assert [s.index for s in vms] == [4, 5, 6]
    assert [s.firmware for s in vms] == ["bios", "bios", "uefi"]
    assert [s.bmc_driver for s in vms] == ["redfish", "ipmi", "redfish"]
    assert all(s.plan == "v1.small.x86" and s.facility == "sv15" for s in vms)
    assert all(s.disks == VM_DISKS for s in vms)
    macs = [m for s in specs for m in s.macs]
    assert len(macs) == len(set(macs))
    assert not any(s.firmware for s in specs[:3])


@pytest.mark.parametrize(("servers", "vms"), [(0, 0), (1, 65), (65535, 1)])
def test_impossible_racks_are_refused(servers, vms):
    with pytest.raises(ValueError, match="a rack has"):
        RackConfig(servers=servers, vms=vms).validate()


@pytest.fixture
def vm_rack(tmp_path):
    config = RackConfig(
        servers=0,
        vms=2,
        vm_uefi_every=2,
        portal_url="http://127.0.0.1:8123",
        state_file=str(tmp_path / "rack.json"),
    )
    rack = VirtualRack(config)
    rack.servers = {s.name: VmServer(s, rack) for s in rack.specs}
    return rack


def test_a_network_boot_is_one_time_on_bios_and_first_in_order_on_uefi(vm_rack, tmp_path):
    bios, uefi = vm_rack.servers["vm01"], vm_rack.servers["vm02"]
    for vm in (bios, uefi):
        vm.folder, vm.ssh_port, vm.address = tmp_path / vm.name, 2222, "127.11.0.9"
    once = bios.command(network_first=True)
    assert once[once.index("-boot") + 1] == "once=n,order=c"
    disk = bios.command(network_first=False)
    assert disk[disk.index("-boot") + 1] == "order=c"
    assert not any("bootindex" in word for word in once)

    first, later = uefi.command(network_first=True), uefi.command(network_first=False)
    assert "-boot" not in first
    assert any(w.startswith("virtio-net-pci") and w.endswith("bootindex=1") for w in first)
    assert any(w.startswith("virtio-net-pci") and w.endswith("bootindex=9") for w in later)
    assert any("OVMF_CODE" in w and "readonly=on" in w for w in first)
    assert first[first.index("-machine") + 1] == "q35"


def test_the_guest_reaches_only_the_portal_from_the_machines_address_and_ssh(vm_rack, tmp_path):
    vm = vm_rack.servers["vm01"]
    vm.folder, vm.ssh_port, vm.address = tmp_path, 2222, "127.11.0.9"
    command = vm.command(network_first=True)
    netdev = command[command.index("-netdev") + 1]
    assert netdev.startswith("user,id=n0,restrict=on,")
    assert f"guestfwd=tcp:{GUEST_PORTAL}:80-cmd:" in netdev
    assert f"{RELAY} 127.0.0.1 8123 127.11.0.9," in netdev
    assert f"bootfile=http://{GUEST_PORTAL}/boot/ipxe" in netdev
    assert netdev.endswith("hostfwd=tcp:127.0.0.1:2222-:22")
    assert f"mac={vm.spec.macs[0]}" in " ".join(command)
    # Not enrolled (no address from the rack's DHCP): the portal will not know who calls.
    vm.address = None
    assert (
        " 127.0.0.1 8123 127.0.0.1," in vm.command(network_first=True)[command.index("-netdev") + 1]
    )


def test_the_accelerator_is_detected_and_explained():
    accel, why = accelerator()
    assert accel in ("kvm", "tcg") and why


@needs_qemu_img
def test_the_state_file_lists_each_vms_ssh_endpoint_and_console(tmp_path):
    config = RackConfig(
        servers=1,
        vms=1,
        portal_url="http://127.0.0.1:8123",
        bmc_port=0,
        ipmi_port=0,
        state_file=str(tmp_path / "rack.json"),
    )
    with VirtualRack(config) as rack:
        vm = rack.servers["vm01"]
        listed = {s["name"]: s for s in json.loads((tmp_path / "rack.json").read_text())["servers"]}
        assert listed["vm01"]["ssh"] == f"127.0.0.1:{vm.ssh_port}" and vm.ssh_port > 0
        assert listed["vm01"]["firmware"] == "bios"
        assert listed["vm01"]["serial_log"] == str(tmp_path / "vms" / "vm01" / "serial.log")
        assert [p.rsplit("/", 1)[-1] for p in listed["vm01"]["disks"]] == ["vda.qcow2", "vdb.qcow2"]
        assert "ssh" not in listed["node01"]
        # Fresh, empty disks of the plan's sizes.
        assert all(
            (tmp_path / "vms" / "vm01" / name).exists() for name in ("vda.qcow2", "vdb.qcow2")
        )
