"""Rate limits for the Metal API, per API token and per client address, counted in the cache
(Redis when REDIS_URL is set, so every web process shares the counters).

Fixed windows counted with `cache.incr`: one call per request and limit, where DRF's
SimpleRateThrottle reads and rewrites a list of every request's timestamp in the window.
"""

import contextlib
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from portal import audit
from portal.models import ApiKey

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """ "1200/m" → (1200, 60); "" or "off" → None (no limit)."""
    rate = (rate or "").strip().lower()
    if rate in ("", "off", "none"):
        return None
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period[:1]]


class WindowThrottle(BaseThrottle):
    """At most N requests per window for one identity; `setting` names the rate."""

    scope = ""
    setting = ""

    def identity(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(getattr(settings, self.setting))
        ident = self.identity(request)
        if rate is None or ident is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        key = f"metal-rate:{self.scope}:{ident}:{window}"
        try:
            count = cache.incr(key)
        except ValueError:
            # The window's first request starts its counter (the timeout outlives the window by
            # one period, so a slow request at the edge still finds it); one that loses the race
            # to add() counts on the winner's, unless that was evicted meanwhile.
            count = 1
            if not cache.add(key, 1, timeout=period * 2):
                with contextlib.suppress(ValueError):
                    count = cache.incr(key)
        self._wait = (window + 1) * period - now
        return count <= limit

    def wait(self) -> float:
        return self._wait


class AddressRateThrottle(WindowThrottle):
    """Every request from one client address, authenticated or not (token guessing counts)."""

    scope, setting = "ip", "API_RATE_PER_IP"

    def identity(self, request) -> str | None:
        return audit.client_ip(request)


class TokenRateThrottle(WindowThrottle):
    """Every request made with one API token, from wherever."""

    scope, setting = "token", "API_RATE_PER_TOKEN"

    def identity(self, request) -> str | None:
        key = request.auth
        return str(key.pk) if isinstance(key, ApiKey) else None
