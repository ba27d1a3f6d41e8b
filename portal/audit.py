"""Audit context and recording: every write names its actor, client address and objects.

The client address and the door (web, api, cli) come from a context variable that
`AuditContextMiddleware` sets per request, so service functions need no request argument and
management commands and Celery tasks record "cli" / "system" with no address.
"""

import contextvars
import ipaddress
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from .hrefs import href_for


@dataclass(frozen=True)
class AuditContext:
    ip: str | None = None
    via: str = "system"


_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "ironyard_audit",
    default=AuditContext(),  # noqa: B039 (a frozen dataclass: immutable)
)


def current() -> AuditContext:
    return _context.get()


def set_context(ctx: AuditContext) -> contextvars.Token:
    return _context.set(ctx)


def reset_context(token: contextvars.Token) -> None:
    _context.reset(token)


def client_ip(request) -> str | None:
    """The caller's address; X-Forwarded-For counts only when the peer is a trusted proxy."""
    remote = request.META.get("REMOTE_ADDR")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if forwarded and remote in settings.TRUSTED_PROXIES:
        # The right-most address not added by one of our proxies is the client.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if hop not in settings.TRUSTED_PROXIES:
                remote = hop
                break
    try:
        return str(ipaddress.ip_address(remote)) if remote else None
    except ValueError:
        return None


def event(
    event_type: str,
    *,
    actor,
    text: str,
    organization=None,
    project=None,
    user=None,
    objects: Iterable = (),
):
    """An Event not yet written, for `save` (several at once). `text` may say {actor}: body
    keeps it, interpolated names the actor."""
    from .models import Event

    ctx = current()
    actor_name = actor.full_name if actor is not None else "System"
    if project is not None and organization is None:
        organization = project.organization
    unsaved = Event(
        type=event_type,
        body=text,
        interpolated=text.replace("{actor}", actor_name),
        organization=organization,
        project=project,
        user=user,
        modified_by=actor,
        ip=ctx.ip,
        via=ctx.via,
    )
    unsaved.involves = [obj for obj in (*objects, project, organization) if obj is not None]
    return unsaved


def save(events: list) -> list:
    """Write events made by `event`, in order, with the objects each involves: two queries
    however many."""
    from .models import Event, EventRelation

    Event.objects.bulk_create(events)
    relations = []
    for saved in events:
        seen = set()
        for obj in saved.involves:
            href = href_for(obj)
            if href in seen:
                continue
            seen.add(href)
            kind = obj._meta.model_name
            relations.append(EventRelation(event=saved, kind=kind, object_id=obj.uuid, href=href))
    EventRelation.objects.bulk_create(relations)
    return events


_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "ironyard_audit_batch", default=None
)


@contextmanager
def batch():
    """Events recorded inside are written together, in order, when the block ends without an
    error (two queries): for a request that records several. Nested blocks join the outer."""
    if _batch.get() is not None:
        yield
        return
    events: list = []
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)
    save(events)


def record(event_type: str, **fields):
    """Write one Event (`fields` as `event` takes them), or add it to the open `batch`."""
    made = event(event_type, **fields)
    pending = _batch.get()
    if pending is None:
        save([made])
    else:
        pending.append(made)
    return made
