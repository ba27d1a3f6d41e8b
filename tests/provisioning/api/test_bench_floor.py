"""`make bench-api`'s floor view is the device list stopped short of rendering: the list's own
statements up to its page's keys, and not one of its rendering's."""

import importlib
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


@pytest.fixture
def bench_body(tmp_path, monkeypatch, settings):
    """The bytes the bench's views return, with its URLs in place of the portal's."""
    body = tmp_path / "body.json"
    body.write_bytes(b'{"devices":[],"meta":{}}')
    monkeypatch.setenv("IRONYARD_BENCH_BODY", str(body))
    monkeypatch.delitem(sys.modules, "provisioning.bench.urls", raising=False)
    importlib.import_module("provisioning.bench.urls")  # it reads the body once, on import
    settings.ROOT_URLCONF = "provisioning.bench.urls"
    return body.read_bytes()


def test_floor_runs_the_list_up_to_its_page_keys(api, world, deploy, bench_body):
    client = api(world.tokens["alice"])
    for _ in range(3):
        deploy(world.web, world.alice)
    path = f"projects/{world.web.uuid}/devices"
    client.get(f"/metal/v1/{path}")  # the key's first use records last_used_at once
    with CaptureQueriesContext(connection) as listed:
        assert client.get(f"/metal/v1/{path}", {"per_page": 100}).status_code == 200
    with CaptureQueriesContext(connection) as floored:
        response = client.get(f"/bench/floor/{path}", {"per_page": 100})

    assert response.status_code == 200
    assert response.content == bench_body
    statements = [query["sql"] for query in floored]
    assert statements == [query["sql"] for query in listed][: len(statements)]
    assert "COUNT(*)" in statements[-2]  # the page's count, then its keys
    assert len(listed) - len(statements) >= 5  # devices, catalogue, addresses, keys: rendering


def test_floor_hides_what_the_list_hides(api, world, bench_body):
    # Charlie is no member of Acme: the floor answers him as the list does.
    client = api(world.tokens["charlie"])
    response = client.get(f"/bench/floor/projects/{world.web.uuid}/devices")
    assert response.status_code == 404
