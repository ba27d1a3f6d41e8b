"""Scale smoke test: 1,000 servers in one process, all provisioned at once with zero delays."""

import time

from provisioning.virtualrack import RackConfig, VirtualRack
from tests.provisioning.virtualrack.test_inband import IMAGE, instructions, pxe_boot

SERVERS = 1000


def test_a_thousand_servers_start_and_all_finish_the_agent_protocol(portal, capsys):
    config = RackConfig(servers=SERVERS, portal_url=portal.url).zero_delay()
    started = time.monotonic()
    rack = VirtualRack(config, dhcp=portal.dhcp()).start()
    try:
        start_seconds = time.monotonic() - started
        servers = list(rack.servers.values())
        assert len(servers) == SERVERS
        assert len({portal.address_of(s) for s in servers}) == SERVERS
        for server in servers:
            portal.instructions[portal.token_for(server.spec.macs[0])] = instructions(
                "provision", IMAGE, {"name": "configure", "hostname": server.name}
            )

        started = time.monotonic()
        for server in servers:
            pxe_boot(server)
        done = rack.wait_for(
            lambda: all(s.environment == "agent-done" for s in servers), timeout=300
        )
        provision_seconds = time.monotonic() - started
        stuck = [s for s in servers if s.environment != "agent-done"]
        assert done, f"{len(stuck)} servers did not finish, e.g. {stuck[:3]}"
        with portal.lock:
            dones = {s.source for s in portal.seen if s.path == "/agent/done"}
            total = len(portal.seen)
        assert dones == {portal.address_of(s) for s in servers}
        with capsys.disabled():
            print(
                f"\n[virtual rack scale] {SERVERS} servers started in {start_seconds:.2f} s; "
                f"{SERVERS} PXE provisions ({total} requests) done in {provision_seconds:.2f} s"
            )
    finally:
        rack.stop()
