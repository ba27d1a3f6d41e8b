"""Rate limits for the Metal API, per client address and per API token, counted in fixed
windows in the cache (Redis when REDIS_URL is set, so every web process shares the counters).

Both are counted before authentication, in one cache round trip: the address so that guessed
tokens count too, and the token by its hash, so a request counts against a key's budget only
when it carries that key's whole token (knowing a key's visible lookup part is not enough to
use up its budget).
"""

import contextlib
import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from portal import audit, tokens

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """ "1200/m" → (1200, 60); "" or "off" → None (no limit)."""
    rate = (rate or "").strip().lower()
    if rate in ("", "off", "none"):
        return None
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period[:1]]


def _identities(request):
    """(scope, rate setting, identity) of every limit a request counts against."""
    yield "ip", "API_RATE_PER_IP", audit.client_ip(request)
    presented = request.META.get("HTTP_X_AUTH_TOKEN", "").strip()
    if tokens.split_lookup(presented) is not None:
        # A plain hash of the (high-entropy) token, not the digest the key is stored with.
        yield "token", "API_RATE_PER_TOKEN", hashlib.sha256(presented.encode()).hexdigest()


def _count_one(key: str, timeout: int) -> int:
    """The generic path (a cache without `count`): incr, or add the window's first request."""
    try:
        return cache.incr(key)
    except ValueError:
        # One that loses the race to add() counts on the winner's, unless that was evicted.
        if cache.add(key, 1, timeout=timeout):
            return 1
        with contextlib.suppress(ValueError):
            return cache.incr(key)
        return 1


def _count(keys: list[str], timeouts: list[int]) -> list[int]:
    if hasattr(cache, "count"):
        return cache.count(keys, timeouts)
    return [_count_one(key, timeout) for key, timeout in zip(keys, timeouts, strict=True)]


def over_limit(request) -> float | None:
    """Count the request against its limits: the seconds until it may retry if it is over one,
    else None."""
    now = time.time()
    keys, timeouts, limits, waits = [], [], [], []
    for scope, setting, identity in _identities(request):
        rate = parse_rate(getattr(settings, setting))
        if rate is None or identity is None:
            continue
        limit, period = rate
        window = int(now // period)
        keys.append(f"metal-rate:{scope}:{identity}:{window}")
        # The counter outlives its window by one period: a slow request at the edge still
        # finds it.
        timeouts.append(period * 2)
        limits.append(limit)
        waits.append((window + 1) * period - now)
    if not keys:
        return None
    counts = _count(keys, timeouts)
    over = [wait for count, limit, wait in zip(counts, limits, waits, strict=True) if count > limit]
    return max(over) if over else None
