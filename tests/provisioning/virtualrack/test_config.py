"""Rack configuration: fault specs, the server layout, identities, and the state file."""

import json
from collections import Counter

import pytest

from inventory import demo
from provisioning.virtualrack import Fault, RackConfig, VirtualRack
from provisioning.virtualrack.config import build_specs
from tests.provisioning.virtualrack.test_inband import env_is, provision


def test_fault_specs_parse_names_and_rates():
    assert Fault.parse("bmc-timeout:node07") == Fault("bmc-timeout", "node07")
    assert Fault.parse("bmc-5xx:10%") == Fault("bmc-5xx", None, 0.1)
    assert str(Fault.parse("dead:node05")) == "dead:node05"


@pytest.mark.parametrize("spec", ["bmc-timeout", "melt:node01", "bmc-5xx:", "dead:150%"])
def test_bad_fault_specs_are_refused(spec):
    with pytest.raises(ValueError, match="fault"):
        Fault.parse(spec)


def test_the_first_servers_follow_the_demo_layout():
    specs = build_specs(RackConfig(servers=len(demo.demo_systems())))
    plans = {(p["cpus"], p["memory"]): p["slug"] for p in demo.PLANS}
    expected = Counter(
        (s["facility"], plans[(s["cpus"], s["memory_gib"])]) for s in demo.demo_systems()
    )
    assert Counter((s.facility, s.plan) for s in specs) == expected
    for spec in specs:
        plan = next(p for p in demo.PLANS if p["slug"] == spec.plan)
        assert (spec.cpus, spec.memory_gib, spec.cpu_model) == (
            plan["cpus"],
            plan["memory"],
            plan["cpu"],
        )


def test_identities_depend_on_the_index_only():
    small = build_specs(RackConfig(servers=16))
    large = build_specs(RackConfig(servers=1000))
    assert small == large[:16]
    assert len({s.uuid for s in large}) == len({s.macs[0] for s in large}) == 1000
    assert len({s.serial for s in large}) == 1000
    assert large[999].name == "node1000"
    assert large[999].macs == ("52:54:01:03:e8:00", "52:54:01:03:e8:01")


def test_facility_filter_and_ipmi_share():
    specs = build_specs(RackConfig(servers=6, facilities=("am6",), ipmi_every=3))
    assert {(s.facility, s.plan) for s in specs} == {("am6", "c3.small.x86")}
    assert [s.bmc_driver for s in specs] == ["redfish", "redfish", "ipmi"] * 2


@pytest.mark.parametrize(
    "options",
    [
        {"bmc_host": "::1"},
        {"ipmi_address_base": "10.0.0.0"},
        {"ipmi_address_base": "127.255.255.250"},
    ],
)
def test_addresses_must_stay_on_loopback(options):
    with pytest.raises(ValueError, match=r"127\.|loopback"):
        RackConfig(servers=10, **options).validate()


def test_inventory_file_and_state_survive_a_restart(tmp_path, portal):
    state_file = tmp_path / "rack.json"
    config = RackConfig(servers=3, ipmi_every=3, portal_url=portal.url, state_file=str(state_file))
    with VirtualRack(config.zero_delay(), dhcp=portal.dhcp()) as rack:
        written = json.loads(state_file.read_text())
        without_state = [
            {k: v for k, v in entry.items() if k != "state"} for entry in written["servers"]
        ]
        assert without_state == rack.inventory()["servers"]
        assert written["servers"][0]["state"]["os"] is None
        node03 = written["servers"][2]
        assert node03["bmc"]["driver"] == "ipmi" and node03["bmc"]["system_id"] is None
        node01 = written["servers"][0]
        assert node01["bmc"]["address"] == rack.redfish_url
        assert node01["bmc"]["system_id"] == node01["uuid"]
        # No address until DHCP gives it one at its first boot.
        assert node01["address"] is None and node01["plan"] == "c3.small.x86"
        server = provision(rack, portal, "node01")
        assert rack.inventory()["servers"][0]["address"] == portal.address_of(server)
        server.set_boot("disk", persistent=True)
        server.reset("test")
        assert env_is(rack, "node01", "os") and server.first_booted

    with VirtualRack(RackConfig(**{**config.__dict__, "faults": []}), dhcp=portal.dhcp()) as again:
        server = again.servers["node01"]
        assert server.os["image_url"] == "http://images.test/ubuntu.raw.gz"
        assert server.boot_target == "disk" and server.boot_persistent
        # It was on, so it comes back on, boots its disk, and stays quiet: already initialised.
        assert env_is(again, "node01", "os")
        assert again.history("node01") == []
        assert again.servers["node02"].os is None
