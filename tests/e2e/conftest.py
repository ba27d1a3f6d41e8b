"""End-to-end fixtures: a real Celery worker process, the portal on a live server, and a
virtual rack of simulated servers whose BMCs the worker drives and whose in-band side boots
against the live portal."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from inventory import demo
from portal.celery import app
from provisioning.virtualrack import vm
from provisioning.virtualrack.config import RackConfig
from provisioning.virtualrack.dhcp import Dhcp, from_portal_database
from provisioning.virtualrack.enroll import enroll_rack
from provisioning.virtualrack.rack import VirtualRack
from tests import factories

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    return (
        f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


@pytest.fixture
def e2e(settings, live_server, broker_var_dir, tmp_path):
    """Everything up: returns a namespace with the rack, an operator, the worker controls."""
    config = RackConfig(servers=4, facilities=("sv15",), portal_url=live_server.url)
    config.zero_delay()
    yield from _portal_rack_and_worker(settings, live_server, broker_var_dir, tmp_path, config)


def _portal_rack_and_worker(settings, live_server, broker_var_dir, tmp_path, config):
    if connection.vendor != "postgresql":
        pytest.skip("end-to-end runs on PostgreSQL: set DATABASE_URL=postgres://…")
    settings.SITE_URL = live_server.url
    demo.seed_catalogue()
    operator = factories.make_user("ops@example.com", staff=True)
    rack = VirtualRack(config, dhcp=Dhcp(from_portal_database)).start()
    try:
        results = enroll_rack(rack.inventory(), acting_user=operator)
        assert all(r.ok for r in results), [r.error for r in results]
        worker = Worker(tmp_path, broker_var_dir)
        worker.purge()
        worker.start()
    except BaseException:
        rack.stop()
        raise

    class Env:
        pass

    env = Env()
    env.rack, env.operator, env.worker, env.live_server = rack, operator, worker, live_server
    yield env
    worker.stop()
    rack.stop()


@pytest.fixture(scope="session")
def built_images():
    """The installer and the Debian 12 image, built once (and kept, by their inputs, in
    ARTIFACTS_DIR across runs)."""
    from provisioning import artifacts

    missing = artifacts.missing_tools() + vm.missing_tools(uefi=True)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (.ci/run installs them)")
    return artifacts.build_installer(log=print), artifacts.build_image("debian-12", log=print)


@pytest.fixture
def vm_e2e(settings, live_server, broker_var_dir, tmp_path, built_images):
    """The portal, a worker and a rack of two real VMs (vm01 BIOS on Redfish, vm02 UEFI on
    IPMI) with Debian 12 in the catalogue as Ironyard built it."""
    from provisioning import catalogue

    # The guests reach the portal as 10.0.2.100 (QEMU's guestfwd), so they name it that way.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, vm.GUEST_PORTAL]
    config = RackConfig(
        servers=0,
        vms=2,
        vm_uefi_every=2,
        ipmi_every=2,
        portal_url=live_server.url,
        power_delay=0,
        vm_dir=str(tmp_path / "vms"),
        state_file=str(tmp_path / "rack.json"),
    )
    env_iter = _portal_rack_and_worker(settings, live_server, broker_var_dir, tmp_path, config)
    env = next(env_iter)
    installer, image = built_images
    env.os = catalogue.register_built_image("debian-12", image, installer)
    yield env
    next(env_iter, None)


class Worker:
    """`celery -A portal worker` as a child process (prefork), killable like a real one."""

    def __init__(self, tmp_path: Path, var_dir: Path | None):
        self.log = tmp_path / "worker.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "STEP_RETRY_BASE_SECONDS": "0.2",
            "POWER_POLL_SECONDS": "0.2",
            "STEP_LEASE_SECONDS": "10",
            "SECRET_KEY": django_settings.SECRET_KEY,
        }
        if var_dir is not None:
            self.env["IRONYARD_VAR_DIR"] = str(var_dir)
        self.process: subprocess.Popen | None = None

    QUEUES = ("celery", "site.sv15", "site.ny5", "site.am6")

    def start(self) -> None:
        queues = ",".join(self.QUEUES)
        with self.log.open("a") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-Q",
                    queues,
                    "--pool",
                    "prefork",
                    "--concurrency",
                    "2",
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def purge(self) -> None:
        """Empty the queues it will consume: other tests publish to the shared broker without a
        worker, and their leftovers (work for databases long gone) are not this worker's. (Not
        on a restart: what was queued while it was stopped is its work.)"""
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            for name in self.QUEUES:
                # As Celery declares the queue it routes a task to (without adding it to what
                # workers of this process consume).
                queue = app.amqp.queues.get(name) or app.amqp.queues.new_missing(name)
                bound = queue.bind(channel)
                bound.declare()
                bound.purge()

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
