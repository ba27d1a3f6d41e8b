"""IpmiDriver against our pyghmi-based fake BMCs, all on 127.0.0.1."""

import time

import pytest

from inventory.bmc import (
    BmcAuthError,
    BmcTransientError,
    BmcUnsupportedError,
    BootDevice,
    BootOverride,
    PowerState,
)
from inventory.bmc.ipmi import DEFAULT_PORT, parse_address
from tests.emulators.process import EmulatorProcess
from tests.inventory.conftest import IPMI_MODULE, NODE1, NODE2
from tests.waiting import wait_until


def test_power_on_off_and_reset_read_back(ipmi_bmcs, make_driver):
    bmc = make_driver("ipmi", ipmi_bmcs["ipmi1"])
    assert bmc.power_state() is PowerState.OFF

    bmc.power_on()
    assert bmc.power_state() is PowerState.ON
    bmc.reset(force=True)
    assert bmc.power_state() is PowerState.ON

    bmc.power_off(force=False)
    assert bmc.power_state() is PowerState.OFF
    bmc.power_on()
    bmc.power_off(force=True)
    assert bmc.power_state() is PowerState.OFF


def test_reset_while_off_is_refused_with_the_completion_code(ipmi_bmcs, make_driver):
    bmc = make_driver("ipmi", ipmi_bmcs["ipmi1"])
    with pytest.raises(BmcUnsupportedError) as caught:
        bmc.reset(force=True)
    assert caught.value.raw.completion_code == 0xD5
    assert "not supported in present state" in caught.value.raw.message
    assert bmc.power_state() is PowerState.OFF


def test_pxe_once_is_consumed_by_the_next_power_on(ipmi_bmcs, make_driver):
    bmc = make_driver("ipmi", ipmi_bmcs["ipmi1"])
    assert bmc.boot_device() == BootOverride(None, persistent=False)

    bmc.set_boot_device(BootDevice.PXE, persistent=False)
    assert bmc.boot_device() == BootOverride(BootDevice.PXE, persistent=False)

    bmc.power_on()
    # No override left: the machine boots per its firmware order (its disk).
    assert bmc.boot_device() == BootOverride(None, persistent=False)


def test_pxe_once_is_consumed_by_a_reset(ipmi_bmcs, make_driver):
    bmc = make_driver("ipmi", ipmi_bmcs["ipmi1"])
    bmc.power_on()
    bmc.set_boot_device(BootDevice.PXE, persistent=False)
    bmc.reset(force=True)
    assert bmc.boot_device().device is None


@pytest.mark.parametrize("device", list(BootDevice))
def test_persistent_boot_device_survives_power_cycles(ipmi_bmcs, make_driver, device):
    bmc = make_driver("ipmi", ipmi_bmcs["ipmi1"])
    bmc.set_boot_device(device, persistent=True)
    for _ in range(2):
        bmc.power_on()
        bmc.power_off(force=True)
    assert bmc.boot_device() == BootOverride(device, persistent=True)


def test_inventory_from_guid_and_fru(ipmi_bmcs, make_driver):
    inventory = make_driver("ipmi", ipmi_bmcs["ipmi1"]).inventory()
    assert inventory.uuid == NODE1["uuid"]
    assert inventory.serial_number == "SN-0001"
    assert inventory.manufacturer == "Acme Servers"
    assert inventory.model == "R640"
    # IPMI has no standard way to report these; the driver must not invent them.
    assert inventory.cpu_count is None
    assert inventory.memory_gib is None
    assert inventory.nics == ()


def test_bmcs_in_one_process_are_independent(ipmi_bmcs, make_driver):
    first = make_driver("ipmi", ipmi_bmcs["ipmi1"])
    second = make_driver("ipmi", ipmi_bmcs["ipmi2"], username="root", password="other-pw")
    assert second.power_state() is PowerState.ON
    assert second.inventory().uuid == NODE2["uuid"]

    first.power_on()
    second.power_off(force=True)
    first.set_boot_device(BootDevice.PXE, persistent=True)
    assert (first.power_state(), second.power_state()) == (PowerState.ON, PowerState.OFF)
    assert second.boot_device().device is None

    # Credentials are per node.
    with pytest.raises(BmcAuthError):
        make_driver("ipmi", ipmi_bmcs["ipmi1"], username="root", password="other-pw").power_state()


def test_wrong_password_is_an_auth_error(ipmi_bmcs, make_driver):
    started = time.monotonic()
    with pytest.raises(BmcAuthError) as caught:
        make_driver("ipmi", ipmi_bmcs["ipmi1"], password="wrong").power_state()
    assert time.monotonic() - started < 2
    assert "Incorrect password" in caught.value.raw.message
    assert not caught.value.transient


def test_unknown_user_is_an_auth_error_without_waiting(ipmi_bmcs, make_driver):
    started = time.monotonic()
    with pytest.raises(BmcAuthError) as caught:
        make_driver("ipmi", ipmi_bmcs["ipmi1"], username="nobody").power_state()
    assert time.monotonic() - started < 2
    assert "Unauthorized name" in caught.value.raw.message


def test_closed_port_is_transient(closed_port, make_driver):
    started = time.monotonic()
    with pytest.raises(BmcTransientError):
        make_driver("ipmi", f"127.0.0.1:{closed_port}", timeout=10).power_state()
    assert time.monotonic() - started < 10


def test_second_session_to_the_same_bmc_works(ipmi_bmcs, make_driver):
    # pyghmi 1.6.19 hangs on the second login with str credentials; the driver passes bytes.
    first = make_driver("ipmi", ipmi_bmcs["ipmi1"])
    first.power_on()
    first.close()
    second = make_driver("ipmi", ipmi_bmcs["ipmi1"])
    assert second.power_state() is PowerState.ON
    assert first.power_state() is PowerState.ON  # logs in again after close()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.5", ("10.0.0.5", DEFAULT_PORT)),
        ("10.0.0.5:6230", ("10.0.0.5", 6230)),
        ("bmc-r1.example.net", ("bmc-r1.example.net", DEFAULT_PORT)),
        ("[fd00::5]", ("fd00::5", DEFAULT_PORT)),
        ("[fd00::5]:6231", ("fd00::5", 6231)),
        ("fd00::5", ("fd00::5", DEFAULT_PORT)),
    ],
)
def test_parse_address(address, expected):
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["10.0.0.5:0", "10.0.0.5:70000", ":623", "[fd00::5", "h:x"])
def test_parse_address_rejects_garbage(address):
    with pytest.raises(ValueError, match="address"):
        parse_address(address)


def test_ipmi_emulator_refuses_to_bind_everywhere(tmp_path):
    node = {"name": "n", "address": "0.0.0.0", "username": "u", "password": "p"}  # noqa: S104
    process = EmulatorProcess(IPMI_MODULE, {"bmcs": [node]}, tmp_path / "bad.json")
    with pytest.raises(RuntimeError, match=r"127\.x\.y\.z"):
        process.start()


def test_ipmi_emulator_power_delay(tmp_path, make_driver):
    node = {"name": "slow", "address": "127.0.0.3", "username": "u", "password": "p"}
    process = EmulatorProcess(
        IPMI_MODULE, {"power_delay": 2.0, "bmcs": [node]}, tmp_path / "slow.json"
    )
    bmc_port = process.start()["bmcs"]["slow"]["port"]
    try:
        bmc = make_driver("ipmi", f"127.0.0.3:{bmc_port}", username="u", password="p")
        bmc.power_on()
        assert bmc.power_state() is PowerState.OFF
        wait_until(lambda: bmc.power_state() is PowerState.ON, timeout=20, what="power on")
        bmc.close()
    finally:
        process.stop()


def test_the_io_thread_never_blocks_on_a_socket_another_thread_made_blocking():
    """pyghmi's I/O thread reads every socket until it is empty; a sender on another thread may
    have switched the socket to blocking just before (pyghmi's own sendto does). The read must
    still come back empty at once, or every IPMI call of the process waits forever."""
    import socket
    import threading

    from pyghmi.ipmi.private import session as ipmisession

    from inventory.bmc import pyghmi_io

    pyghmi_io.install()

    class RacedSocket(socket.socket):
        def setblocking(self, flag):  # the other thread's setblocking(1) wins the race
            super().setblocking(True)

    with RacedSocket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(b"packet", sock.getsockname())
        reads = []
        reader = threading.Thread(
            target=lambda: reads.extend(ipmisession._io_recvfrom(sock, 3000) for _ in range(2)),
            daemon=True,
        )
        reader.start()
        reader.join(timeout=5)
        if reader.is_alive():
            sock.sendto(b"unblock", sock.getsockname())  # let the thread end
            pytest.fail("the I/O thread's read blocked on an empty socket")
    assert reads[0][0] == b"packet" and reads[1] is None
