"""`manage.py bench_ledger_sql`: every statement of the ledger's hot path, hand-written
(provisioning.ledger.sql) against the same statement through the ORM
(provisioning.bench.ledger_orm), in the same run: CPU and wall microseconds per call, and the
ratio. A statement stays hand-written only where the ratio is at least 2.

A benchmark, not a test: run it on a scratch PostgreSQL database (`make bench-ledger-sql` makes
one); it refuses a database that already has devices. The world it measures in: the demo
catalogue, 200 devices on machines with provisioning addresses and their operations open.
Compare-and-set writes are measured against rows whose condition no longer holds (they find
their row by its index, check it and write nothing), so that every call costs the same.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from inventory import demo
from inventory.models import Facility, IPBlock, Machine, MachineNic, Plan
from inventory.services import assign_provisioning_addresses
from portal import services as portal_services
from portal import tokens
from portal.models import Project
from provisioning import services
from provisioning.bench import ledger_orm as queries
from provisioning.ledger import sql
from provisioning.management.commands.bench_provision import BENCH_BLOCKS
from provisioning.models import Device, Operation, Step

DEVICES = 200


class Command(BaseCommand):
    help = "The ledger's hand-written statements against their ORM twins: CPU per call, ratio."

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=int, default=2000, help="per statement and side")

    def handle(self, *args, calls, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Run it on PostgreSQL (what production runs).")
        if Device.objects.exists():
            raise CommandError("This database already has devices; use a scratch database.")
        # All in one transaction, rolled back: its doorbells never ring (no worker of anybody's
        # runs these operations), and the scratch database is left as it was.
        with transaction.atomic():
            cases = self._cases(self._world())
            self.stdout.write(f"{'statement':<34} {'hand-written':>14} {'ORM':>14} {'ratio':>7}")
            for label, written, orm in cases:
                # Twins answer alike, or the ratio compares two different statements.
                if (ours := written()) != (theirs := orm()):
                    raise CommandError(f"{label}: hand-written {ours!r}, ORM {theirs!r}")
                raw_cpu, raw_wall = self._measure(written, calls)
                orm_cpu, orm_wall = self._measure(orm, calls)
                self.stdout.write(
                    f"{label:<34} {raw_cpu:7.1f} µs CPU {orm_cpu:7.1f} µs CPU "
                    f"{orm_cpu / raw_cpu:6.2f}x   (wall {raw_wall:.1f} / {orm_wall:.1f} µs)"
                )
            transaction.set_rollback(True)

    def _measure(self, call, calls: int) -> tuple[float, float]:
        """CPU and wall microseconds per call of `call`, after the connection has prepared it."""
        for _ in range(20):
            call()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(calls):
            call()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return cpu * 1e6 / calls, wall * 1e6 / calls

    def _world(self):
        demo.seed_catalogue()
        for kind, network in BENCH_BLOCKS:
            IPBlock.objects.get_or_create(
                network=network,
                defaults={"kind": kind, "metro": Facility.objects.get(code="sv15").metro},
            )
        facility = Facility.objects.get(code="sv15")
        plan = Plan.objects.get(slug="c3.small.x86")
        machines = []
        for n in range(DEVICES):
            machine = Machine.objects.create(
                name=f"sql-{n:04d}",
                facility=facility,
                plan=plan,
                state="available",
                bmc_driver="redfish",
                bmc_address=f"https://10.201.{n // 250}.{n % 250 + 1}",
            )
            MachineNic.objects.create(
                machine=machine, name="eth0", mac_address=f"52:54:02:00:{n >> 8:02x}:{n & 255:02x}"
            )
            machines.append(machine)
        assign_provisioning_addresses(facility, machines)
        user = portal_services.create_user(
            email=f"bench-sql-{time.time_ns()}@example.com", password=None
        )
        project = Project.objects.for_user(user).get()
        devices = services.create_devices(
            project=project,
            acting_user=user,
            request=services.DeviceRequest(
                plan=plan,
                operating_system=plan.operating_systems.get(slug="ubuntu_24_04"),
                metros=[facility.metro],
                quantity=DEVICES,
            ),
        )
        device = devices[DEVICES // 2]
        operation = Operation.objects.get(device=device)
        token = tokens.random_secret()
        Operation.objects.filter(pk=operation.pk).update(agent_token_digest=tokens.digest(token))
        return {
            "device": Device.objects.select_related("machine").get(pk=device.pk),
            "operation": Operation.objects.select_related("device").get(pk=operation.pk),
            "step": Step.objects.filter(operation=operation).order_by("index").first(),
            "digest": tokens.digest(token),
            "address": device.machine.provisioning_address,
            "public": str(
                device.ip_assignments.filter(public=True, network__contains=".").get().subnet[1]
            ),
        }

    def _cases(self, world) -> list:
        device, operation, step = world["device"], world["operation"], world["step"]
        machine = device.machine
        now = timezone.now()
        lease = {"state": "running", "lease_expires_at": now}
        stale = Step(pk=step.pk, generation=step.generation + 7, state=step.state)

        def both(label, *args, **kwargs):
            name = label.split()[0]
            return (
                label,
                lambda: getattr(sql, name)(*args, **kwargs),
                lambda: getattr(queries, name)(*args, **kwargs),
            )

        fresh = list(
            Operation.objects.select_related("device__facility").exclude(pk=operation.pk)[:10]
        )
        Step.objects.filter(operation__in=fresh).delete()

        def steps_written(module):
            # The same DELETE follows each arm: the ratio understates the INSERTs' difference.
            def call():
                module.create_steps(fresh)
                Step.objects.filter(operation__in=fresh).delete()

            return call

        return [
            ("create_steps (10 operations)", steps_written(sql), steps_written(queries)),
            both("running_operation", operation.pk),
            both("steps", operation),
            both("claim", stale, stale.generation + 1, lease, now),
            both("complete", stale, stale.generation, now),
            both("complete_waiting", operation, "await_phone_home", now, last=True),
            both("start_waiting", operation, 3, now),
            both("show_progress", device, "Running the installer", 50, begins=False),
            both("operation_for_token_digest", world["digest"]),
            both("running_operation_of", device.pk),
            both("operation_for_boot", machine),
            both("machine_at (provisioning)", world["address"]),
            both("machine_at (device address)", world["public"]),
            both("has_nic", machine, "52:54:02:00:00:64"),
            both("live_device_id_at (provisioning)", world["address"]),
            both("live_device_at (device address)", world["public"]),
            both("device_for_metadata", device.pk),
            both("nics", machine.pk),
            both("assignments", device),
            both("ssh_public_keys", device),
        ]
