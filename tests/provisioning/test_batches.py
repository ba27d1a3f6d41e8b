"""A batch follows its devices: in progress while any provisions, then completed or failed."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from provisioning import ledger, services
from provisioning.ledger import outcomes
from provisioning.models import Batch
from tests.provisioning.factories import make_site, request_for


def test_a_batch_settles_with_its_last_device(web, alice, django_capture_on_commit_callbacks):
    site = make_site(machines=5)
    with django_capture_on_commit_callbacks():
        good, bad = services.create_batches(
            project=web,
            acting_user=alice,
            requests=[request_for(*site, quantity=3), request_for(*site, quantity=2)],
        )
    first, *rest = [d.operations.get() for d in good.devices.order_by("pk")]

    ledger.finish(first, succeeded=True)
    good.refresh_from_db()
    assert good.state == Batch.State.IN_PROGRESS
    for operation in rest:
        ledger.finish(operation, succeeded=True)
    good.refresh_from_db()
    assert good.state == Batch.State.COMPLETED

    failing, succeeding = [d.operations.get() for d in bad.devices.order_by("pk")]
    ledger.fail(failing, "the installer gave up")
    ledger.finish(succeeding, succeeded=True)
    bad.refresh_from_db()
    assert bad.state == Batch.State.FAILED


def test_settling_a_device_does_not_read_its_whole_batch(
    web, alice, django_capture_on_commit_callbacks
):
    site = make_site(machines=30)
    with django_capture_on_commit_callbacks():
        [batch] = services.create_batches(
            project=web, acting_user=alice, requests=[request_for(*site, quantity=30)]
        )
    with CaptureQueriesContext(connection) as captured:
        outcomes._settle_batch(batch.pk)
    # One probe that stops at the first device still provisioning, not 30 states read (each
    # device of a batch of a thousand settles, so that was a million rows).
    [probe] = captured
    assert "LIMIT 1" in probe["sql"]
