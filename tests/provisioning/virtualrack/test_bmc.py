"""The portal's real BMC drivers (inventory.bmc) against the rack's Redfish and IPMI BMCs."""

import time
from urllib.parse import urlsplit

import pytest
import requests

from inventory.bmc import (
    BmcAuthError,
    BmcNotFoundError,
    BmcTransientError,
    BootDevice,
    BootOverride,
    PowerState,
)
from provisioning.virtualrack.server import ON


def boots(rack, name):
    return [e.detail["device"] for e in rack.events(name) if e.kind == "boot"]


@pytest.mark.parametrize("name", ["node01", "node02"], ids=["redfish", "ipmi"])
def test_power_on_off_and_reset_read_back(make_rack, make_driver, name):
    rack = make_rack(servers=2, ipmi_every=2)
    bmc = make_driver(rack, name)
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
    # Three boots: two power-ons and the reset in between.
    assert boots(rack, name) == ["disk", "disk", "disk"]


@pytest.mark.parametrize("name", ["node01", "node02"], ids=["redfish", "ipmi"])
def test_power_cycle_powers_on_a_server_that_is_off_and_resets_one_that_is_on(
    make_rack, make_driver, name
):
    rack = make_rack(servers=2, ipmi_every=2)
    bmc = make_driver(rack, name)
    bmc.power_cycle()
    assert bmc.power_state() is PowerState.ON
    bmc.power_cycle()
    assert bmc.power_state() is PowerState.ON
    actions = [e.detail["action"] for e in rack.events(name) if e.kind == "power"]
    assert len(actions) == 2 and boots(rack, name) == ["disk", "disk"]  # power on, then reset


def test_a_redfish_session_reads_the_system_again_only_where_its_state_matters(
    make_rack, make_driver, monkeypatch
):
    rack = make_rack(servers=1)
    bmc = make_driver(rack, "node01")
    bmc.power_on()  # logs in, finds the system
    sent = []
    send = requests.Session.request

    def counting(session, method, url, *args, **kwargs):
        sent.append((method, urlsplit(url).path.rsplit("/", 1)[-1]))
        return send(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", counting)
    bmc.set_boot_device(BootDevice.PXE, persistent=False)
    bmc.power_cycle()
    system = rack.bmc("node01")["system_id"]
    assert sent == [
        ("GET", system),  # the ETag sushy sends with the change
        ("PATCH", system),
        ("GET", system),  # the power state, which the action depends on
        ("POST", "ComputerSystem.Reset"),
    ]
    assert bmc.power_state() is PowerState.ON and boots(rack, "node01") == ["disk", "pxe"]


def test_power_changes_take_the_configured_delay(make_rack, make_driver):
    rack = make_rack(servers=1, power_delay=0.4)
    bmc = make_driver(rack, "node01")
    started = time.monotonic()
    bmc.power_on()
    assert bmc.power_state() is PowerState.OFF  # still on its way
    assert rack.wait_for(lambda: rack.servers["node01"].power == ON, timeout=5)
    assert time.monotonic() - started >= 0.4
    assert bmc.power_state() is PowerState.ON


@pytest.mark.parametrize("name", ["node01", "node02"], ids=["redfish", "ipmi"])
def test_pxe_once_is_used_by_the_next_boot_then_back_to_disk(make_rack, make_driver, name):
    rack = make_rack(servers=2, ipmi_every=2)
    bmc = make_driver(rack, name)
    assert bmc.boot_device() == BootOverride(None, persistent=False)

    bmc.set_boot_device(BootDevice.PXE, persistent=False)
    assert bmc.boot_device() == BootOverride(BootDevice.PXE, persistent=False)
    bmc.power_on()
    assert bmc.boot_device() == BootOverride(None, persistent=False)
    bmc.reset(force=True)
    assert boots(rack, name) == ["pxe", "disk"]


@pytest.mark.parametrize("name", ["node01", "node02"], ids=["redfish", "ipmi"])
def test_persistent_boot_device_survives_power_cycles(make_rack, make_driver, name):
    rack = make_rack(servers=2, ipmi_every=2)
    bmc = make_driver(rack, name)
    bmc.set_boot_device(BootDevice.PXE, persistent=True)
    for _ in range(2):
        bmc.power_on()
        bmc.power_off(force=True)
    assert bmc.boot_device() == BootOverride(BootDevice.PXE, persistent=True)
    assert boots(rack, name) == ["pxe", "pxe"]

    bmc.set_boot_device(BootDevice.DISK, persistent=True)
    bmc.power_on()
    assert boots(rack, name)[-1] == "disk"


def test_redfish_inventory_matches_the_server_spec(make_rack, make_driver):
    rack = make_rack(servers=8)
    spec = rack.servers["node07"].spec  # the demo layout's first m3.large
    assert spec.plan == "m3.large.x86"
    found = make_driver(rack, "node07").inventory()

    assert found.uuid == spec.uuid
    assert found.serial_number == spec.serial
    assert found.cpu_count == 2
    assert found.cpu_model == "AMD EPYC 7502P"
    assert found.cpu_cores == 32
    assert found.memory_gib == 256
    assert [nic.mac for nic in found.nics] == list(spec.macs)
    assert [(d.name, d.size_bytes) for d in found.disks] == [
        ("nvme0n1", 3_800_000_000_000),
        ("nvme1n1", 3_800_000_000_000),
    ]


def test_ipmi_inventory_has_guid_serial_and_model(make_rack, make_driver):
    rack = make_rack(servers=2, ipmi_every=2)
    spec = rack.servers["node02"].spec
    found = make_driver(rack, "node02").inventory()
    assert (found.uuid, found.serial_number, found.model) == (spec.uuid, spec.serial, "C3")


@pytest.mark.parametrize("name", ["node01", "node02"], ids=["redfish", "ipmi"])
def test_wrong_password_is_an_auth_error(make_rack, make_driver, name):
    rack = make_rack(servers=2, ipmi_every=2)
    with pytest.raises(BmcAuthError):
        make_driver(rack, name, password="not-the-password").power_state()


@pytest.mark.parametrize("name", ["node01", "node02"], ids=["redfish", "ipmi"])
def test_bad_password_fault_refuses_the_published_credentials(make_rack, make_driver, name):
    rack = make_rack(servers=3, ipmi_every=2, faults=[])
    rack.inject(name, "bmc-bad-password")
    with pytest.raises(BmcAuthError):
        make_driver(rack, name).power_state()
    # Only that server: its neighbour still answers.
    assert make_driver(rack, "node03").power_state() is PowerState.OFF


@pytest.mark.parametrize("name", ["node01", "node02"], ids=["redfish", "ipmi"])
def test_5xx_fault_is_transient_and_clears(make_rack, make_driver, name):
    rack = make_rack(servers=2, ipmi_every=2)
    bmc = make_driver(rack, name)
    assert bmc.power_state() is PowerState.OFF
    rack.inject(name, "bmc-5xx")
    with pytest.raises(BmcTransientError):
        bmc.power_on()
    assert rack.servers[name].power_target() != ON
    rack.clear(name)
    bmc.power_on()
    assert bmc.power_state() is PowerState.ON


def test_redfish_timeout_fault_is_transient(make_rack, make_driver):
    rack = make_rack(servers=2)
    rack.inject("node01", "bmc-timeout")
    bmc = make_driver(rack, "node01", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(BmcTransientError):
        bmc.power_state()
    assert time.monotonic() - started < 10  # the client's timeout, not the BMC's hang
    assert make_driver(rack, "node02").power_state() is PowerState.OFF


def test_ipmi_timeout_fault_is_transient(make_rack, make_driver):
    rack = make_rack(servers=2, ipmi_every=2)
    rack.inject("node02", "bmc-timeout")
    with pytest.raises(BmcTransientError):
        make_driver(rack, "node02").power_state()  # pyghmi gives a silent login up after ~5 s


def test_rate_fault_hits_every_server_at_100_percent_and_none_at_0(make_rack, make_driver):
    rack = make_rack(servers=3)
    rack.inject("bmc-5xx:100%")
    for name in rack.servers:
        with pytest.raises(BmcTransientError):
            make_driver(rack, name).power_state()
    rack.clear()
    rack.inject("bmc-5xx:0%")
    assert all(make_driver(rack, n).power_state() is PowerState.OFF for n in rack.servers)


def test_unknown_system_is_not_found(make_rack, make_driver):
    rack = make_rack(servers=1)
    bmc = make_driver(rack, "node01")
    bmc.endpoint = type(bmc.endpoint)(**{**bmc.endpoint.__dict__, "system_id": "nope"})
    with pytest.raises(BmcNotFoundError):
        bmc.power_state()


def test_redfish_answers_errors_with_redfish_bodies(make_rack):
    rack = make_rack(servers=1)
    config = rack.config
    system = f"{rack.redfish_url}/redfish/v1/Systems/{rack.servers['node01'].spec.uuid}"
    auth = (config.bmc_username, config.bmc_password)

    root = requests.get(f"{rack.redfish_url}/redfish/v1/", timeout=5)
    assert root.status_code == 200  # readable without credentials, as the spec says
    unauthorised = requests.get(system, timeout=5)
    assert unauthorised.status_code == 401
    assert unauthorised.headers["WWW-Authenticate"].startswith("Basic")
    bad_reset = requests.post(
        f"{system}/Actions/ComputerSystem.Reset", json={"ResetType": "Nmi"}, auth=auth, timeout=5
    )
    assert bad_reset.status_code == 400
    assert bad_reset.json()["error"]["code"] == "Base.1.8.ActionParameterNotSupported"
    bad_target = requests.patch(
        system, json={"Boot": {"BootSourceOverrideTarget": "Floppy"}}, auth=auth, timeout=5
    )
    assert bad_target.status_code == 400
    assert "Floppy" in bad_target.json()["error"]["message"]


def test_push_power_button_toggles_power(make_rack):
    rack = make_rack(servers=1)
    config = rack.config
    system = f"{rack.redfish_url}/redfish/v1/Systems/{rack.servers['node01'].spec.uuid}"
    auth = (config.bmc_username, config.bmc_password)
    reset = f"{system}/Actions/ComputerSystem.Reset"
    with requests.Session() as http:
        http.auth = auth
        assert http.post(reset, json={"ResetType": "PushPowerButton"}, timeout=5).status_code == 204
        assert http.get(system, timeout=5).json()["PowerState"] == "On"
        assert http.post(reset, json={"ResetType": "PushPowerButton"}, timeout=5).status_code == 204
        assert http.get(system, timeout=5).json()["PowerState"] == "Off"
