"""RedfishDriver against sushy-tools' fake driver (our patched lab emulator) and failing peers."""

import time

import pytest

from inventory.bmc import (
    BmcAuthError,
    BmcNotFoundError,
    BmcPermanentError,
    BmcTlsError,
    BmcTransientError,
    BmcUnsupportedError,
    BootDevice,
    BootOverride,
    PowerState,
)
from inventory.bmc.emulators import require_loopback
from tests.emulators.process import EmulatorProcess
from tests.inventory.conftest import NODE1, NODE2, PASSWORD, SUSHY_MODULE, USERNAME
from tests.waiting import wait_until


def test_power_on_off_and_reset_read_back(redfish_url, make_driver):
    bmc = make_driver("redfish", redfish_url)
    assert bmc.power_state() is PowerState.OFF

    bmc.power_on()
    assert bmc.power_state() is PowerState.ON
    bmc.reset(force=True)
    assert bmc.power_state() is PowerState.ON
    bmc.reset(force=False)
    assert bmc.power_state() is PowerState.ON

    bmc.power_off(force=False)
    assert bmc.power_state() is PowerState.OFF
    bmc.power_on()
    bmc.power_off(force=True)
    assert bmc.power_state() is PowerState.OFF


def test_power_delay_is_configurable(start_redfish, make_driver):
    url = start_redfish(power_delay=2.0)
    bmc = make_driver("redfish", url)
    bmc.power_on()
    assert bmc.power_state() is PowerState.OFF  # still on its way
    wait_until(lambda: bmc.power_state() is PowerState.ON, timeout=20, what="power on")


def test_pxe_once_is_consumed_by_the_next_power_on(redfish_url, make_driver):
    bmc = make_driver("redfish", redfish_url)
    assert bmc.boot_device() == BootOverride(BootDevice.DISK, persistent=True)

    bmc.set_boot_device(BootDevice.PXE, persistent=False)
    assert bmc.boot_device() == BootOverride(BootDevice.PXE, persistent=False)

    bmc.power_on()
    assert bmc.power_state() is PowerState.ON
    assert bmc.boot_device() == BootOverride(BootDevice.DISK, persistent=True)


def test_pxe_once_is_consumed_by_a_reset(redfish_url, make_driver):
    bmc = make_driver("redfish", redfish_url)
    bmc.power_on()
    bmc.set_boot_device(BootDevice.PXE, persistent=False)
    assert bmc.boot_device().device is BootDevice.PXE

    bmc.reset(force=True)
    assert bmc.power_state() is PowerState.ON
    assert bmc.boot_device() == BootOverride(BootDevice.DISK, persistent=True)


@pytest.mark.parametrize("device", [BootDevice.PXE, BootDevice.CD, BootDevice.BIOS])
def test_persistent_boot_device_survives_power_cycles(redfish_url, make_driver, device):
    bmc = make_driver("redfish", redfish_url)
    bmc.set_boot_device(device, persistent=True)
    for _ in range(2):
        bmc.power_on()
        bmc.power_off(force=True)
    assert bmc.boot_device() == BootOverride(device, persistent=True)


def test_once_override_falls_back_to_the_persistent_device(redfish_url, make_driver):
    bmc = make_driver("redfish", redfish_url)
    bmc.set_boot_device(BootDevice.CD, persistent=True)
    bmc.set_boot_device(BootDevice.PXE, persistent=False)
    bmc.power_on()
    assert bmc.boot_device() == BootOverride(BootDevice.CD, persistent=True)


def test_inventory(redfish_url, make_driver):
    inventory = make_driver("redfish", redfish_url).inventory()

    assert inventory.system_id == NODE1["uuid"]
    assert inventory.uuid == NODE1["uuid"]
    assert inventory.serial_number == "SN-0001"
    assert inventory.manufacturer == "Acme Servers"
    assert inventory.model == "R640"
    assert inventory.cpu_count == 2
    assert inventory.cpu_model == "Xeon Gold 6338"
    assert (inventory.cpu_cores, inventory.cpu_threads) == (32, 64)
    assert inventory.memory_gib == 128
    assert sorted(nic.mac for nic in inventory.nics) == ["52:54:00:aa:00:01", "52:54:00:aa:00:02"]
    assert [(d.name, d.size_bytes) for d in inventory.disks] == [
        ("sda", 480 * 1024**3),
        ("nvme0n1", 1920 * 1024**3),
    ]


def test_inventory_without_optional_facts(start_redfish, make_driver):
    bare = {"uuid": NODE2["uuid"], "name": "bare", "nics": [{"mac": "52:54:00:cc:00:01"}]}
    inventory = make_driver("redfish", start_redfish(systems=[bare])).inventory()
    assert inventory.uuid == NODE2["uuid"]
    assert inventory.serial_number is None
    assert inventory.memory_gib is None
    assert inventory.cpu_cores is None
    assert inventory.disks == ()  # stock sushy-tools answers 500 on Storage: no disks, no error
    assert [nic.mac for nic in inventory.nics] == ["52:54:00:cc:00:01"]


def test_several_systems_need_a_system_id(start_redfish, make_driver):
    url = start_redfish(systems=[NODE1, NODE2])

    with pytest.raises(BmcPermanentError) as caught:
        make_driver("redfish", url).power_state()
    assert not caught.value.transient
    assert "2 systems" in caught.value.message
    assert NODE1["uuid"] in caught.value.message
    assert NODE2["uuid"] in caught.value.message

    by_id = make_driver("redfish", url, system_id=NODE2["uuid"])
    assert by_id.power_state() is PowerState.ON
    assert by_id.inventory().serial_number == "SN-0002"
    # A system name answers 307 to its UUID path; the driver follows it.
    by_name = make_driver("redfish", url, system_id="node1")
    assert by_name.inventory().serial_number == "SN-0001"
    by_name.power_on()
    assert by_id.power_state() is PowerState.ON
    assert by_name.power_state() is PowerState.ON


def test_wrong_password_is_an_auth_error(redfish_url, make_driver):
    bmc = make_driver("redfish", redfish_url, password="wrong")
    with pytest.raises(BmcAuthError) as caught:
        bmc.power_state()
    assert caught.value.raw.status_code == 401
    assert not caught.value.transient


def test_unknown_system_id_is_permanent(redfish_url, make_driver):
    bmc = make_driver("redfish", redfish_url, system_id="no-such-system")
    with pytest.raises(BmcNotFoundError) as caught:
        bmc.power_state()
    assert caught.value.raw.status_code == 404
    assert isinstance(caught.value, BmcPermanentError)


def test_refused_action_is_permanent_and_keeps_the_bmc_answer(start_redfish, make_driver):
    bmc = make_driver("redfish", start_redfish(disable_power_off=True))
    bmc.power_on()
    with pytest.raises(BmcUnsupportedError) as caught:
        bmc.power_off(force=True)
    assert caught.value.raw.status_code == 400
    assert "SUSHY_EMULATOR_DISABLE_POWER_OFF" in caught.value.raw.body
    assert bmc.power_state() is PowerState.ON


def test_closed_port_is_transient_within_the_timeout(closed_port, make_driver):
    bmc = make_driver("redfish", f"http://127.0.0.1:{closed_port}", timeout=2)
    started = time.monotonic()
    with pytest.raises(BmcTransientError) as caught:
        bmc.power_state()
    assert time.monotonic() - started < 2
    assert "refused" in caught.value.raw.message.lower()


def test_service_unavailable_is_transient(unavailable_bmc_url, make_driver):
    bmc = make_driver("redfish", unavailable_bmc_url, timeout=2)
    with pytest.raises(BmcTransientError) as caught:
        bmc.power_state()
    assert caught.value.raw.status_code == 503
    assert "BMC is busy" in caught.value.raw.body


def test_tls_verification(start_redfish, make_driver, tls_files):
    cert, key = tls_files
    url = start_redfish(tls_cert=str(cert), tls_key=str(key))
    assert url.startswith("https://127.0.0.1:")

    with pytest.raises(BmcTlsError) as caught:
        make_driver("redfish", url).power_state()
    assert "CA bundle" in caught.value.message
    assert not caught.value.transient

    assert make_driver("redfish", url, ca_bundle=str(cert)).power_state() is PowerState.OFF
    assert make_driver("redfish", url, verify_tls=False).power_state() is PowerState.OFF


def test_driver_can_be_reused_after_close(redfish_url, make_driver):
    bmc = make_driver("redfish", redfish_url)
    bmc.power_on()
    bmc.close()
    assert bmc.power_state() is PowerState.ON


@pytest.mark.parametrize("address", ["0.0.0.0", "::1", "10.0.0.5", "localhost"])  # noqa: S104
def test_emulators_refuse_non_loopback_addresses(address):
    with pytest.raises(ValueError, match=r"127\.x\.y\.z"):
        require_loopback(address)


def test_sushy_emulator_process_refuses_to_bind_everywhere(tmp_path):
    config = {"listen_ip": "0.0.0.0", "port": 0, "state_dir": str(tmp_path / "s")}  # noqa: S104
    process = EmulatorProcess(SUSHY_MODULE, config, tmp_path / "bad.json")
    with pytest.raises(RuntimeError, match=r"127\.x\.y\.z"):
        process.start()


def test_emulator_allows_other_loopback_addresses(start_redfish, make_driver):
    url = start_redfish(listen_ip="127.0.0.2")
    assert url.startswith("http://127.0.0.2:")
    assert make_driver("redfish", url).power_state() is PowerState.OFF


def test_credentials_stay_out_of_the_endpoint_repr(redfish_url):
    from inventory.bmc import BmcEndpoint

    endpoint = BmcEndpoint("redfish", redfish_url, USERNAME, PASSWORD)
    assert PASSWORD not in repr(endpoint)
