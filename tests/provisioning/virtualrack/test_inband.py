"""The in-band side against a protocol double of the portal's boot endpoints."""

import time

import pytest

from provisioning.virtualrack.inband import IPXE_USER_AGENT, parse_ipxe
from provisioning.virtualrack.server import OFF, ON

IMAGE = {
    "name": "write_image",
    "image_url": "http://images.test/ubuntu.raw.gz",
    "checksum": "sha256:abc",
    "size_bytes": 3_000_000_000,
}
CONFIGURE = {"name": "configure", "hostname": "web-1", "ssh_keys": ["ssh-ed25519 AAA"]}


def instructions(kind, *steps):
    return {
        "operation": {"id": "6f1c0e9e-0000-4000-8000-000000000001", "type": kind},
        "steps": steps,
    }


def pxe_boot(server):
    """What the portal does: PXE once, then power on (or reset when already on)."""
    server.set_boot("pxe", persistent=False)
    if server.power == ON:
        server.reset("test reset")
    else:
        server.request_power(ON, "test power on")


def disk_boot(server):
    server.set_boot("disk", persistent=False)
    server.reset("test reset")


def reports(seen, path="/agent/progress"):
    """(step, percent) of every progress report the agent sent on path, in order."""
    return [(r["step"], r["percent"]) for s in seen if s.path == path for r in s.body["reports"]]


def env_is(rack, name, environment, timeout=10):
    return rack.wait_for(lambda: rack.servers[name].environment == environment, timeout)


def provision(rack, portal, name, userdata="", steps=(IMAGE, CONFIGURE)):
    """Run a full provision against the double, up to the agent's done."""
    server = rack.servers[name]
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions("provision", *steps)
    portal.metadata[portal.address_of(server)] = {
        "id": f"device-{name}",
        "hostname": "web-1",
        "phone_home_url": f"{portal.url}/phone-home",
        "user_state_url": f"{portal.url}/user-state",
    }
    portal.userdata[portal.address_of(server)] = userdata
    pxe_boot(server)
    assert env_is(rack, name, "agent-done")
    return server


def test_provision_runs_ipxe_then_the_agent_protocol_in_order(make_rack, portal):
    rack = make_rack(servers=3, progress_updates=4, report_interval=0)
    server = provision(rack, portal, "node02")
    address, mac = portal.address_of(server), server.spec.macs[0]
    seen = portal.requests_from(address)

    assert address == "127.1.0.2"
    assert [s.path for s in seen] == [
        "/boot/ipxe",
        "/agent/instructions",
        *["/agent/progress"] * 4,  # write_image: 0, 25, 50, 75
        "/agent/progress",  # write_image 100 and configure 0: one step ends, the next begins
        "/agent/done",  # configure 100 comes with done
    ]
    assert seen[0].query == {"mac": [mac]}
    assert seen[0].headers["User-Agent"] == IPXE_USER_AGENT
    token = portal.token_for(mac)
    assert all(s.headers["Authorization"] == f"Bearer {token}" for s in seen[1:])
    assert reports(seen) == [
        ("write_image", 0),
        ("write_image", 25),
        ("write_image", 50),
        ("write_image", 75),
        ("write_image", 100),
        ("configure", 0),
    ]
    # The real agent's words: what the timeline shows is the same either way.
    assert seen[-1].body == {
        "reports": [
            {
                "step": "configure",
                "percent": 100,
                "message": "Configured web-1: 1 SSH key, network, cloud-init from the portal",
            }
        ]
    }
    # The rack's own record agrees, with status codes.
    assert [(r.path, r.status) for r in rack.history("node02")][:2] == [
        ("/boot/ipxe", 200),
        ("/agent/instructions", 200),
    ]
    assert server.os["image_url"] == IMAGE["image_url"]
    assert server.os["hostname"] == "web-1"
    assert server.first_booted is False
    # Nobody else spoke.
    assert {s.source for s in portal.seen} == {address}


def test_after_done_the_agent_waits_for_the_portal(make_rack, portal):
    rack = make_rack(servers=1)
    server = provision(rack, portal, "node01")
    count = len(portal.seen)
    time.sleep(0.3)
    assert len(portal.seen) == count
    assert server.power == ON and server.environment == "agent-done"


def test_told_to_the_agent_reboots_into_the_installed_system_by_itself(make_rack, portal):
    rack = make_rack(servers=1)
    server = rack.servers["node01"]
    portal.instructions[portal.token_for(server.spec.macs[0])] = {
        **instructions("provision", IMAGE, CONFIGURE),
        "then": "reboot",
    }
    portal.metadata[portal.address_of(server)] = {"id": "device-node01"}
    pxe_boot(server)
    assert env_is(rack, "node01", "os") and server.first_booted
    assert [s.path for s in portal.requests_from(portal.address_of(server))] == [
        "/boot/ipxe",
        "/agent/instructions",
        "/agent/done",
        "/metadata",
        "/userdata",
        "/phone-home",
    ]
    # Two boots: the network boot the test asked for, then the installer's reboot to disk.
    assert server.boots == 2
    assert [e.detail["device"] for e in server.events if e.kind == "boot"] == ["pxe", "disk"]


def test_first_disk_boot_fetches_metadata_and_phones_home_then_later_boots_are_quiet(
    make_rack, portal
):
    rack = make_rack(servers=2)
    server = provision(rack, portal, "node01", userdata="#cloud-config\n")
    before = len(portal.requests_from(portal.address_of(server)))

    disk_boot(server)
    assert env_is(rack, "node01", "os") and server.first_booted
    first_boot = portal.requests_from(portal.address_of(server))[before:]
    assert [(s.method, s.path) for s in first_boot] == [
        ("GET", "/metadata"),
        ("GET", "/userdata"),
        ("POST", "/phone-home"),
    ]
    assert first_boot[2].body == {"instance_id": "device-node01"}

    quiet = len(portal.seen)
    server.request_power(OFF, "test")
    server.request_power(ON, "test")
    assert env_is(rack, "node01", "os")
    time.sleep(0.2)
    assert len(portal.seen) == quiet
    assert server.boots == 3


def test_user_data_can_report_a_user_state(make_rack, portal):
    rack = make_rack(servers=1)
    server = provision(
        rack, portal, "node01", userdata="#!/bin/sh\n# ironyard-user-state: succeeded 1001 ready\n"
    )
    disk_boot(server)
    assert env_is(rack, "node01", "os") and server.first_booted
    last = portal.requests_from(portal.address_of(server))[-1]
    assert last.path == "/user-state"
    assert last.body == {"state": "succeeded", "code": 1001, "message": "ready"}


def test_phone_home_falls_back_to_the_portal_url_without_one_in_metadata(make_rack, portal):
    rack = make_rack(servers=1)
    server = provision(rack, portal, "node01")
    portal.metadata[portal.address_of(server)] = {"id": "device-x"}
    disk_boot(server)
    assert env_is(rack, "node01", "os") and server.first_booted
    assert portal.paths_from(portal.address_of(server))[-1] == "/phone-home"


def test_deprovision_wipes_the_disks(make_rack, portal):
    rack = make_rack(servers=1, progress_updates=4, report_interval=0)
    server = provision(rack, portal, "node01")
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions(
        "deprovision", {"name": "wipe_disks"}
    )
    pxe_boot(server)
    assert env_is(rack, "node01", "agent-done")
    assert server.os is None and server.disks_wiped
    last = portal.requests_from(portal.address_of(server))[-5:]
    assert [s.path for s in last] == ["/agent/progress"] * 4 + ["/agent/done"]
    assert [s.body["reports"] for s in last] == [
        [{"step": "wipe_disks", "percent": p, "message": "Wiping the disks"}]
        for p in (0, 25, 50, 75)
    ] + [
        [
            {
                "step": "wipe_disks",
                "percent": 100,
                "message": "Wiped /dev/sda (full discard), /dev/sdb (full discard); "
                "their first and last MiB read back zero",
            }
        ]
    ]

    # What the portal does next: power off. A later disk boot finds nothing to boot.
    server.request_power(OFF, "test")
    server.request_power(ON, "test")
    assert env_is(rack, "node01", "no-bootable-device")


def test_rescue_keeps_the_os_and_lasts_until_the_next_power_cycle(make_rack, portal):
    rack = make_rack(servers=1)
    server = provision(rack, portal, "node01")
    disk_boot(server)
    assert env_is(rack, "node01", "os")
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions(
        "rescue", {"name": "rescue"}
    )
    pxe_boot(server)
    assert env_is(rack, "node01", "rescue")
    assert rack.wait_for(lambda: portal.paths_from(portal.address_of(server))[-1] == "/agent/done")
    assert server.os["image_url"] == IMAGE["image_url"]

    server.reset("test")  # no override left: back to the installed OS, already initialised
    assert env_is(rack, "node01", "os")


def test_exit_script_falls_through_to_the_disk(make_rack, portal):
    rack = make_rack(servers=2)
    server = provision(rack, portal, "node01")
    portal.scripts[server.spec.macs[0]] = "#!ipxe\necho nothing to do here\nexit\n"
    pxe_boot(server)
    # The disk holds an OS that has not booted yet: its first boot runs.
    assert env_is(rack, "node01", "os") and server.first_booted
    assert portal.paths_from(portal.address_of(server))[-4:] == [
        "/boot/ipxe",
        "/metadata",
        "/userdata",
        "/phone-home",
    ]

    empty = rack.servers["node02"]
    portal.scripts[empty.spec.macs[0]] = "#!ipxe\nexit\n"
    pxe_boot(empty)
    assert env_is(rack, "node02", "no-bootable-device")


def test_custom_ipxe_chain_is_fetched_and_stays_custom(make_rack, portal):
    rack = make_rack(servers=1)
    server = rack.servers["node01"]
    mac = server.spec.macs[0]
    portal.scripts[mac] = f"#!ipxe\nchain --autofree {portal.url}/custom/${{net0/mac:hexhyp}}\n"
    portal.documents[f"/custom/{mac.replace(':', '-')}"] = (
        "#!ipxe\nkernel http://mirror.test/vmlinuz\ninitrd http://mirror.test/initrd\nboot\n"
    )
    pxe_boot(server)
    assert env_is(rack, "node01", "custom-ipxe")
    assert portal.paths_from(portal.address_of(server)) == [
        "/boot/ipxe",
        f"/custom/{mac.replace(':', '-')}",
    ]
    assert server.custom_ipxe == f"{portal.url}/custom/{mac.replace(':', '-')}"


def test_chain_to_a_script_with_the_agent_markers_runs_the_agent(make_rack, portal):
    rack = make_rack(servers=1)
    server = rack.servers["node01"]
    mac = server.spec.macs[0]
    portal.scripts[mac] = f"#!ipxe\nchain {portal.url}/stage2?uuid=${{uuid}}\n"
    portal.documents["/stage2"] = portal.agent_script(mac)
    portal.instructions[portal.token_for(mac)] = instructions("provision", IMAGE)
    pxe_boot(server)
    assert env_is(rack, "node01", "agent-done")
    seen = portal.requests_from(portal.address_of(server))
    assert [s.path for s in seen[:3]] == ["/boot/ipxe", "/stage2", "/agent/instructions"]
    assert seen[1].query == {"uuid": [server.spec.uuid]}


def test_chain_outside_loopback_is_not_fetched(make_rack, portal):
    rack = make_rack(servers=1)
    server = rack.servers["node01"]
    portal.scripts[server.spec.macs[0]] = "#!ipxe\nchain http://boot.netboot.xyz\n"
    pxe_boot(server)
    assert env_is(rack, "node01", "custom-ipxe")
    assert [r.path for r in rack.history("node01")] == ["/boot/ipxe"]


def test_agent_crash_stops_mid_write_without_done_or_fail(make_rack, portal):
    rack = make_rack(servers=1, progress_updates=4, report_interval=0)
    rack.inject("node01", "agent-crash")
    server = rack.servers["node01"]
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions("provision", IMAGE)
    pxe_boot(server)
    assert env_is(rack, "node01", "agent-crashed")
    seen = portal.requests_from(portal.address_of(server))
    assert [percent for _, percent in reports(seen)] == [0, 25, 50]
    assert not {"/agent/done", "/agent/fail"} & {s.path for s in seen}
    assert server.os is None


def test_agent_fail_fault_reports_the_failure(make_rack, portal):
    rack = make_rack(servers=1)
    rack.inject("agent-fail:node01")
    server = rack.servers["node01"]
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions("provision", IMAGE)
    pxe_boot(server)
    assert env_is(rack, "node01", "agent-failed")
    last = portal.requests_from(portal.address_of(server))[-1]
    assert last.path == "/agent/fail"
    assert last.body["step"] == "write_image" and "I/O error" in last.body["message"]


def test_unknown_step_is_reported_as_a_failure(make_rack, portal):
    rack = make_rack(servers=1)
    server = rack.servers["node01"]
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions(
        "provision", {"name": "format_floppy"}
    )
    pxe_boot(server)
    assert env_is(rack, "node01", "agent-failed")
    assert portal.requests_from(portal.address_of(server))[-1].body["step"] == "format_floppy"


def test_dead_server_makes_no_in_band_traffic(make_rack, portal):
    rack = make_rack(servers=2)
    rack.inject("dead:node01")
    for name in ("node01", "node02"):
        server = rack.servers[name]
        portal.instructions[portal.token_for(server.spec.macs[0])] = instructions(
            "provision", IMAGE
        )
        pxe_boot(server)
    # The live neighbour, booted at the same moment, went all the way through.
    assert env_is(rack, "node02", "agent-done")
    assert rack.servers["node01"].power == ON  # its BMC still obeys
    assert rack.servers["node01"].environment == "dead"
    assert portal.requests_from("127.1.0.1") == []
    assert rack.history("node01") == []


@pytest.mark.parametrize("status", [409, 410])
def test_4xx_on_instructions_stops_the_agent_quietly(make_rack, portal, status):
    rack = make_rack(servers=1)
    server = rack.servers["node01"]
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions("provision", IMAGE)
    portal.statuses["/agent/instructions"] = status
    pxe_boot(server)
    assert env_is(rack, "node01", "agent-stopped")
    time.sleep(0.2)
    assert portal.paths_from(portal.address_of(server)) == ["/boot/ipxe", "/agent/instructions"]
    assert [r.status for r in rack.history("node01")] == [200, status]


def test_5xx_and_no_answer_are_retried(make_rack, portal):
    rack = make_rack(servers=1)
    server = rack.servers["node01"]
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions("provision", IMAGE)
    portal.status_queue["/agent/instructions"] = [503, 502]
    pxe_boot(server)
    assert env_is(rack, "node01", "agent-done")
    assert [r.status for r in rack.history("node01")][:4] == [200, 503, 502, 200]


def test_power_off_mid_write_stops_the_agent(make_rack, portal):
    # 3 GB at 3 GB/s: 1 s of writing, reported as it goes.
    rack = make_rack(servers=1, write_speed=3000.0, report_interval=0)
    server = rack.servers["node01"]
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions("provision", IMAGE)
    pxe_boot(server)
    assert rack.wait_for(lambda: len(portal.paths_from(portal.address_of(server))) >= 3, timeout=5)
    server.request_power(OFF, "test")
    # The write had a second to go: long after it would have ended, the agent never said done.
    done = lambda: "/agent/done" in portal.paths_from(portal.address_of(server))  # noqa: E731
    assert not rack.wait_for(done, timeout=3)
    paths = portal.paths_from(portal.address_of(server))
    assert paths.count("/agent/progress") < 5
    assert server.environment == OFF


def test_zero_delay_steps_report_their_start_and_end_only(make_rack, portal):
    rack = make_rack(servers=1, report_interval=0)
    server = provision(rack, portal, "node01")
    seen = portal.requests_from(portal.address_of(server))
    assert reports(seen) == [("write_image", 0), ("write_image", 100), ("configure", 0)]
    assert reports(seen, "/agent/done") == [("configure", 100)]
    assert len([s for s in seen if s.path == "/agent/progress"]) == 2


def test_a_fast_install_sends_its_reports_with_done(make_rack, portal):
    rack = make_rack(servers=1)  # report_interval 1 s: nothing here takes that long
    server = provision(rack, portal, "node01")
    seen = portal.requests_from(portal.address_of(server))
    assert [s.path for s in seen] == ["/boot/ipxe", "/agent/instructions", "/agent/done"]
    assert reports(seen, "/agent/done") == [
        ("write_image", 0),
        ("write_image", 100),
        ("configure", 0),
        ("configure", 100),
    ]


def test_reports_are_paced_by_the_report_interval(make_rack, portal):
    # 3 GB at 3 GB/s with a report every quarter: a call once 0.4 s of writing has passed
    # since the last one (at 50%), the rest with done; none lost, none out of order.
    rack = make_rack(servers=1, write_speed=3000.0, progress_updates=4, report_interval=0.4)
    server = provision(rack, portal, "node01", steps=(IMAGE,))
    seen = portal.requests_from(portal.address_of(server))
    assert reports(seen) == [("write_image", 0), ("write_image", 25), ("write_image", 50)]
    assert reports(seen, "/agent/done") == [("write_image", 75), ("write_image", 100)]


def test_a_long_silence_still_sends_at_most_the_portals_limit_per_call(make_rack, portal):
    many = [{"name": "configure", "hostname": f"web-{n}"} for n in range(15)]
    rack = make_rack(servers=1, report_interval=60)
    server = provision(rack, portal, "node01", steps=many)
    seen = portal.requests_from(portal.address_of(server))
    calls = [s for s in seen if s.path in ("/agent/progress", "/agent/done")]
    assert max(len(s.body["reports"]) for s in calls) <= 20
    assert len(reports(seen) + reports(seen, "/agent/done")) == 30


def test_write_image_takes_size_over_write_speed(make_rack, portal):
    rack = make_rack(servers=1, write_speed=6000.0)  # 3 GB at 6 GB/s: 0.5 s
    server = rack.servers["node01"]
    portal.instructions[portal.token_for(server.spec.macs[0])] = instructions("provision", IMAGE)
    started = time.monotonic()
    pxe_boot(server)
    assert env_is(rack, "node01", "agent-done")
    assert time.monotonic() - started >= 0.5


def test_slow_wipe_fault_makes_the_wipe_last(make_rack, portal):
    rack = make_rack(servers=2, slow_wipe_seconds=0.6)
    rack.inject("slow-wipe:node01")
    for name in ("node01", "node02"):
        server = rack.servers[name]
        portal.instructions[portal.token_for(server.spec.macs[0])] = instructions(
            "deprovision", {"name": "wipe_disks"}
        )
    started = time.monotonic()
    pxe_boot(rack.servers["node02"])
    assert env_is(rack, "node02", "agent-done")
    fast = time.monotonic() - started
    started = time.monotonic()
    pxe_boot(rack.servers["node01"])
    assert env_is(rack, "node01", "agent-done")
    assert time.monotonic() - started >= 0.6 > fast


def test_ipxe_parser_reads_the_agent_line_with_variables():
    script = parse_ipxe(
        "#!ipxe\nset base http://p\nkernel --name k ${base}/vmlinuz ironyard.agent=${base}/a "
        "ironyard.token=t-${net0/mac:hexhyp} quiet\ninitrd ${base}/initrd\nboot || goto fail\n",
        {"net0/mac:hexhyp": "52-54-00-00-00-01"},
    )
    assert script.kernel == "http://p/vmlinuz"
    assert script.agent == ("http://p/a", "t-52-54-00-00-00-01")
    assert script.initrds == ["http://p/initrd"]


def test_ipxe_parser_needs_the_ipxe_magic_and_a_boot():
    assert parse_ipxe("kernel x ironyard.agent=a ironyard.token=t\nboot\n", {}).action == "exit"
    assert parse_ipxe("#!ipxe\nkernel x ironyard.agent=a ironyard.token=t\n", {}).agent is None


def test_a_server_without_a_reservation_gets_no_address_and_reaches_nobody(make_rack, portal):
    rack = make_rack(servers=2)
    server = rack.servers["node02"]
    for mac in server.spec.macs:
        del portal.leases[mac]  # not enrolled: DHCP ignores unknown MACs
    pxe_boot(server)
    # PXE gets no offer, and the disk holds nothing to boot.
    assert env_is(rack, "node02", "no-bootable-device")
    assert server.address is None
    assert rack.history("node02") == []
    assert not [s for s in portal.seen if s.source != portal.address_of(rack.servers["node01"])]


def test_the_address_is_the_reservation_at_each_boot(make_rack, portal):
    rack = make_rack(servers=1)
    server = provision(rack, portal, "node01")
    first = portal.address_of(server)
    assert {r.source for r in rack.history("node01")} == {first}
    # The portal moved the reservation (say, a new provisioning network): the next boot uses it.
    for mac in server.spec.macs:
        portal.leases[mac] = "127.1.9.9"
    disk_boot(server)
    assert rack.wait_for(lambda: server.address == "127.1.9.9")
    # Nothing the rack sends leaves loopback, whatever it is offered.
    for mac in server.spec.macs:
        portal.leases[mac] = "10.0.0.5"
    disk_boot(server)
    assert rack.wait_for(lambda: server.address is None)
