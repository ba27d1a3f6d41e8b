"""Periodic housekeeping for the tenancy core."""

from celery import shared_task

from . import services
from .api import idempotency


@shared_task(acks_late=True)
def expire_invitations() -> int:
    """Mark invitations whose links have expired (beat, hourly)."""
    return services.expire_invitations()


@shared_task(acks_late=True)
def expire_idempotency_keys() -> int:
    """Forget API idempotency keys older than 24 h (beat, hourly)."""
    return idempotency.delete_expired()
