"""/metrics: who may read it, request latency by route, a scrape that survives a dead broker,
and multiprocess mode adding up the processes of gunicorn and of others."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from portal.celery import _metrics_process_dead
from portal.gunicorn_config import child_exit
from portal.metrics import check_metrics_networks
from provisioning.bench.processes import free_port
from tests import factories
from tests.broker import dead_broker
from tests.prometheus import parse, scrape

ROOT = Path(__file__).resolve().parents[2]
OUTSIDER = "203.0.113.9"


@pytest.mark.django_db
def test_only_the_allowed_networks_may_scrape(client, settings):
    assert client.get("/metrics").status_code == 200  # loopback, the default
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 200
    assert client.get("/metrics").status_code == 403
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 403


def test_a_network_that_is_not_one_is_refused_by_the_checks(settings):
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8", "10.0.0.0/33"]
    [error] = check_metrics_networks(None)
    assert error.id == "ironyard.E020" and "10.0.0.0/33" in error.msg


@pytest.mark.django_db
def test_a_proxy_on_loopback_does_not_let_its_clients_in(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    outside = client.get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDER)
    assert outside.status_code == 403


@pytest.mark.django_db
def test_the_token_lets_a_scraper_in_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "scrape-me-0123456789"
    response = client.get(
        "/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer scrape-me-0123456789"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    for wrong in ("Bearer scrape-me", "Basic scrape-me-0123456789", ""):
        denied = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=wrong)
        assert denied.status_code == 403


@pytest.mark.django_db
def test_without_a_token_setting_no_token_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


def test_api_latency_is_labelled_by_route_not_path(client, alice, web):
    token = factories.make_token(alice)
    path = f"/metal/v1/projects/{web.uuid}/devices"
    labels = {"route": "/metal/v1/projects/<uuid:id>/devices", "method": "GET", "status": "2xx"}
    name = "ironyard_http_request_duration_seconds_count"
    before = scrape(client)
    assert client.get(path, HTTP_X_AUTH_TOKEN=token).status_code == 200
    assert client.get(path).status_code == 401
    assert client.generic("PROPFIND", path).status_code == 401
    assert client.get(f"/nothing/{web.uuid}/").status_code == 404
    after = scrape(client)
    change = after.since(before)
    assert change(name, **labels) == 1
    assert change(name, **{**labels, "status": "4xx"}) == 1
    assert change(name, **{**labels, "method": "other", "status": "4xx"}) == 1
    assert change(name, route="(unmatched)", method="GET", status="4xx") == 1
    routes = {labels["route"] for labels in after.labels_of(name)}
    assert not [route for route in routes if str(web.uuid) in route]


@pytest.mark.django_db
def test_a_dead_broker_is_a_gauge_not_a_failed_scrape(client, monkeypatch, free_tcp_port):
    dead_broker(monkeypatch, f"amqp://guest:guest@127.0.0.1:{free_tcp_port}//")
    samples = scrape(client)
    assert samples.get_value("ironyard_broker_up") == 0
    assert samples.labels_of("ironyard_celery_queue_messages") == []
    assert {"state": "available"} in samples.labels_of("ironyard_machines")


@pytest.fixture
def multiproc_dir(tmp_path, monkeypatch):
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    return folder


def test_gunicorn_marks_a_dead_worker(multiproc_dir):
    """Live gauges of a worker that exited stop counting; its counters stay."""
    (multiproc_dir / "gauge_livesum_4242.db").write_bytes(b"")
    (multiproc_dir / "counter_4242.db").write_bytes(b"")
    child_exit(None, SimpleNamespace(pid=4242))
    assert sorted(p.name for p in multiproc_dir.iterdir()) == ["counter_4242.db"]


def test_celery_marks_a_dead_pool_process(multiproc_dir):
    (multiproc_dir / "gauge_liveall_4343.db").write_bytes(b"")
    (multiproc_dir / "histogram_4343.db").write_bytes(b"")
    _metrics_process_dead(pid=4343)
    assert sorted(p.name for p in multiproc_dir.iterdir()) == ["histogram_4343.db"]


# A process of its own that serves one request through Django (as a Celery worker or another
# web server would record its metrics), then exits.
ONE_REQUEST = """
import django
django.setup()
from django.test import Client
assert Client().get("/health/live").status_code == 200
"""


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_multiprocess_mode_adds_up_every_process(tmp_path, multiproc_dir):
    """Two processes that have exited and gunicorn's two workers write their own files; one
    scrape of gunicorn adds them all up."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
        "IRONYARD_VAR_DIR": str(tmp_path / "var"),
        # A database without tables: the state gauges are left out, the scrape still answers.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    }
    for _ in range(2):
        subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", ONE_REQUEST], env=env, cwd=ROOT, check=True, timeout=120
        )
    port = free_port()
    web = subprocess.Popen(  # noqa: S603 - our own interpreter
        [
            *(sys.executable, "-m", "gunicorn", "portal.wsgi"),
            *("-c", "python:portal.gunicorn_config", "--workers", "2"),
            *("--bind", f"127.0.0.1:{port}", "--log-level", "warning"),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(port, "/health/live")[0] == 200:
                    break  # this request is counted too
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            assert web.poll() is None, "gunicorn exited"
            time.sleep(0.2)
        for _ in range(6):
            assert _get(port, "/health/live")[0] == 200
        status, body = _get(port, "/metrics")
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
    assert status == 200
    samples = parse(body)
    live = {"route": "/health/live", "method": "GET", "status": "2xx"}
    assert samples.get_value("ironyard_http_request_duration_seconds_count", **live) == 2 + 1 + 6
    writers = {path.stem.rsplit("_", 1)[1] for path in multiproc_dir.glob("histogram_*.db")}
    assert len(writers) >= 3  # the two processes and at least one gunicorn worker
    assert samples.labels_of("ironyard_machines") == []
    assert "ironyard_broker_up" in {name for name, _ in samples}
