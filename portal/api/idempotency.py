"""`Idempotency-Key` for the Metal API's POSTs: the same caller sending the same request with the
same key gets the first response again instead of a second side effect (a second device).

The key is claimed by inserting its row inside the request's own transaction. A concurrent
duplicate's INSERT then waits on the unique index until the first request commits (and fails,
so it replays the stored response) or rolls back (and succeeds, so it runs the request itself):
the database, not a check-then-act in Python, decides who executes. This is request plumbing,
not a business write, so it records no audit event.
"""

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions

from portal.models import IdempotencyKey

HEADER = "HTTP_IDEMPOTENCY_KEY"
TTL = timedelta(hours=24)
MAX_LENGTH = IdempotencyKey._meta.get_field("key").max_length


class Replay(Exception):
    """Raised from the view's `initial()` to answer with a stored response."""

    def __init__(self, response: HttpResponse):
        super().__init__()
        self.response = response


def requested(request) -> bool:
    """Whether this request asks for idempotency (a POST carrying the header)."""
    return request.method == "POST" and HEADER in request.META


def _fingerprint(request) -> str:
    # request.data (not the raw bytes) so key order and whitespace do not make two equal
    # bodies differ; a body that does not parse fails here with the usual 422.
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256()
    for part in (request.method, request.get_full_path(), body):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def claim(request) -> IdempotencyKey:
    """Claim the request's key for this caller, or raise Replay with the response it already got.

    Must run inside the request's transaction (MetalView.dispatch opens it), after
    authentication, so the row belongs to a known caller.
    """
    key = request.META[HEADER].strip()
    if not key or len(key) > MAX_LENGTH:
        raise exceptions.ValidationError(
            {"Idempotency-Key": f"Must be 1 to {MAX_LENGTH} characters."}
        )
    fingerprint = _fingerprint(request)
    mine = IdempotencyKey.objects.filter(user=request.user, key=key)
    # An expired key is free again even before the sweep removes it.
    mine.filter(created_at__lt=timezone.now() - TTL).delete()
    try:
        with transaction.atomic():  # a savepoint, so a duplicate leaves the request usable
            return IdempotencyKey.objects.create(
                user=request.user, key=key, fingerprint=fingerprint
            )
    except IntegrityError:
        pass
    stored = mine.get()
    if stored.fingerprint != fingerprint:
        raise exceptions.ValidationError(
            {
                "Idempotency-Key": "This key was already used with a different request; "
                "use a new key for a new request."
            }
        )
    response = HttpResponse(
        stored.body.encode(), status=stored.status, content_type=stored.content_type
    )
    response["Idempotent-Replayed"] = "true"
    raise Replay(response)


def store(claimed: IdempotencyKey, response: HttpResponse) -> None:
    """Keep the response for replays; a server error releases the key so a retry runs again."""
    if response.status_code >= 500:
        claimed.delete()
        return
    if hasattr(response, "render"):
        response.render()
    claimed.status = response.status_code
    claimed.content_type = response.get("Content-Type", "")
    claimed.body = response.content.decode()  # the Metal API answers JSON (or nothing)
    claimed.save(update_fields=["status", "content_type", "body"])


def delete_expired() -> int:
    """Drop keys older than the TTL (beat, hourly); returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - TTL).delete()
    return deleted
