"""A real Celery worker consumes our tasks from the configured broker (RabbitMQ in CI)."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from portal import services
from portal.celery import app
from portal.models import Invitation


@pytest.mark.django_db(transaction=True)
def test_expire_invitations_runs_on_a_worker(acme, alice):
    invitation, _ = services.invite_member(
        organization=acme, invitee="late@example.com", role="admin", acting_user=alice
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(1))
    # Other tests publish to the shared broker without a worker; their leftovers (work for
    # databases long gone, BMCs that never answer) are not this worker's to run.
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        app.send_task("portal.tasks.expire_invitations")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            invitation.refresh_from_db()
            if invitation.status == Invitation.Status.EXPIRED:
                break
            time.sleep(0.2)
    assert invitation.status == Invitation.Status.EXPIRED


# A task as the signals see it: run by a worker, not inline.
_Task = SimpleNamespace(request=SimpleNamespace(is_eager=False))


@pytest.mark.django_db(transaction=True)
def test_a_task_keeps_the_database_connection_as_a_request_would():
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import connection

    from portal.celery import _database_connections

    connection.ensure_connection()
    opened = connection.connection
    DjangoWorkerFixup(app).on_task_postrun(_Task)  # Celery's own: keeps it (DB_REUSE_MAX)
    _database_connections(sender=_Task)  # ours: keeps it while CONN_MAX_AGE allows
    assert connection.connection is opened
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    _database_connections(sender=_Task)
    assert connection.connection is None
