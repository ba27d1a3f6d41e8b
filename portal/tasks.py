"""The tenancy core's tasks: periodic housekeeping, and password reset e-mails."""

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


@shared_task(acks_late=True)
def send_password_reset(email: str) -> None:
    """E-mail a reset link if `email` has an account. The address, not a user id: whether the
    account exists is looked up here, off the page's answer (see
    portal.views.accounts.password_reset)."""
    services.send_password_reset(email=email)
