"""`manage.py bench_api [--devices 10000]`: requests/s of the Metal device list
(`GET /projects/{id}/devices?per_page=100`) against a bare Django view returning the identical
bytes, served by the same gunicorn (same flags: 2 sync workers) in the same run: once with the
list cache on (a list nobody changes: hits), measured in alternating 2-second rounds with the
baseline so that a machine whose speed drifts slows both alike, and once with it off (every
request renders, as when the project changes between polls). Prints each ratio, the app's
CPU-ms per request and the queries per request at per_page=10 and 100. Needs REDIS_URL (`make
bench-api` sets it).

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
from django.test import Client, override_settings

from inventory import demo
from inventory.models import Facility, IPBlock, IPReservation, Machine, OperatingSystem, Plan
from portal import services as portal_services
from portal.diagnostics import read_query_counts
from portal.models import Project
from provisioning.bench.processes import free_port, start_gunicorn, tree_cpu_seconds
from provisioning.management.commands.bench_provision import BENCH_BLOCKS
from provisioning.models import Device, IPAssignment

BATCH = 2000
ROUND_SECONDS = 2


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
        # Off for this one request: its address's counter may still hold another run's load.
        with override_settings(API_RATE_PER_IP="off", API_RATE_PER_TOKEN="off"):  # noqa: S106
            body = Client().get(api, headers=headers).content
        workdir = Path(tempfile.mkdtemp(prefix="ironyard-bench-api-"))
        (workdir / "body.json").write_bytes(body)
        counts = workdir / "queries"
        counts.mkdir()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "provisioning.bench.settings",
            "IRONYARD_BENCH_BODY": str(workdir / "body.json"),
            "IRONYARD_QUERY_COUNT_DIR": str(counts),
            "IRONYARD_INSECURE_HTTP": "1",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
        }
        if not env.get("REDIS_URL"):
            raise CommandError("Set REDIS_URL: the list cache needs a cache all workers share.")
        runs, queries = {}, {}
        # The list cache on (a list nobody is changing: every request after the first is a
        # hit), then off (every request renders, as when the project changes between polls).
        for mode, cache_on in (("cached", "1"), ("rendered", "0")):
            port = free_port()
            web = start_gunicorn(port, web_workers, {**env, "METAL_API_CACHE": cache_on})
            try:
                self._wait_for(port)
                served = _get(port, api, headers)
                if served != _get(port, "/bench/baseline", {}) or served != body:
                    raise CommandError(f"{mode}: the API's bytes are not the baseline's")
                if mode == "cached":
                    runs["baseline"], runs[mode] = self._measure_against(
                        web, port, ("/bench/baseline", {}), (api, headers), seconds, clients
                    )
                else:
                    runs[mode] = self._measure(web, port, api, headers, seconds, clients)
                queries[mode] = {
                    n: self._queries(port, project, headers, n, counts) for n in (10, 100)
                }
            finally:
                os.killpg(web.pid, signal.SIGTERM)
                web.wait(timeout=30)
        rps = {name: ok / spent for name, (ok, _, _, spent) in runs.items()}

        def cpu_ms(name):
            ok, _, cpu, _ = runs[name]
            return cpu * 1000 / max(ok, 1)

        self.stdout.write(
            f"devices in the project     {devices}\n"
            f"response                   {len(body):,} bytes (100 devices)\n"
            f"gunicorn                   {web_workers} sync workers; {clients} client threads, "
            f"{seconds:.0f} s each\n"
            f"baseline requests/s        {rps['baseline']:.1f}  ({runs['baseline'][1]} failed), "
            f"{cpu_ms('baseline'):.1f} CPU-ms each\n"
        )
        for mode, label in (("cached", "from the list cache"), ("rendered", "rendered each time")):
            self.stdout.write(
                f"API, {label:<20} {rps[mode]:.1f} requests/s ({runs[mode][1]} failed), "
                f"{cpu_ms(mode):.1f} CPU-ms each, ratio {rps[mode] / rps['baseline']:.2f} "
                f"(target >= 0.5); queries per_page=10: {queries[mode][10]:.1f}, "
                f"per_page=100: {queries[mode][100]:.1f}\n"
            )

    def _measure_against(self, web, port, baseline, measured, seconds, clients):
        """Both paths' _measure in alternating rounds of ROUND_SECONDS, summed: a machine
        whose speed drifts during the run (CPU frequency, neighbours) slows both alike."""
        totals = {"baseline": [0, 0, 0.0, 0.0], "measured": [0, 0, 0.0, 0.0]}
        for _ in range(max(1, round(seconds / ROUND_SECONDS))):
            for name, (path, headers) in (("baseline", baseline), ("measured", measured)):
                run = self._measure(web, port, path, headers, ROUND_SECONDS, clients, warm_up=0.5)
                totals[name] = [a + b for a, b in zip(totals[name], run, strict=True)]
        return tuple(tuple(totals[name]) for name in ("baseline", "measured"))

    def _measure(
        self, web, port, path, headers, seconds, clients, warm_up=2.0
    ) -> tuple[int, int, float, float]:
        """(ok, failed, CPU seconds of the gunicorn tree, seconds) for `seconds` of load, after
        a warm-up that has every worker serve the path first."""
        _hammer(port, path, headers, min(warm_up, seconds), clients)
        cpu_before = tree_cpu_seconds(web.pid)
        ok, failed = _hammer(port, path, headers, seconds, clients)
        return ok, failed, tree_cpu_seconds(web.pid) - cpu_before, seconds

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
