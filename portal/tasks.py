"""Periodic housekeeping for the tenancy core."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def expire_invitations() -> int:
    """Mark invitations whose links have expired (beat, hourly)."""
    return services.expire_invitations()
