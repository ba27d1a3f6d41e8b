"""Rendered list responses kept in the shared cache, invalidated by generation counters.

A list's body is stored with the generations of the scopes it was rendered from (e.g. "every
device" and "this project's devices"). Writers `bump()` those scopes; a stored body whose
generations no longer match is never served again. This is what lets a client that polls a
large list get its bytes without the list being rendered on every request, while any change
shows on the very next request.

Ordering is what makes it correct:
- a reader reads the generations *before* it queries the rows it renders, so a body is never
  stored under a generation newer than its data;
- a writer bumps when it writes *and* again once its transaction commits: a reader that renders
  between the two (new generation, rows not yet committed) stores a body the second bump
  retires. The first bump is what keeps single-process tests (one uncommitted transaction per
  test) honest; the second is what makes it right across processes.

Only a cache that every process shares can carry generations, so the cache is on only when
`METAL_LIST_CACHE` is (by default: when REDIS_URL names one). `METAL_LIST_CACHE_VERIFY` (on in
the test suite) renders every hit afresh and fails loudly if the stored body differs: a write
path that forgot to bump cannot go unnoticed in any test that lists after writing.
"""

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

_PREFIX = "metal-list"


class StaleListCache(AssertionError):
    """A cached body differs from a fresh rendering: some write did not bump its scope."""


def enabled() -> bool:
    return settings.METAL_LIST_CACHE


def _generation_key(scope: str) -> str:
    return f"{_PREFIX}:gen:{scope}"


def _body_key(name: str) -> str:
    # A path with its query can be any length; its digest is a key every backend takes.
    return f"{_PREFIX}:body:{hashlib.sha256(name.encode()).hexdigest()}"


def _increment(scopes: tuple[str, ...]) -> None:
    for scope in scopes:
        key = _generation_key(scope)
        try:
            cache.incr(key)
        except ValueError:
            # Never set (or evicted): a random start, so a body stored under an evicted
            # counter's old value cannot match a counter that restarted from zero.
            cache.set(key, secrets.randbits(62), timeout=None)
        except Exception:  # the cache is down: bodies expire on their own timeout
            logger.exception("could not bump list cache generation %s", scope)


def bump(*scopes: str) -> None:
    """Retire every stored list rendered from `scopes`: now, and again once the current
    transaction commits (at once when there is none)."""
    if not enabled() or not scopes:
        return
    _increment(scopes)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _increment(scopes))


@dataclass
class Lookup:
    """What a reader found: the stored body if still current, and the generations it read
    (before rendering anything) under which a fresh rendering may be stored."""

    name: str
    body: bytes | None
    generations: tuple | None


def lookup(name: str, scopes: tuple[str, ...]) -> Lookup:
    """The stored body called `name` if it was rendered under the current generations."""
    keys = [_generation_key(scope) for scope in scopes]
    body_key = _body_key(name)
    try:
        found = cache.get_many([*keys, body_key])
    except Exception:
        logger.exception("list cache unavailable")
        return Lookup(name, None, None)
    missing = [key for key in keys if key not in found]
    if missing:
        # Not counted yet (or evicted): start the counters; this rendering is not stored.
        for key in missing:
            cache.add(key, secrets.randbits(62), timeout=None)
        return Lookup(name, None, None)
    generations = tuple(found[key] for key in keys)
    stored = found.get(body_key)
    if stored is not None:
        stored_generations, expires, body = stored
        if stored_generations == generations and time.time() < expires:
            return Lookup(name, body, generations)
    return Lookup(name, None, generations)


def store(found: Lookup, body: bytes, valid_until: float | None = None) -> None:
    """Keep `body` under the generations `found` read; `valid_until` (a Unix time) ends it
    earlier than METAL_LIST_CACHE_SECONDS for bodies that change with time alone."""
    if found.generations is None:
        return
    expires = time.time() + settings.METAL_LIST_CACHE_SECONDS
    if valid_until is not None:
        expires = min(expires, valid_until)
    timeout = expires - time.time()
    if timeout <= 0:
        return
    try:
        cache.set(
            _body_key(found.name),
            (found.generations, expires, body),
            timeout=max(1, int(timeout)),
        )
    except Exception:
        logger.exception("could not store list %s", found.name)


def verify(found: Lookup, fresh: bytes, scopes: tuple[str, ...]) -> None:
    """In verifying mode, a served body must equal what rendering now gives, unless a writer
    changed the rows meanwhile (its bump shows, at the latest a moment after its commit)."""
    if found.body is None or found.body == fresh:
        return
    for _ in range(20):
        if lookup(found.name, scopes).generations != found.generations:
            return
        time.sleep(0.05)
    raise StaleListCache(
        f"{found.name}: the cached list differs from a fresh rendering; "
        "a write to what it shows did not bump its scope"
    )
