"""`manage.py demo_bmc`: run the demo rack's Redfish BMC and enroll its servers through it.

A foreground process for `make run` (Procfile): it starts the sushy-tools based emulator
holding inventory.demo's servers on 127.0.0.1, enrolls whichever are not enrolled yet, exactly
as an operator enrolls real hardware, then stays up until stopped. The provisioning issue's
virtual rack will take its place.
"""

import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inventory import demo, enrollment
from inventory.bmc.emulators import EmulatorProcess
from inventory.models import Machine
from portal import audit
from portal.models import User

USERNAME, PASSWORD = "admin", "demo-bmc-password"


class Command(BaseCommand):
    help = "Run the demo rack's BMC emulator and enroll its servers."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8623)
        parser.add_argument("--as", dest="operator", default="demo@ironyard.local")
        parser.add_argument(
            "--power-delay",
            type=float,
            default=2.0,
            help="seconds a power change takes, like a real BMC",
        )

    def handle(self, *args, port, operator, power_delay, **options):
        user = User.objects.filter(email=operator, is_staff=True).first()
        if user is None:
            raise CommandError(f"No operator {operator}; run `manage.py seed_demo` first.")
        systems = demo.demo_systems()
        folder = Path(settings.VAR_DIR) / "demo-bmc"
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "listen_ip": "127.0.0.1",
            "port": port,
            "state_dir": str(folder / "state"),
            "power_delay": [0, power_delay],
            "users": {USERNAME: PASSWORD},
            "systems": [{k: v for k, v in s.items() if k != "facility"} for s in systems],
        }
        process = EmulatorProcess(
            "inventory.bmc.emulators.sushy_emulator", config, folder / "config.json"
        )
        url = process.start()["url"]
        self.stdout.write(f"Demo BMC (Redfish) for {len(systems)} servers at {url}")
        try:
            self._enroll(url, systems, user)
            stop = []
            signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
            while not stop and process.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            process.stop()

    def _enroll(self, url: str, systems: list[dict], user: User) -> None:
        known = {str(u) for u in Machine.objects.values_list("system_uuid", flat=True) if u}
        requests = [
            enrollment.EnrollmentRequest(
                driver="redfish",
                address=url,
                username=USERNAME,
                password=PASSWORD,
                facility=s["facility"],
                system_id=s["uuid"],
                name=s["name"],
                rack="r01",
                rack_unit=n + 1,
            )
            for n, s in enumerate(systems)
            if s["uuid"] not in known
        ]
        if not requests:
            self.stdout.write("All demo servers are already enrolled.")
            return
        token = audit.set_context(audit.AuditContext(via="system"))
        try:
            results = enrollment.enroll_many(requests, acting_user=user)
        finally:
            audit.reset_context(token)
        for result in results:
            outcome = f"enrolled as {result.plan.slug}" if result.ok else result.error
            self.stdout.write(f"  {result.request.name}: {outcome}")
