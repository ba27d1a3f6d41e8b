"""Schemathesis fuzzing of the project, organization, SSH key and device endpoints, in process
against the WSGI app: whatever the body, query or ids, no 500, and every error is Metal's
`{"errors": [...]}`.

Requests are generated from Metal's own spec, which describes what real clients send in far
more detail than our generated document's free-form bodies. `metal-v1.subset.openapi3.json` is
the part of it these tests use — the operations of PATHS and the components they reference,
unchanged — taken from the Metal v1 spec as the Equinix Python SDK (equinix/equinix-sdk-python,
MIT licence) last synced it, commit 238f6aed205a02a1bdbbced65e277fc07a16c601,
spec/services/metalv1/oas3.fetched/. It lives in the tree so that the suite needs nothing
outside its own checkout. Path ids are
pointed at real objects the caller owns, so the bodies and queries reach the handlers instead
of stopping at a 404.
"""

import json
import re
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from portal import services
from provisioning.services import create_devices
from tests import factories
from tests.provisioning.factories import make_site, request_for

SPEC = Path(__file__).with_name("metal-v1.subset.openapi3.json")
PATHS = [
    "/organizations",
    "/organizations/{id}",
    "/organizations/{id}/projects",
    "/organizations/{id}/devices",
    "/projects",
    "/projects/{id}",
    "/projects/{id}/ssh-keys",
    "/projects/{id}/events",
    "/projects/{id}/devices",
    "/projects/{id}/devices/batch",
    "/projects/{id}/batches",
    "/ssh-keys",
    "/ssh-keys/{id}",
    "/devices/{id}",
    "/devices/{id}/actions",
    "/devices/{id}/events",
    "/devices/{id}/ips",
    "/devices/{id}/ssh-keys",
]


def _load() -> schemathesis.schemas.BaseSchema:
    spec = json.loads(SPEC.read_text())
    missing = set(PATHS) - set(spec["paths"])
    assert not missing, f"add these operations to {SPEC.name}: {sorted(missing)}"
    spec["servers"] = [{"url": "/metal/v1"}]
    loaded = schemathesis.openapi.from_dict(spec)
    loaded.app = get_wsgi_application()
    return loaded.include(path=PATHS)


schema = _load()


@pytest.fixture
def keep_test_connection():
    """Django closes a connection whose autocommit is off when a request ends, which a test
    transaction's is: called straight through WSGI (not Django's test client, which does the
    same), the app must leave the test's connection alone."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def world(db, keep_test_connection, alice, acme, web):
    """Alice owns Acme/web with an SSH key and a device (a site with a spare machine)."""
    site = make_site(machines=2)
    [device] = create_devices(project=web, acting_user=alice, request=request_for(*site))
    ssh_key = services.create_ssh_key(
        acting_user=alice, label="fuzz", key=factories.new_ssh_public_key()
    )
    token = factories.make_token(alice)
    ids = {"/organizations/": acme.uuid, "/projects/": web.uuid, "/ssh-keys/": ssh_key.uuid}
    ids["/devices/"] = device.uuid
    return token, ids


def _point_ids_at(case, ids) -> None:
    for prefix, uuid in ids.items():
        if case.path.startswith(prefix) and case.path_parameters and "id" in case.path_parameters:
            case.path_parameters["id"] = str(uuid)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a CI failure reproduces locally
)
def test_no_500_and_errors_in_metal_shape(case, world):
    token, ids = world
    _point_ids_at(case, ids)
    response = case.call(headers={"X-Auth-Token": token})
    assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"errors"}, body
        assert body["errors"] and all(isinstance(m, str) and m for m in body["errors"]), body
        assert not re.search(r"Traceback|Exception", response.text)
