"""`manage.py bench_api [--devices 10000]`: requests/s of the Metal device list
(`GET /projects/{id}/devices?per_page=100`, rendered on every request) against a bare Django
view returning the identical bytes and against the list's own view stopped short of rendering
(token, rate limits, project, count and keys: the floor under any rendering), served by the
same gunicorn (2 sync workers) in the same run, in alternating 2-second rounds so that a
machine whose speed drifts slows all three alike; the app's CPU-ms per request and its queries
at per_page=10 and 100; then the same list polled while `--provisioning` devices (200) of the
same project provision on a virtual rack with a Celery worker (latency p50/p99, requests/s),
since that is when clients poll.

A benchmark, not a test: run it on a scratch PostgreSQL database (`make bench-api` creates
one); it refuses a database that already has devices. The devices, their machines and their
three addresses each are written with bulk_create (provisioning is not what is measured).
"""

import http.client
import ipaddress
import os
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
from provisioning.bench.processes import (
    free_port,
    start_gunicorn,
    start_worker,
    stop,
    tree_cpu_seconds,
)
from provisioning.management.commands.bench_provision import (
    BENCH_BLOCKS,
    post_batch,
    rack_machines,
)
from provisioning.models import Device, IPAssignment
from provisioning.virtualrack import RackConfig, VirtualRack
from provisioning.virtualrack.dhcp import Dhcp, from_portal_database

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


def _poll(port: int, path: str, headers: dict, seconds: float, clients: int):
    """(latency of each successful request in seconds, failed requests) from `clients` threads
    polling `path` one request after another."""
    stop_at = time.monotonic() + seconds
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def client():
        while time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                _get(port, path, headers)
            except (OSError, CommandError):
                with lock:
                    failures[0] += 1
                continue
            with lock:
                latencies.append(time.monotonic() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures[0]


class Command(BaseCommand):
    help = "Benchmark the Metal device list against a bare Django view (requests/s, CPU, queries)."

    def add_arguments(self, parser):
        parser.add_argument("--devices", type=int, default=10_000)
        parser.add_argument("--seconds", type=float, default=10)
        parser.add_argument("--clients", type=int, default=4, help="load generator threads")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument(
            "--provisioning",
            type=int,
            default=200,
            help="devices provisioning in the project during the second measurement (0: skip)",
        )
        parser.add_argument("--concurrency", type=int, default=2, help="Celery prefork size")

    def handle(
        self, *args, devices, seconds, clients, web_workers, provisioning, concurrency, **options
    ):
        if Device.objects.exists():
            raise CommandError("This database already has devices; use a scratch database.")
        started = time.monotonic()
        project, token = self._populate(devices)
        with connection.cursor() as cursor:
            # The tables as autovacuum keeps them once the fleet has settled: planner
            # statistics, and the visibility map that lets the page's count read the index
            # alone (freshly written, every row would be fetched from the table to check it).
            cursor.execute("VACUUM ANALYZE")
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
        port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "provisioning.bench.settings",
            "IRONYARD_BENCH_BODY": str(workdir / "body.json"),
            "IRONYARD_QUERY_COUNT_DIR": str(counts),
            "IRONYARD_INSECURE_HTTP": "1",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "BOOT_BASE_URL": f"http://127.0.0.1:{port}",
            "POWER_POLL_SECONDS": "0.5",
        }
        web = start_gunicorn(port, web_workers, env)
        try:
            self._wait_for(port)
            served = _get(port, api, headers)
            if served != _get(port, "/bench/baseline", {}) or served != body:
                raise CommandError("the API's bytes are not the baseline's")
            floor = f"/bench/floor/projects/{project.uuid}/devices?per_page=100"
            if _get(port, floor, headers) != body:
                raise CommandError("the floor view's bytes are not the API's")
            baseline, floored, rendered = self._alternating(
                web,
                port,
                [("/bench/baseline", {}), (floor, headers), (api, headers)],
                seconds,
                clients,
            )
            queries = {n: self._queries(port, project, headers, n, counts) for n in (10, 100)}
            polled = (
                self._while_provisioning(port, env, token, project, api, headers, seconds, clients,
                                         provisioning, concurrency)
                if provisioning
                else None
            )  # fmt: skip
        finally:
            stop(web)
        rps = {name: ok / spent for name, (ok, _, _, spent) in (
            ("baseline", baseline), ("floor", floored), ("rendered", rendered)
        )}  # fmt: skip

        def cpu_ms(run):
            ok, _, cpu, _ = run
            return cpu * 1000 / max(ok, 1)

        self.stdout.write(
            f"devices in the project     {devices}\n"
            f"response                   {len(body):,} bytes (100 devices)\n"
            f"gunicorn                   {web_workers} sync workers; {clients} client threads, "
            f"{seconds:.0f} s each, in alternating rounds of {ROUND_SECONDS} s\n"
            f"baseline requests/s        {rps['baseline']:.1f}  ({baseline[1]} failed), "
            f"{cpu_ms(baseline):.1f} CPU-ms each\n"
            f"API without its rendering  {rps['floor']:.1f} requests/s ({floored[1]} failed), "
            f"{cpu_ms(floored):.1f} CPU-ms each, ratio {rps['floor'] / rps['baseline']:.2f} "
            f"(token, rate limits, project, count and keys: what no rendering can go below)\n"
            f"API, rendered each time    {rps['rendered']:.1f} requests/s ({rendered[1]} failed), "
            f"{cpu_ms(rendered):.1f} CPU-ms each, ratio {rps['rendered'] / rps['baseline']:.2f} "
            f"(target >= 0.1)\n"
            f"queries per request        per_page=10: {queries[10]:.1f}, "
            f"per_page=100: {queries[100]:.1f}\n"
        )
        if polled is not None:
            self.stdout.write(polled)

    def _while_provisioning(
        self, port, env, token, project, api, headers, seconds, clients, servers, concurrency
    ) -> str:
        """The list polled while `servers` devices of the same project provision on a virtual
        rack (with delays, so they are still provisioning while the clients poll): latency p50
        and p99 and requests/s, as a client polling for its new servers sees them."""
        plan = Plan.objects.get(slug="c3.small.x86")
        config = RackConfig(
            servers=servers,
            facilities=("sv15",),
            portal_url=f"http://127.0.0.1:{port}",
            bmc_port=0,
            power_delay=1.0,
            boot_delay=2.0,
            write_speed=100.0,  # a 2 GiB image in about 20 s, reported as it goes
            workers=32,
        )
        with VirtualRack(config, dhcp=Dhcp(from_portal_database)) as rack:
            rack_machines(rack, plan)
            worker = start_worker(env, "celery,site.sv15", "bench-api", concurrency=concurrency)
            try:
                time.sleep(3)  # the worker up before the clock starts
                post_batch(
                    port,
                    token,
                    project,
                    {
                        "batches": [
                            {
                                "plan": plan.slug,
                                "operating_system": "ubuntu_24_04",
                                "metro": "sv",
                                "quantity": servers,
                            }
                        ]
                    },
                )
                latencies, failed = _poll(port, api, headers, seconds, clients)
                moving = Device.objects.filter(
                    state__in=[Device.State.QUEUED, Device.State.PROVISIONING]
                ).count()
            finally:
                stop(worker)
        latencies.sort()

        def percentile(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

        return (
            f"while {servers} devices of the project provision ({moving} still provisioning at "
            f"the end): {len(latencies) / seconds:.1f} requests/s ({failed} failed), "
            f"p50 {percentile(0.5):.0f} ms, p99 {percentile(0.99):.0f} ms\n"
        )

    def _alternating(self, web, port, paths, seconds, clients) -> list[tuple]:
        """_measure of each (path, headers) in `paths`, in alternating rounds of
        ROUND_SECONDS, summed: a machine whose speed drifts during the run (CPU frequency,
        neighbours) slows them all alike."""
        totals = [[0, 0, 0.0, 0.0] for _ in paths]
        for _ in range(max(1, round(seconds / ROUND_SECONDS))):
            for total, (path, headers) in zip(totals, paths, strict=True):
                run = self._measure(web, port, path, headers, ROUND_SECONDS, clients, warm_up=0.5)
                total[:] = [a + b for a, b in zip(total, run, strict=True)]
        return [tuple(total) for total in totals]

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
