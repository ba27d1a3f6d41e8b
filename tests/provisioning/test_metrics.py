"""What the ledger and the runner count shows on /metrics when the real code paths run: a
provision through the runner against sushy-tools' Redfish emulator (the machine's in-band side
played by the test, as in test_runner), and BMCs that fail.

Counters live for the whole test process, so each test reads the change across what it runs.
Outcomes are counted when their transaction commits: the runner's passes run inside
django_capture_on_commit_callbacks(execute=True), as a worker's would commit.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Machine
from provisioning import ledger, runner, services
from provisioning.models import Device, Step
from tests import broker
from tests.inventory.conftest import NODE1, NODE2
from tests.prometheus import scrape
from tests.provisioning.factories import make_site, request_for
from tests.provisioning.test_runner import point_at


@pytest.fixture
def site_queue():
    """The doorbells these tests ring (site.sv1, the facility make_site makes) are not left
    for others."""
    broker.purge("site.sv1")
    yield
    broker.purge("site.sv1")


@pytest.fixture
def provision(web, alice, start_redfish, site_queue, django_capture_on_commit_callbacks):
    """provision(password=…, url=…) → a device created (and its provision opened, committed)
    on a machine behind the Redfish emulator, or behind `url`."""

    def create(password: str | None = None, url: str | None = None) -> Device:
        emulator = start_redfish(systems=[NODE1, NODE2])
        site = make_site(machines=1)
        machine = point_at(Machine.objects.get(), url or emulator, NODE1)
        if password is not None:
            machine.bmc_password = password
            machine.save()
        with django_capture_on_commit_callbacks(execute=True):
            [device] = services.create_devices(
                project=web, acting_user=alice, request=request_for(*site)
            )
        return device

    return create


def test_a_provision_counts_its_operation_steps_and_time_to_active(
    client, provision, django_capture_on_commit_callbacks
):
    before = scrape(client)
    device = provision()
    operation = device.operations.get()
    # Created ten minutes ago: time to active runs from the device's creation.
    device.created_at = timezone.now() - timedelta(minutes=10)
    device.save(update_fields=["created_at"])
    with django_capture_on_commit_callbacks(execute=True):
        runner.run(operation.pk)
    # The installer ran for two minutes: a waiting step's duration runs from its wait's start.
    Step.objects.filter(operation=operation, name="await_agent").update(
        started_at=timezone.now() - timedelta(minutes=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert ledger.advance_waiting(operation, "await_agent")
        assert ledger.advance_waiting(operation, "await_phone_home")
    after = scrape(client)
    change = after.since(before)

    assert change("ironyard_operations_opened_total", kind="provision") == 1
    assert change("ironyard_operations_total", kind="provision", outcome="succeeded") == 1
    for step in ("set_boot_pxe", "power_cycle", "await_agent", "await_phone_home"):
        assert change("ironyard_step_duration_seconds_count", step=step, outcome="done") == 1
    installer = {"step": "await_agent", "outcome": "done"}
    assert change("ironyard_step_duration_seconds_bucket", le="60.0", **installer) == 0
    assert change("ironyard_step_duration_seconds_bucket", le="300.0", **installer) == 1
    assert change("ironyard_time_to_active_seconds_count") == 1
    assert change("ironyard_time_to_active_seconds_bucket", le="300.0") == 0
    assert change("ironyard_time_to_active_seconds_bucket", le="900.0") == 1
    assert change("ironyard_time_to_active_seconds_sum") >= 600
    # The state gauges are read from the database at the scrape.
    assert after.get_value("ironyard_devices", state="active") == 1
    assert after.get_value("ironyard_devices", state="queued") == 0
    assert after.get_value("ironyard_machines", state="in_use") == 1


def test_a_bmc_refusing_the_credentials_counts_an_auth_error_and_a_failed_provision(
    client, provision, django_capture_on_commit_callbacks
):
    device = provision(password="wrong")
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        runner.run(device.operations.get().pk)
    after = scrape(client)
    change = after.since(before)

    assert change("ironyard_bmc_errors_total", kind="auth") == 1
    assert change("ironyard_bmc_errors_total", kind="transient") == 0
    assert change("ironyard_operations_total", kind="provision", outcome="failed") == 1
    failed_step = {"step": "set_boot_pxe", "outcome": "failed"}
    assert change("ironyard_step_duration_seconds_count", **failed_step) == 1
    assert after.get_value("ironyard_machines", state="maintenance") == 1
    assert after.get_value("ironyard_devices", state="failed") == 1


def test_an_unreachable_bmc_counts_a_transient_error(
    client, provision, closed_port, django_capture_on_commit_callbacks
):
    device = provision(url=f"http://127.0.0.1:{closed_port}")
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        runner.run(device.operations.get().pk)  # retried later: the operation goes on
    after = scrape(client)
    assert after.since(before)("ironyard_bmc_errors_total", kind="transient") == 1
    assert after.get_value("ironyard_devices", state="provisioning") == 1


def test_a_rolled_back_outcome_is_not_counted(client, provision):
    """The ledger's writes belong to their caller's transaction; so does the count."""
    device = provision()
    operation = device.operations.get()
    before = scrape(client)
    ledger.cancel(operation, "never committed")  # the test's transaction is rolled back
    after = scrape(client)
    change = after.since(before)
    assert change("ironyard_operations_total", kind="provision", outcome="cancelled") == 0


def test_queue_depth_is_asked_of_the_broker(client, provision):
    device = provision()  # its doorbell is waiting in site.sv1, no worker consumes it
    samples = scrape(client)
    assert samples.get_value("ironyard_broker_up") == 1
    assert samples.get_value("ironyard_celery_queue_messages", queue="site.sv1") == 1
    assert {"queue": "celery"} in samples.labels_of("ironyard_celery_queue_messages")
    assert device.facility.code == "sv1"
