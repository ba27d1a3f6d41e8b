"""Doorbells: what reaches the broker when operations open, and what a batch message runs."""

from django.db import connection

from provisioning import doorbell, services, tasks
from provisioning.models import Step
from tests import broker
from tests.provisioning.factories import make_site, request_for


def test_operations_opened_together_share_messages_per_site(monkeypatch):
    queues = ("site.tq1", "site.tq2")
    broker.purge(*queues)
    monkeypatch.setattr(doorbell, "RING_TOGETHER", 3)
    doorbell.ring_all([(n, "tq1") for n in range(1, 8)] + [(8, "tq2"), (9, "tq2")])
    # (The embedded filesystem broker keeps no order within a millisecond: compare as sets.)
    assert sorted(broker.drain(*queues)) == [
        ("provisioning.tasks.run_operation", [7], "site.tq1"),
        ("provisioning.tasks.run_operations", [[1, 2, 3]], "site.tq1"),
        ("provisioning.tasks.run_operations", [[4, 5, 6]], "site.tq1"),
        ("provisioning.tasks.run_operations", [[8, 9]], "site.tq2"),
    ]


def test_a_batch_message_runs_each_operation_even_after_one_fails(
    web, alice, django_capture_on_commit_callbacks, caplog
):
    site = make_site(machines=3)  # BMCs nobody answers at: each first step is retried later
    with django_capture_on_commit_callbacks():
        devices = services.create_devices(
            project=web, acting_user=alice, request=request_for(*site, quantity=3)
        )
    first, broken, last = (device.operations.get() for device in devices)
    # A BMC password no configured key opens: reading the operation fails before any step.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_machine SET bmc_password = %s WHERE id = %s",
            ["sealed-with-a-lost-key", broken.machine_id],
        )
    tasks.run_operations([first.pk, broken.pk, last.pk])

    assert f"operation {broken.pk} could not be advanced" in caplog.text
    tried = {
        step.operation_id: step.attempts
        for step in Step.objects.filter(operation__in=[first, broken, last], index=0)
    }
    assert tried == {first.pk: 1, broken.pk: 0, last.pk: 1}
