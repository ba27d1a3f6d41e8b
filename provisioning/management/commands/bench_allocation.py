"""`manage.py bench_allocation`: how device creation, the machine claim and the capacity report
scale with the inventory. Creates one device and a batch of ten through the real service
(`provisioning.services.create_devices`, default addresses: a public and a private IPv4 /31 and
an IPv6 /127 each) with 1k / 10k / 100k available machines, then, at 100k machines, with 0 / 30k
/ 150k IP reservations already in the metro (other tenants' servers, whose machines are the
lowest-numbered ones, now in use). Prints each case's best and median time and its queries,
and the ratio of the largest case to the smallest (the budgets: at most 1.5 for creation and
the claim, 3 for capacity).

A benchmark, not a test: run it on a scratch PostgreSQL database (`make bench-allocation`
creates one); it refuses a database that already has machines. Each timed run is a transaction
that is rolled back (commit and the doorbells after it are not what is measured), so every run
of a case sees the same inventory. A rollback makes psycopg forget the statements it prepared,
so PostgreSQL plans every statement here for its parameters, where a web worker's fifth run of
one may get a plan made once for any parameters (which is why the claim's index is not a
partial one). The actions of a case take turns, and the best time of each is printed beside
the median: on a shared machine the best run is the one least disturbed by other processes.

After each step of seeding, the database is vacuumed and analysed, as autovacuum would have it
for tables this size, and one address of each kind is reserved through the allocator and
committed, as the servers before would have been (its time is printed too: the first
allocation in a block the allocator has not been through before).
"""

import ipaddress
import statistics
import time
from collections.abc import Callable, Iterator

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from inventory import demo
from inventory import services as inventory_services
from inventory.models import Facility, IPBlock, IPReservation, Machine, Metro, OperatingSystem, Plan
from portal import services as portal_services
from portal.models import Project
from provisioning import allocation
from provisioning.services import DeviceRequest, create_devices

BATCH = 5000
BLOCKS = [  # room for 50k+ servers' addresses each
    ("public_ipv4", "100.64.0.0/14"),
    ("private_ipv4", "10.64.0.0/14"),
    ("public_ipv6", "2001:db8:200::/48"),
]
MACHINES = (1_000, 10_000, 100_000)
RESERVATIONS = (0, 30_000, 150_000)


class _Rollback(Exception):
    """Raised to leave a timed transaction without committing it."""


def _reservations(kind: str, block: str) -> Iterator[tuple[str, bool]]:
    """(network, management) in the order a lowest-first allocator hands them out, no holes:
    servers' own /31s (/127s), and now and then a project's elastic /29 (a /56 in IPv6)."""
    net = ipaddress.ip_network(block)
    if kind == "public_ipv6":
        # Servers' /127s fill the first /56; elastic /56s take the next ones, one per 500.
        elastic = net.subnets(new_prefix=56)
        servers = next(elastic).subnets(new_prefix=127)
        for n, subnet in enumerate(servers):
            yield str(subnet), True
            if n % 500 == 499:
                yield str(next(elastic)), False
    for n, chunk in enumerate(net.subnets(new_prefix=29)):
        if kind == "public_ipv4" and n % 40 == 39:
            yield str(chunk), False
        else:
            for subnet in chunk.subnets(new_prefix=31):
                yield str(subnet), True


class Command(BaseCommand):
    help = "Benchmark device creation, the machine claim and capacity against inventory size."

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=15, help="timed runs per case")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="multiply every size (a quick look: 0.01)"
        )

    def handle(self, *args, repeat, scale, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Run this on PostgreSQL (make bench-allocation).")
        if Machine.objects.exists():
            raise CommandError("This database already has machines; use a scratch database.")
        self.repeat = repeat
        self._catalogue()
        self.machine_steps = [round(n * scale) for n in MACHINES]
        self.reservation_steps = [round(n * scale) for n in RESERVATIONS]
        self.stdout.write(self._header())
        results = []
        for machines in self.machine_steps:
            self._grow_machines(machines)
            results.append(self._case(f"{machines:,} machines", machines, 0))
        for reservations in self.reservation_steps[1:]:
            self._grow_reservations(reservations)
            results.append(self._case(f"{reservations:,} reservations", machines, reservations))
        self._report(results)

    # Seeding

    def _catalogue(self) -> None:
        demo.seed_catalogue()
        self.metro = Metro.objects.create(code="bm", name="Bench Metro", country="US")
        self.facilities = [
            Facility.objects.create(code=code, name=code.upper(), metro=self.metro)
            for code in ("bm1", "bm2")
        ]
        self.plan = Plan.objects.get(slug="c3.small.x86")
        self.other_plan = Plan.objects.get(slug="m3.large.x86")
        for plan in (self.plan, self.other_plan):
            plan.metros.add(self.metro)
        self.os = OperatingSystem.objects.get(slug="ubuntu_24_04")
        self.blocks = {
            kind: IPBlock.objects.create(kind=kind, network=network, metro=self.metro)
            for kind, network in BLOCKS
        }
        self.subnets = {kind: _reservations(kind, network) for kind, network in BLOCKS}
        self.user = portal_services.create_user(
            email=f"bench-{time.time_ns()}@example.com", password=None
        )
        self.project = Project.objects.for_user(self.user).get()
        tenant = portal_services.create_user(
            email=f"tenants-{time.time_ns()}@example.com", password=None
        )
        self.tenants = Project.objects.for_user(tenant).get()
        self.machine_count = self.reservation_count = 0
        self.warm_ms: dict[int, float] = {}
        self.allocated: set[str] = set()

    def _new_machines(self, count: int, state: str) -> None:
        for start in range(0, count, BATCH):
            numbers = range(self.machine_count, self.machine_count + min(BATCH, count - start))
            Machine.objects.bulk_create(
                Machine(
                    name=f"bench-{n:06d}",
                    facility=self.facilities[n % 2],
                    # One in ten of another plan, so capacity has more than one row to count.
                    plan=self.other_plan if n % 10 == 9 else self.plan,
                    state=state,
                    bmc_driver="redfish",
                    bmc_address=f"https://10.{200 + n // 65536}.{n // 256 % 256}.{n % 256}",
                )
                for n in numbers
            )
            self.machine_count += len(numbers)

    def _grow_machines(self, available: int) -> None:
        started = time.monotonic()
        self._new_machines(available - self.machine_count, Machine.State.AVAILABLE)
        self._settle(f"{self.machine_count:,} machines", started)

    def _grow_reservations(self, total: int) -> None:
        """Other tenants' servers: their addresses, and the lowest-numbered available machines
        put in use for them (replaced by new ones, so as many stay available)."""
        started = time.monotonic()
        servers = (total - self.reservation_count) // 3
        in_use = list(
            Machine.objects.filter(state=Machine.State.AVAILABLE)
            .order_by("pk")
            .values_list("pk", flat=True)[:servers]
        )
        for start in range(0, len(in_use), BATCH):
            Machine.objects.filter(pk__in=in_use[start : start + BATCH]).update(
                state=Machine.State.IN_USE
            )
        self._new_machines(len(in_use), Machine.State.AVAILABLE)
        rows = []
        for kind, subnets in self.subnets.items():
            for _ in range(servers):
                network, management = next(subnets)
                while network in self.allocated:  # taken by the allocator after the last step
                    network, management = next(subnets)
                rows.append(
                    IPReservation(
                        block=self.blocks[kind],
                        project=self.tenants,
                        network=network,
                        metro=self.metro,
                        management=management,
                    )
                )
        IPReservation.objects.bulk_create(rows, batch_size=BATCH)
        self.reservation_count = IPReservation.objects.count()
        self._settle(f"{self.reservation_count:,} reservations", started)
        # The allocator's own first reservations in each block, committed.
        spent = 0.0
        for kind, prefix in (("public_ipv4", 31), ("private_ipv4", 31), ("public_ipv6", 127)):
            begin = time.perf_counter()
            with transaction.atomic():
                [made] = inventory_services.allocate_subnets(
                    kind=kind,
                    prefix_length=prefix,
                    count=1,
                    project=self.tenants,
                    metro=self.metro,
                    management=True,
                )
            spent += time.perf_counter() - begin
            self.allocated.add(made.network)
        self.warm_ms[total] = spent * 1000

    def _settle(self, what: str, started: float) -> None:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        self.stderr.write(f"  {what} written in {time.monotonic() - started:.1f} s")

    # Measuring

    def _timed(self, action: Callable[[], object]) -> tuple[float, int]:
        """(milliseconds, queries) of `action` inside a transaction that is then rolled back."""
        queries = 0

        def count(execute, sql, params, many, context):
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        try:
            with transaction.atomic(), connection.execute_wrapper(count):
                begin = time.perf_counter()
                action()
                spent = time.perf_counter() - begin
                raise _Rollback
        except _Rollback:
            pass
        return spent * 1000, queries

    def _create(self, quantity: int) -> Callable[[], object]:
        request = DeviceRequest(
            plan=self.plan, operating_system=self.os, metros=[self.metro], quantity=quantity
        )
        return lambda: create_devices(project=self.project, acting_user=self.user, request=request)

    def _claim(self, count: int) -> Callable[[], object]:
        return lambda: allocation.allocate(plan=self.plan, count=count, metros=[self.metro])

    def _case(self, label: str, machines: int, reservations: int) -> dict:
        """Each action's best and median time and its queries, the actions taking turns (so a
        burst of load from another process spreads over all of them)."""
        actions = {
            "create1": self._create(1),
            "create10": self._create(10),
            "claim1": self._claim(1),
            "claim10": self._claim(10),
            "capacity": lambda: inventory_services.capacity_report(by="metro"),
            "capacity_f": lambda: inventory_services.capacity_report(by="facility"),
        }
        runs: dict[str, list[tuple[float, int]]] = {key: [] for key in actions}
        for turn in range(2 + self.repeat):  # two to warm up
            for key, action in actions.items():
                run = self._timed(action)
                if turn >= 2:
                    runs[key].append(run)
        row = {"label": label, "machines": machines, "reservations": reservations}
        for key, timed in runs.items():
            times = [ms for ms, _ in timed]
            row[key] = (min(times), statistics.median(times), max(q for _, q in timed))
        self.stdout.write(self._line(row))
        return row

    # Reporting

    COLUMNS = (
        ("create1", "create 1"),
        ("create10", "create 10"),
        ("claim1", "claim 1"),
        ("claim10", "claim 10"),
        ("capacity", "capacity/metro"),
        ("capacity_f", "capacity/fac."),
    )

    def _header(self) -> str:
        cells = "".join(f"{title:>21}" for _, title in self.COLUMNS)
        return f"{'ms: best/median (queries)':<26}{cells}"

    def _line(self, row: dict) -> str:
        cells = "".join(
            f"{row[key][0]:>9.1f}/{row[key][1]:>6.1f} ({row[key][2]:>2})" for key, _ in self.COLUMNS
        )
        return f"{row['label']:<26}{cells}"

    def _report(self, results: list[dict]) -> None:
        by_machines = results[: len(self.machine_steps)]
        by_reservations = results[len(self.machine_steps) - 1 :]
        out = [
            "",
            f"Allocation against inventory size: best and median of {self.repeat} runs each "
            "(create = provisioning.services.create_devices, claim = "
            "provisioning.allocation.allocate, capacity = inventory.services.capacity_report)",
            self._header(),
            *(self._line(row) for row in results),
            "",
        ]
        budgets = {"create1": 1.5, "create10": 1.5, "claim1": 1.5, "claim10": 1.5}
        for title, rows, keys in (
            (
                f"{self.machine_steps[0]:,} -> {self.machine_steps[-1]:,} available machines",
                by_machines,
                [key for key, _ in self.COLUMNS],
            ),
            (
                f"0 -> {self.reservation_steps[-1]:,} reservations at "
                f"{self.machine_steps[-1]:,} machines",
                by_reservations,
                list(budgets),
            ),
        ):
            out.append(f"ratio largest/smallest, {title} (the verdict on the best times):")
            for key, name in self.COLUMNS:
                if key in keys:
                    best = rows[-1][key][0] / rows[0][key][0]
                    median = rows[-1][key][1] / rows[0][key][1]
                    budget = budgets.get(key, 3.0)
                    verdict = "ok" if best <= budget else "OVER"
                    out.append(
                        f"    {name:<15} best {best:6.2f}   median {median:6.2f}   "
                        f"({verdict}: budget {budget:g})"
                    )
        for total, ms in self.warm_ms.items():
            out.append(
                f"first allocation of each kind after seeding to {total:,} reservations "
                f"(committed): {ms:.1f} ms for the three"
            )
        self.stdout.write("\n".join(out))
