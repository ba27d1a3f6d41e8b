"""`manage.py bench_api [--devices 10000]`: requests/s of the Metal device list
(`GET /projects/{id}/devices?per_page=100`) against a bare Django view returning the identical
bytes, both served by the same gunicorn (same flags: 2 sync workers) in the same run; prints the
ratio, the app's CPU-ms per request and the queries per request at per_page=10 and 100.

A benchmark, not a test: run it on a scratch PostgreSQL database (`make bench-api` creates
one); it refuses a database that already has devices. The devices, their machines and their
three addresses each are written with bulk_create (provisioning is not what is measured).
"""

import http.client
import ipaddress
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client

from inventory import demo
from inventory.models import Facility, IPBlock, IPReservation, Machine, OperatingSystem, Plan
from portal import services as portal_services
from portal.diagnostics import read_query_counts
from portal.models import Project
from provisioning.bench.processes import free_port, start_gunicorn, tree_cpu_seconds
from provisioning.management.commands.bench_provision import BENCH_BLOCKS
from provisioning.models import Device, IPAssignment

BATCH = 2000


def _hammer(port: int, path: str, headers: dict, seconds: float, clients: int) -> tuple[int, int]:
    """(ok, failed) requests from `clients` threads sending one request after another."""
    stop = time.monotonic() + seconds
    results = [[0, 0] for _ in range(clients)]

    def client(tally):
        while time.monotonic() < stop:
            # gunicorn's sync workers close every connection after one response.
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                tally[0 if response.status == 200 else 1] += 1
            except OSError:
                tally[1] += 1
            finally:
                connection.close()

    threads = [threading.Thread(target=client, args=(tally,)) for tally in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(r[0] for r in results), sum(r[1] for r in results)


def _get(port: int, path: str, headers: dict) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise CommandError(f"GET {path} answered {response.status}: {body[:300]!r}")
        return body
    finally:
        connection.close()


class Command(BaseCommand):
    help = "Benchmark the Metal device list against a bare Django view (requests/s, CPU, queries)."

    def add_arguments(self, parser):
        parser.add_argument("--devices", type=int, default=10_000)
        parser.add_argument("--seconds", type=float, default=10)
        parser.add_argument("--clients", type=int, default=4, help="load generator threads")
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, devices, seconds, clients, web_workers, **options):
        if Device.objects.exists():
            raise CommandError("This database already has devices; use a scratch database.")
        started = time.monotonic()
        project, token = self._populate(devices)
        with connection.cursor() as cursor:
            # Planner statistics, as autovacuum would have them for a table this size.
            cursor.execute("ANALYZE")
        self.stderr.write(f"  {devices} devices written in {time.monotonic() - started:.1f} s")
        api = f"/metal/v1/projects/{project.uuid}/devices?per_page=100"
        headers = {"X-Auth-Token": token}
        body = Client().get(api, headers=headers).content
        workdir = Path(tempfile.mkdtemp(prefix="ironyard-bench-api-"))
        (workdir / "body.json").write_bytes(body)
        counts = workdir / "queries"
        counts.mkdir()
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "provisioning.bench.settings",
            "IRONYARD_BENCH_BODY": str(workdir / "body.json"),
            "IRONYARD_QUERY_COUNT_DIR": str(counts),
            "IRONYARD_INSECURE_HTTP": "1",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
        }
        web = start_gunicorn(port, web_workers, env)
        try:
            self._wait_for(port)
            served = _get(port, api, headers)
            if served != _get(port, "/bench/baseline", {}):
                raise CommandError("the baseline does not return the API's bytes")
            runs = {}
            for name, path, hdrs in (
                ("api", api, headers),
                ("baseline", "/bench/baseline", {}),
            ):
                _hammer(port, path, hdrs, min(2.0, seconds), clients)  # warm both workers
                cpu_before = tree_cpu_seconds(web.pid)
                ok, failed = _hammer(port, path, hdrs, seconds, clients)
                runs[name] = (ok, failed, tree_cpu_seconds(web.pid) - cpu_before)
            queries = {n: self._queries(port, project, headers, n, counts) for n in (10, 100)}
        finally:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=30)
        api_ok, api_failed, api_cpu = runs["api"]
        base_ok, base_failed, base_cpu = runs["baseline"]
        api_rps, base_rps = api_ok / seconds, base_ok / seconds
        self.stdout.write(
            f"devices in the project     {devices}\n"
            f"response                   {len(served):,} bytes (100 devices)\n"
            f"gunicorn                   {web_workers} sync workers; {clients} client threads, "
            f"{seconds:.0f} s each\n"
            f"API requests/s             {api_rps:.1f}  ({api_failed} failed)\n"
            f"baseline requests/s        {base_rps:.1f}  ({base_failed} failed)\n"
            f"ratio API / baseline       {api_rps / base_rps:.2f}  (target: >= 0.5)\n"
            f"app CPU per request        API {api_cpu * 1000 / max(api_ok, 1):.1f} ms, "
            f"baseline {base_cpu * 1000 / max(base_ok, 1):.1f} ms\n"
            f"queries per request        per_page=10: {queries[10]:.1f}, "
            f"per_page=100: {queries[100]:.1f}  (target: equal)"
        )

    def _wait_for(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                _get(port, "/bench/baseline", {})
                return
            except (OSError, CommandError):
                time.sleep(0.2)
        raise CommandError("gunicorn did not come up within 30 s")

    def _queries(self, port, project, headers, per_page: int, counts: Path) -> float:
        """Queries per request at this page size, counted inside the gunicorn workers."""
        path = f"/metal/v1/projects/{project.uuid}/devices?per_page={per_page}"
        requests = 20
        time.sleep(1.2)  # the workers flush their counters twice a second
        before = read_query_counts(counts)
        for _ in range(requests):
            _get(port, path, headers)
        time.sleep(1.2)
        return (read_query_counts(counts) - before) / requests

    def _populate(self, count: int) -> tuple[Project, str]:
        """One project with `count` active devices, each on its own machine with 3 addresses."""
        demo.seed_catalogue()
        for kind, network in BENCH_BLOCKS:
            IPBlock.objects.get_or_create(
                network=network,
                defaults={"kind": kind, "metro": Facility.objects.get(code="sv15").metro},
            )
        user = portal_services.create_user(
            email=f"bench-{time.time_ns()}@example.com", password=None, is_staff=False
        )
        project = Project.objects.for_user(user).get()
        _, token = portal_services.create_api_key(acting_user=user, description="bench")
        facility = Facility.objects.get(code="sv15")
        plan = Plan.objects.get(slug="c3.small.x86")
        os_ = OperatingSystem.objects.get(slug="ubuntu_24_04")
        blocks = {kind: IPBlock.objects.get(network=network) for kind, network in BENCH_BLOCKS}
        subnets = {
            "public_ipv4": ipaddress.ip_network(BENCH_BLOCKS[0][1]).subnets(new_prefix=31),
            "private_ipv4": ipaddress.ip_network(BENCH_BLOCKS[1][1]).subnets(new_prefix=31),
            "public_ipv6": ipaddress.ip_network(BENCH_BLOCKS[2][1]).subnets(new_prefix=127),
        }
        for start in range(0, count, BATCH):
            numbers = range(start, min(start + BATCH, count))
            machines = Machine.objects.bulk_create(
                Machine(
                    name=f"bench-{n:05d}",
                    facility=facility,
                    plan=plan,
                    state="in_use",
                    bmc_driver="redfish",
                    bmc_address=f"https://10.200.{n // 250}.{n % 250 + 1}",
                )
                for n in numbers
            )
            devices = Device.objects.bulk_create(
                Device(
                    project=project,
                    hostname=f"bench-{n:05d}",
                    plan=plan,
                    metro=facility.metro,
                    facility=facility,
                    operating_system=os_,
                    machine=machine,
                    created_by=user,
                    state="active",
                    tags=["bench", f"rack-{n % 40}"],
                )
                for n, machine in zip(numbers, machines, strict=True)
            )
            reservations = IPReservation.objects.bulk_create(
                IPReservation(
                    block=blocks[kind],
                    project=project,
                    network=str(next(subnets[kind])),
                    metro=facility.metro,
                    management=True,
                )
                for _ in devices
                for kind in subnets
            )
            IPAssignment.objects.bulk_create(
                IPAssignment(
                    reservation=reservation,
                    device=devices[i // 3],
                    network=reservation.network,
                    public=reservation.block.kind != "private_ipv4",
                    management=True,
                )
                for i, reservation in enumerate(reservations)
            )
        return project, token
