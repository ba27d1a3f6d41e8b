"""Prometheus metrics: request latency (every web process records it), who may read /metrics,
and what a scrape reads.

Each process keeps its own values. Under gunicorn and Celery, PROMETHEUS_MULTIPROC_DIR (set in
the environment before any process starts, and emptied by whoever starts them) puts prometheus-
client in multiprocess mode: every process writes its values to files of its own there, and a
scrape adds up the files of every process, the dead ones' included (a counter does not go back
when a worker is recycled). gunicorn's child_exit hook (portal.gunicorn_config) and Celery's
worker_process_shutdown (portal.celery) mark dead processes. Without the variable (tests,
runserver) a scrape reads the process's own values.

Scrape-time collectors (state counts read from the database, queue depths asked of the broker)
are passed to `serve` by the /metrics view: nothing of theirs is kept in any process.
"""

import hmac
import ipaddress
import os
import time
from collections.abc import Iterable

from django.conf import settings
from django.core import checks
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.cache import add_never_cache_headers
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from .audit import client_ip

# `_created` series would double every counter's and histogram's lines in single-process mode
# (multiprocess mode never has them) for a value nobody graphs.
disable_created_metrics()

REQUEST_DURATION = Histogram(
    "ironyard_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL pattern (route), method and status class.",
    ["route", "method", "status"],
)

# Any other method a client sends is "other": labels come from a fixed set, never from input.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route(request: HttpRequest) -> str:
    """The URL pattern that answered (`/metal/v1/projects/<uuid:id>/devices`), not the path, so
    ids do not make a label value each; "(static)" and "(unmatched)" for the rest."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return "/" + match.route
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "(static)"
    return "(unmatched)"


class RequestMetricsMiddleware:
    """Time every request, first in and last out, into REQUEST_DURATION."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        elapsed = time.perf_counter() - started
        status = f"{response.status_code // 100}xx"
        REQUEST_DURATION.labels(route(request), method, status).observe(elapsed)
        return response


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR, when prometheus-client runs in multiprocess mode."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found = []
    for network in settings.METRICS_ALLOWED_NETWORKS:
        try:
            found.append(ipaddress.ip_network(network, strict=False))
        except ValueError:
            continue  # reported by check_metrics_settings
    return found


def may_scrape(request: HttpRequest) -> bool:
    """Operators' scrapers only: a caller inside METRICS_ALLOWED_NETWORKS (its address as
    audit.client_ip sees it, so behind a proxy set TRUSTED_PROXIES), or one presenting
    METRICS_TOKEN as a bearer token."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return True
    address = client_ip(request)
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks())


class _ThisProcess:
    """The process's own metrics (the default registry), in a registry of one scrape."""

    def collect(self):
        return REGISTRY.collect()


def registry(collectors: Iterable = ()) -> CollectorRegistry:
    """A registry for one scrape: every process's metrics in multiprocess mode, else this
    process's; then `collectors`, which compute theirs now."""
    found = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        multiprocess.MultiProcessCollector(found, path=path)
    else:
        found.register(_ThisProcess())
    for collector in collectors:
        found.register(collector)
    return found


def serve(request: HttpRequest, collectors: Iterable = ()) -> HttpResponse:
    """The body of /metrics (Prometheus text format), or 403 for a caller who may not read it."""
    if not may_scrape(request):
        return HttpResponseForbidden("Metrics are for the operators' scrapers.\n")
    response = HttpResponse(generate_latest(registry(collectors)), content_type=CONTENT_TYPE_LATEST)
    add_never_cache_headers(response)
    return response


@checks.register(checks.Tags.security)
def check_metrics_networks(app_configs, **kwargs):
    """A typo in METRICS_ALLOWED_NETWORKS would lock the scrapers out."""
    errors = []
    for network in settings.METRICS_ALLOWED_NETWORKS:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            errors.append(
                checks.Error(
                    f"METRICS_ALLOWED_NETWORKS: {network!r} is not a network ({exc}).",
                    id="ironyard.E020",
                )
            )
    return errors
