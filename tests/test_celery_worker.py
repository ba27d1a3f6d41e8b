"""A real Celery worker consumes our tasks from the configured broker (RabbitMQ in CI)."""

import time
from datetime import timedelta

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
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        app.send_task("portal.tasks.expire_invitations")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            invitation.refresh_from_db()
            if invitation.status == Invitation.Status.EXPIRED:
                break
            time.sleep(0.2)
    assert invitation.status == Invitation.Status.EXPIRED
