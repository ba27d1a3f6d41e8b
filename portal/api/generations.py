"""Values kept in the shared cache until something they were computed from changes.

A value (a rendered list, an API key, a visibility decision) is stored with the generations of
the scopes it was computed from (e.g. "every device" and "this project's devices"). Writers
`bump()` those scopes; a stored value whose generations no longer match is never used again.
This is what lets a client that polls a large list get its bytes without the list being
rendered, or its key and project looked up, on every request, while any change shows on the
very next request.

Ordering is what makes it correct:
- a reader reads the generations *before* it queries the rows it computes from, so a value is
  never stored under a generation newer than its data;
- a writer bumps when it writes *and* again once its transaction commits: a reader that
  computes between the two (new generation, rows not yet committed) stores a value the second
  bump retires. The first bump is what keeps single-process tests (one uncommitted transaction
  per test) honest; the second is what makes it right across processes.

Within one API request (`reading()`), each scope's generation is read from the cache once, and
the scopes a view `expect()`s are read together with the first: checking the caller's key, its
right to a project and the project's list costs one round trip, not three. Reading a generation
early in a request is always safe (at worst a value is retired sooner); a bump made inside the
request forgets the generations it changed.

Only a cache that every process shares can carry generations, so this is on only when
`METAL_API_CACHE` is (by default: when REDIS_URL names one). `METAL_API_CACHE_VERIFY` (on in the
test suite) recomputes every hit and fails loudly on a difference: a write path that forgot to
bump cannot go unnoticed in any test that reads after writing.

A value is whatever the cache backend pickles; as with every Django cache, whoever can write to
the cache server can make this process unpickle anything, so the cache must be as private as
the database.
"""

import hashlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

_PREFIX = "metal-gen"


class StaleCache(AssertionError):
    """A cached value differs from a fresh one: some write did not bump its scope."""


def enabled() -> bool:
    return settings.METAL_API_CACHE


def _generation_key(scope: str) -> str:
    return f"{_PREFIX}:gen:{scope}"


def _value_key(name: str) -> str:
    # A name (a path with its query) can be any length; its digest is a key every backend takes.
    return f"{_PREFIX}:value:{hashlib.sha256(name.encode()).hexdigest()}"


def _increment(scopes: tuple[str, ...]) -> None:
    for scope in scopes:
        key = _generation_key(scope)
        try:
            cache.incr(key)
        except ValueError:
            # Never set (or evicted): a random start, so a value stored under an evicted
            # counter's old value cannot match a counter that restarted from zero.
            cache.set(key, secrets.randbits(62), timeout=None)
        except Exception:  # the cache is down: values expire on their own timeout
            logger.exception("could not bump cache generation %s", scope)


@dataclass
class _Reads:
    """One request's generations, by scope, and the scopes to read with the next lookup."""

    generations: dict[str, int] = field(default_factory=dict)
    expected: set[str] = field(default_factory=set)


_reads: ContextVar[_Reads | None] = ContextVar("metal_generation_reads", default=None)


@contextmanager
def reading() -> Iterator[None]:
    """Read each scope's generation once within the block (one request)."""
    token = _reads.set(_Reads())
    try:
        yield
    finally:
        _reads.reset(token)


def expect(*scopes: str) -> None:
    """Scopes the current request will look up: read with its first lookup."""
    reads = _reads.get()
    if reads is not None:
        reads.expected.update(scopes)


def expected_keys() -> list[str]:
    """The cache keys of the expected scopes, for a caller that reads them in a round trip it
    makes anyway, and hands what it found to `take()`."""
    reads = _reads.get()
    if reads is None:
        return []
    return [_generation_key(scope) for scope in sorted(reads.expected)]


def take(found: dict) -> None:
    """Generations read by someone else (see expected_keys); an expected scope not among them
    stays expected (the next lookup reads it, and starts its counter)."""
    reads = _reads.get()
    if reads is None:
        return
    for scope in list(reads.expected):
        key = _generation_key(scope)
        if key in found:
            reads.generations[scope] = found[key]
            reads.expected.discard(scope)


def bump(*scopes: str) -> None:
    """Retire every value stored from `scopes`: now, and again once the current transaction
    commits (at once when there is none)."""
    if not enabled() or not scopes:
        return
    reads = _reads.get()
    if reads is not None:
        for scope in scopes:
            reads.generations.pop(scope, None)
    _increment(scopes)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _increment(scopes))


@dataclass
class Lookup:
    """What a reader found: the stored value if still current (never None), and the
    generations it read, before computing anything, under which a fresh value may be stored."""

    name: str
    scopes: tuple[str, ...]
    value: object | None
    generations: tuple | None


class _Recent:
    """The values this process used last, by name, with the generations they were stored
    under: the cache's counters still decide whether one is current (one small round trip), but
    a rendered page (half a megabyte at 100 devices) is not fetched and unpickled again on
    every request. Bounded by the bytes of its values."""

    def __init__(self, budget: int):
        self.budget, self.used = budget, 0
        self.entries: OrderedDict[str, tuple] = OrderedDict()
        self.lock = threading.Lock()

    @staticmethod
    def _size(value) -> int:
        return len(value) if isinstance(value, bytes) else 1024

    def get(self, name: str, generations: tuple):
        with self.lock:
            entry = self.entries.get(name)
            if entry is None:
                return None
            stored_generations, expires, value = entry
            if stored_generations != generations or time.time() >= expires:
                return None
            self.entries.move_to_end(name)
            return value

    def forget(self, name: str) -> None:
        with self.lock:
            self._drop(name)

    def _drop(self, name: str) -> None:
        old = self.entries.pop(name, None)
        if old is not None:
            self.used -= self._size(old[2])

    def put(self, name: str, generations: tuple, expires: float, value) -> None:
        size = self._size(value)
        if size > self.budget:
            return
        with self.lock:
            self._drop(name)
            self.entries[name] = (generations, expires, value)
            self.used += size
            while self.used > self.budget:
                _, (_, _, evicted) = self.entries.popitem(last=False)
                self.used -= self._size(evicted)


_recent = _Recent(budget=32 * 1024 * 1024)


def _current(scopes: tuple[str, ...], *, fresh: bool = False) -> tuple | None:
    """The generations of `scopes` (None while one is not counted yet), from the request's
    reads unless `fresh`."""
    reads = None if fresh else _reads.get()
    known = {} if reads is None else reads.generations
    expected = () if reads is None else reads.expected
    wanted = [scope for scope in dict.fromkeys((*scopes, *expected)) if scope not in known]
    if wanted:
        keys = {scope: _generation_key(scope) for scope in wanted}
        found = cache.get_many(keys.values())
        if reads is not None:
            reads.expected.clear()
        for scope, key in keys.items():
            if key in found:
                known[scope] = found[key]
            else:
                # Not counted yet (or evicted): start the counter; nothing is stored under
                # it before the next lookup reads it back.
                cache.add(key, secrets.randbits(62), timeout=None)
    if any(scope not in known for scope in scopes):
        return None
    return tuple(known[scope] for scope in scopes)


def lookup(name: str, scopes: tuple[str, ...]) -> Lookup:
    """The value stored as `name` if it was computed under the current generations of
    `scopes`."""
    try:
        generations = _current(scopes)
    except Exception:
        logger.exception("cache unavailable")
        return Lookup(name, scopes, None, None)
    if generations is None:
        return Lookup(name, scopes, None, None)
    value = _recent.get(name, generations)
    if value is not None:
        return Lookup(name, scopes, value, generations)
    try:
        stored = cache.get(_value_key(name))
    except Exception:
        logger.exception("cache unavailable")
        stored = None
    if stored is not None:
        stored_generations, expires, value = stored
        if stored_generations == generations and time.time() < expires:
            _recent.put(name, generations, expires, value)
            return Lookup(name, scopes, value, generations)
    return Lookup(name, scopes, None, generations)


def store(found: Lookup, value, valid_until: float | None = None) -> None:
    """Keep `value` under the generations `found` read; `valid_until` (a Unix time) ends it
    earlier than METAL_API_CACHE_SECONDS for values that change with time alone."""
    if found.generations is None or value is None:
        return
    expires = time.time() + settings.METAL_API_CACHE_SECONDS
    if valid_until is not None:
        expires = min(expires, valid_until)
    timeout = expires - time.time()
    if timeout <= 0:
        return
    _recent.put(found.name, found.generations, expires, value)
    try:
        cache.set(
            _value_key(found.name),
            (found.generations, expires, value),
            timeout=max(1, int(timeout)),
        )
    except Exception:
        logger.exception("could not store %s", found.name)


def forget(name: str) -> None:
    """Drop the value stored as `name` (the next reader computes and stores it afresh)."""
    _recent.forget(name)
    try:
        cache.delete(_value_key(name))
    except Exception:
        logger.exception("could not forget %s", name)


def verifying() -> bool:
    return settings.METAL_API_CACHE_VERIFY


def verify(found: Lookup, fresh, compare=lambda value: value) -> None:
    """In verifying mode, a stored value must equal the one computed now (as far as `compare`
    looks), unless a writer changed the rows meanwhile (its bump shows, at the latest a moment
    after its commit)."""
    if found.value is None or compare(found.value) == compare(fresh):
        return
    for _ in range(20):
        if _current(found.scopes, fresh=True) != found.generations:
            return
        time.sleep(0.05)
    raise StaleCache(
        f"{found.name}: the cached value differs from a fresh one; "
        "a write to what it shows did not bump its scope"
    )
