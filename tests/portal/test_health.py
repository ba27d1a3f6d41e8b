"""/health/ (database, cache, broker, a worker that answers) and /health/live (the process)."""

import json

import pytest
from celery.contrib.testing.worker import start_worker

from portal.celery import app
from tests.broker import dead_broker


@pytest.fixture
def quick(settings):
    """A worker that does not answer is given up on quickly."""
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    return settings


def test_liveness_asks_nothing_of_anything(client, monkeypatch):
    """No database (this test may not touch it: pytest-django would fail it), no broker."""
    dead_broker(monkeypatch, "amqp://guest:guest@127.0.0.1:1//")
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db(transaction=True)
def test_healthy_with_a_worker_that_answers(client, settings):
    # The first answer ends the wait; the filesystem broker's worker looks once a second.
    settings.HEALTH_CHECK_TIMEOUT = 5
    # Other tests publish to the broker without a worker; their leftovers are not this one's.
    app.control.purge()
    # (Stopping an in-process worker on RabbitMQ takes about 10 s: it waits out a poll.)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        response = client.get("/health/")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": {"status": "ok"},
            "cache": {"status": "ok"},
            "broker": {"status": "ok"},
            "worker": {"status": "ok"},
        },
    }


@pytest.mark.django_db
def test_no_worker_is_a_503(client, quick):
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["worker"] == {"status": "fail", "error": "no worker answered"}
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "worker": "fail",
    }


@pytest.mark.django_db
def test_a_dead_broker_is_a_503_that_gives_nothing_away(client, quick, monkeypatch, free_tcp_port):
    secret = "hunter2-broker-password"
    dead_broker(monkeypatch, f"amqp://ironyard:{secret}@127.0.0.1:{free_tcp_port}//")
    response = client.get("/health/")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["status"] == "fail"
    assert checks["worker"] == {"status": "fail", "error": "broker unavailable"}
    assert checks["database"] == {"status": "ok"}
    text = json.dumps(response.json())
    assert secret not in text and str(free_tcp_port) not in text


@pytest.mark.django_db
def test_a_dead_database_is_a_503(client, quick, monkeypatch):
    from django.db import OperationalError

    from portal import health

    def refuse():
        raise OperationalError("connection to server at 10.0.0.5 failed: password x")

    monkeypatch.setitem(health.CHECKS, "database", refuse)
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {
        "status": "fail",
        "error": "unavailable (OperationalError)",
    }


def test_health_needs_no_login_and_no_cookie(client, quick, db):
    response = client.get("/health/")
    assert response.status_code in (200, 503)
    assert "Set-Cookie" not in response.headers
    assert response["Content-Type"] == "application/json"
