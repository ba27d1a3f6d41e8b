"""`manage.py bench_provision [--servers 1000]`: provision N servers from one batch request
(`POST /metal/v1/projects/{id}/devices/batch`, as a Metal client sends it) on a zero-delay
virtual rack and print devices/minute, portal CPU-ms per device and queries per device. A
benchmark, not a test: run it on a scratch PostgreSQL database (`make bench-provision` creates
one); it refuses a database that already has devices.

What runs: the virtual rack in this process (its CPU is not the portal's), the portal's web
side under gunicorn and one Celery worker (prefork) as child processes, whose CPU time and
database queries are what is measured; the CPU of a PostgreSQL server on this machine is
printed too, as it shares the same cores. Queries are counted by the portal's opt-in
IRONYARD_QUERY_COUNT_DIR instrumentation (portal.diagnostics).
"""

import http.client
import json
import os
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inventory import demo
from inventory.models import (
    Facility,
    IPBlock,
    Machine,
    MachineNic,
    Metro,
    OperatingSystem,
    Plan,
)
from inventory.services import assign_provisioning_addresses
from portal import services as portal_services
from portal.diagnostics import read_query_counts
from portal.models import Project
from provisioning.bench.processes import (
    free_port,
    named_cpu_seconds,
    start_gunicorn,
    start_worker,
    stop,
    tree_cpu_seconds,
)
from provisioning.models import Device
from provisioning.virtualrack import RackConfig, VirtualRack
from provisioning.virtualrack.dhcp import Dhcp, from_portal_database

ROOT = Path(settings.BASE_DIR)
# The demo's blocks hold 128 servers per metro; a benchmark rack needs room for thousands.
BENCH_BLOCKS = [
    ("public_ipv4", "100.64.0.0/16"),
    ("private_ipv4", "10.100.0.0/16"),
    ("public_ipv6", "2001:db8:100::/48"),
]


def rack_machines(rack: VirtualRack, plan: Plan, facility_code: str = "sv15") -> None:
    """Machines straight from a rack's inventory (enrollment is not what is measured), each
    with its provisioning address, as enrollment would give it."""
    facility = Facility.objects.get(code=facility_code)
    machines = []
    for server in rack.inventory()["servers"]:
        bmc = server["bmc"]
        machine = Machine.objects.create(
            name=server["name"],
            facility=facility,
            plan=plan,
            state="available",
            system_uuid=server["uuid"],
            serial_number=server["serial"],
            bmc_driver=bmc["driver"],
            bmc_address=bmc["address"],
            bmc_system_id=bmc["system_id"] or "",
            bmc_username=bmc["username"],
            bmc_password=bmc["password"],
        )
        MachineNic.objects.bulk_create(
            MachineNic(machine=machine, name=f"eth{i}", mac_address=mac.lower())
            for i, mac in enumerate(server["macs"])
        )
        machines.append(machine)
    assign_provisioning_addresses(facility, machines)


def post_batch(port: int, token: str, project, body: dict) -> None:
    """POST /metal/v1/projects/{id}/devices/batch, as a client sends it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(
            "POST",
            f"/metal/v1/projects/{project.uuid}/devices/batch",
            json.dumps(body),
            {"X-Auth-Token": token, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    if response.status != 201:
        raise CommandError(f"the batch request answered {response.status}: {answer[:500]!r}")


class Command(BaseCommand):
    help = "Benchmark provisioning N servers on a zero-delay virtual rack."

    def add_arguments(self, parser):
        parser.add_argument("--servers", type=int, default=1000)
        parser.add_argument("--web-workers", type=int, default=3)
        parser.add_argument("--concurrency", type=int, default=2, help="Celery prefork size")
        parser.add_argument("--timeout", type=float, default=600)

    def handle(self, *args, servers, web_workers, concurrency, timeout, **options):
        if Device.objects.exists():
            raise CommandError("This database already has devices; use a scratch database.")
        port = free_port()
        portal_url = f"http://127.0.0.1:{port}"
        counts = Path(tempfile.mkdtemp(prefix="ironyard-queries-"))
        plan, os_, metro, project, user = self._catalogue(servers)
        _, token = portal_services.create_api_key(
            acting_user=user, project=None, read_only=False, description="bench_provision"
        )
        config = RackConfig(
            servers=servers, facilities=("sv15",), portal_url=portal_url, bmc_port=0, workers=32
        ).zero_delay()
        with VirtualRack(config, dhcp=Dhcp(from_portal_database)) as rack:
            rack_machines(rack, plan)
            env = {
                **os.environ,
                "IRONYARD_QUERY_COUNT_DIR": str(counts),
                "BOOT_BASE_URL": portal_url,
                "POWER_POLL_SECONDS": "0.2",
                "IRONYARD_INSECURE_HTTP": "1",
                "SECURE_SSL_REDIRECT": "0",
            }
            web = start_gunicorn(port, web_workers, env)
            worker = start_worker(
                env, "celery,site.sv15", "bench-provision", concurrency=concurrency
            )
            try:
                time.sleep(3)  # let both come up before the clock starts
                web_before, worker_before = (
                    tree_cpu_seconds(web.pid),
                    tree_cpu_seconds(worker.pid),
                )
                rack_before = time.process_time()
                database_before = named_cpu_seconds("postgres")
                queries_before = read_query_counts(counts)
                started = time.monotonic()
                post_batch(
                    port,
                    token,
                    project,
                    {
                        "batches": [
                            {
                                "plan": plan.slug,
                                "operating_system": os_.slug,
                                "metro": metro.code,
                                "quantity": servers,
                            }
                        ]
                    },
                )
                created = time.monotonic() - started
                self._wait(servers, started, timeout)
                elapsed = time.monotonic() - started
                web_cpu = tree_cpu_seconds(web.pid) - web_before
                worker_cpu = tree_cpu_seconds(worker.pid) - worker_before
                rack_cpu = time.process_time() - rack_before
                database_cpu = named_cpu_seconds("postgres") - database_before
                time.sleep(1.5)  # let the counters flush
                queries = read_query_counts(counts) - queries_before
            finally:
                stop(worker, web)
        failed = Device.objects.filter(state="failed").count()
        self.stdout.write(
            f"servers                 {servers}\n"
            f"batch request           {created:.2f} s (POST …/devices/batch: allocation, "
            "addresses, queueing)\n"
            f"all active after        {elapsed:.1f} s  (target: under 60 s)\n"
            f"devices per minute      {servers / elapsed * 60:.0f}\n"
            f"portal CPU per device   {(web_cpu + worker_cpu) * 1000 / servers:.1f} ms "
            f"(web {web_cpu * 1000 / servers:.1f} + worker {worker_cpu * 1000 / servers:.1f}; "
            f"the rack, not counted: {rack_cpu * 1000 / servers:.1f})\n"
            f"database CPU per device {database_cpu * 1000 / servers:.1f} ms (this machine's "
            "PostgreSQL processes, all of them)\n"
            f"queries per device      {queries / servers:.1f} (web + worker, the batch request "
            "included)\n"
            f"failed devices          {failed}"
        )

    def _catalogue(self, servers: int):
        demo.seed_catalogue()
        metro = Metro.objects.get(code="sv")
        for kind, network in BENCH_BLOCKS:
            IPBlock.objects.get_or_create(network=network, defaults={"kind": kind, "metro": metro})
        user = portal_services.create_user(
            email=f"bench-{time.time_ns()}@example.com", password=None, is_staff=True
        )
        project = Project.objects.for_user(user).get()
        plan = Plan.objects.get(slug="c3.small.x86")
        return plan, OperatingSystem.objects.get(slug="ubuntu_24_04"), metro, project, user

    def _wait(self, servers: int, started: float, timeout: float) -> None:
        last = -1
        while time.monotonic() - started < timeout:
            active = Device.objects.filter(state__in=["active", "failed"]).count()
            if active != last:
                self.stderr.write(f"  {time.monotonic() - started:6.1f} s  {active}/{servers}")
                last = active
            if active >= servers:
                return
            time.sleep(1)
        raise CommandError(f"only {last} of {servers} settled within {timeout:.0f} s")
