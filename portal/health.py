"""Health endpoints, unauthenticated and free of secrets (a check's error is its kind, never a
message that could carry an address or a password).

`/health/live`: the process answers; nothing else is asked (a load balancer's probe, which
must not take every web process out of rotation because the database hiccuped).
`/health/`: the database, the cache, the broker and a Celery worker that answers a ping, each
with a short timeout (HEALTH_CHECK_TIMEOUT); 200 with each check's status, 503 if any failed.

A small view rather than django-health-check: its view answers 500 (not 503) and HTML unless
asked for JSON, runs the synchronous checks in executor threads (whose database connections no
request closes), and its broker check is AMQP-only through another client (aio-pika), where
Ironyard also runs on Redis and the filesystem broker.
"""

import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_safe

from .celery import app

logger = logging.getLogger(__name__)


class CheckFailed(Exception):
    """A check's dependency did not answer as it should; the message is safe to show."""


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise CheckFailed("unexpected answer")


def check_cache() -> None:
    key, value = f"health:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=30)
    try:
        if cache.get(key) != value:
            raise CheckFailed("a value written was not read back")
    finally:
        cache.delete(key)


def check_broker() -> None:
    timeout = settings.HEALTH_CHECK_TIMEOUT
    with app.connection_for_read(connect_timeout=timeout) as broker:
        broker.ensure_connection(max_retries=0, timeout=timeout)


def check_worker() -> None:
    """Some worker answers a ping (the first answer ends the wait)."""
    timeout = settings.HEALTH_CHECK_TIMEOUT
    with app.connection_for_write(connect_timeout=timeout) as broker:
        broker.ensure_connection(max_retries=0, timeout=timeout)
        answers = app.control.ping(timeout=timeout, limit=1, connection=broker)
    if not any(reply.get("ok") == "pong" for answer in answers for reply in answer.values()):
        raise CheckFailed("no worker answered")


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "worker": check_worker,
}


def _run(name: str, check: Callable[[], None]) -> dict:
    try:
        check()
    except CheckFailed as exc:
        return {"status": "fail", "error": str(exc)}
    except Exception as exc:
        logger.warning("health check %s failed", name, exc_info=True)
        return {"status": "fail", "error": f"unavailable ({type(exc).__name__})"}
    return {"status": "ok"}


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """Every dependency's status; 503 if any failed. A worker is not pinged through a broker
    that did not answer (it would only wait out its timeout)."""
    results = {}
    for name, check in CHECKS.items():
        if name == "worker" and results["broker"]["status"] != "ok":
            results[name] = {"status": "fail", "error": "broker unavailable"}
            continue
        results[name] = _run(name, check)
    healthy = all(result["status"] == "ok" for result in results.values())
    response = JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": results}, status=200 if healthy else 503
    )
    add_never_cache_headers(response)
    return response


@require_safe
def live(request: HttpRequest) -> JsonResponse:
    """The process answers requests; nothing else is checked."""
    response = JsonResponse({"status": "ok"})
    add_never_cache_headers(response)
    return response
