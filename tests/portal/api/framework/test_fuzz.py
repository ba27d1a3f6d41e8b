"""Schemathesis fuzzing of every operation of Metal's spec that Ironyard serves, in process
against the WSGI app: whatever the body, query or ids, no 500, every error is Metal's
`{"errors": [...]}` with one of Metal's codes, every success is a documented status whose body
the spec accepts, and the equinix SDK (the strictest real client) parses every body.

Requests are generated from Metal's own spec, which describes what real clients send in far
more detail than our generated document's free-form bodies. `metal-v1.subset.openapi3.json` is
the part of it Ironyard serves — every path that has an operation here, with the components
they reference, unchanged — taken from the Metal v1 spec as the Equinix Python SDK
(equinix/equinix-sdk-python, MIT licence) last synced it, commit
238f6aed205a02a1bdbbced65e277fc07a16c601, spec/services/metalv1/oas3.fetched/. It lives in the
tree so that the suite needs nothing outside its own checkout.

Path ids point at real objects the caller owns, so bodies and queries reach the handlers
instead of stopping at a 404; each example runs in a savepoint that is rolled back, so a DELETE
or an accepted invitation leaves the next example the same world.

Where the spec and Metal's clients disagree, the clients win, and the spec is amended here
(`_amend`): the SDK-patched spec, which the generated SDKs validate against, drops
`Address.required`; and `meta.next` is null on a last page, as packet-python needs.

Every run sends the same requests (about 5,000: the coverage phase's and 5 fuzzed examples per
operation), on SQLite and PostgreSQL alike, so a failure in CI reproduces locally.
"""

import itertools
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.urls import URLPattern, URLResolver, get_resolver
from equinix.services import metalv1
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks

from inventory import services as inventory_services
from portal import services
from portal.models import Event, Member, ProjectMembership
from provisioning import services as provisioning_services
from provisioning.billing import usage
from provisioning.models import InvoiceLine
from tests import factories
from tests.provisioning.factories import make_site, request_for

SPEC = Path(__file__).with_name("metal-v1.subset.openapi3.json")
METHODS = ("get", "post", "put", "patch", "delete")
# Routes under /metal/v1 that the 2026 spec does not describe: what older clients still call
# (packet-python's /facilities and facility-form POST /capacity, the 2023 spec's POST
# /organizations), PATCH wherever the spec says PUT and PUT where it says PATCH (Metal's Rails
# routes took both for an update), and Ironyard's own OpenAPI document.
OUTSIDE_SPEC = {
    ("GET", "/api-docs/"),
    ("GET", "/openapi.json"),
    ("GET", "/openapi.yaml"),
    ("GET", "/facilities"),
    ("POST", "/capacity"),
    ("POST", "/organizations"),
    ("PUT", "/ips/{}"),
    *(
        ("PATCH", path)
        for path in (
            "/devices/{}",
            "/invitations/{}",
            "/memberships/{}",
            "/organizations/{}",
            "/organizations/{}/members/{}",
            "/projects/{}",
            "/ssh-keys/{}",
            "/user",
        )
    ),
}
# The codes Metal answers errors with; the spec lists them per operation only in part (few
# operations list 422, yet any malformed page or body gets one).
METAL_ERRORS = {401, 403, 404, 422, 429}
# Success bodies whose schema the spec writes inline: the SDK's names for them.
INLINE_MODELS = {
    ("GET", "/ips/{id}"): "FindIPAddressById200Response",
    ("PATCH", "/ips/{id}"): "FindIPAddressById200Response",
    ("POST", "/projects/{id}/ips"): "RequestIPReservation201Response",
}


def _amend(spec: dict) -> dict:
    """The spec as the clients read it (see the module docstring)."""
    schemas = spec["components"]["schemas"]
    # The SDK-patched spec drops it: the API sent addresses without some of these fields.
    del schemas["Address"]["required"]
    # packet-python's list_all_devices reads meta["next"] (a KeyError if absent) and stops on
    # None; the SDKs' *_all_pages stop on None too.
    schemas["Meta"]["properties"]["next"] = {
        "allOf": [{"$ref": "#/components/schemas/Href"}],
        "nullable": True,
    }
    return spec


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "view_class"):
            yield prefix + str(pattern.pattern), pattern.callback.view_class


def served_operations() -> set[tuple[str, str]]:
    """(METHOD, path with `{}` for parameters) of every Metal API operation Ironyard routes."""
    served = set()
    for route, view in _routes(get_resolver().url_patterns):
        if route.startswith("metal/v1/"):
            path = _shape(re.sub(r"<[^>]+>", "{}", "/" + route.removeprefix("metal/v1/")))
            served |= {(method.upper(), path) for method in METHODS if hasattr(view, method)}
    return served


def _load() -> schemathesis.schemas.BaseSchema:
    spec = _amend(json.loads(SPEC.read_text()))
    spec["servers"] = [{"url": "/metal/v1"}]
    loaded = schemathesis.openapi.from_dict(spec)
    loaded.app = get_wsgi_application()
    # Undeclared methods are left out: Metal takes PATCH for PUT (and PUT for PATCH), and every
    # documented method of a path is fuzzed as an operation of its own.
    phases = loaded.config.phases
    phases.coverage.unexpected_methods = set()
    # The same requests every run (a CI failure reproduces locally): nothing learnt from
    # responses, which carry fresh ids and times, steers what is generated next, nor do
    # literals read from whichever modules happen to be imported (SQLite's or PostgreSQL's).
    for phase in (phases.examples, phases.coverage, phases.fuzzing):
        phase.extra_data_sources.responses = False
    phases.fuzzing.error_feedback.is_enabled = False
    loaded.config.analysis.constants.enabled = False
    served = served_operations()
    return loaded.include(
        lambda ctx: (ctx.operation.method.upper(), _shape(ctx.operation.path)) in served
    )


schema = _load()


def test_every_operation_ironyard_serves_is_fuzzed():
    spec = json.loads(SPEC.read_text())
    fuzzed = {
        (method.upper(), _shape(path))
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }
    # A new endpoint fails here until its path is copied into the subset from Metal's spec
    # (or, if the spec has no such operation, it is listed in OUTSIDE_SPEC).
    assert served_operations() - fuzzed == OUTSIDE_SPEC
    assert len(list(schema.get_all_operations())) == len(served_operations() & fuzzed)


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
def world(db, keep_test_connection, settings, alice, acme, web, carol, lena, charlie):
    """Alice owns Acme/web, with one of everything a path names: (her token, {name: ids})
    where the name is a path parameter's (`role_id`), or for `id` the segment before it, or
    the whole path where that path takes fewer kinds."""
    settings.API_RATE_PER_TOKEN = settings.API_RATE_PER_IP = "off"  # thousands of requests
    metro, plan, os_ = make_site(machines=3)
    [device] = provisioning_services.create_devices(
        project=web, acting_user=alice, request=request_for(metro, plan, os_)
    )
    [batch] = provisioning_services.create_batches(
        project=web, acting_user=alice, requests=[request_for(metro, plan, os_)]
    )
    reservation = inventory_services.reserve_ips(
        project=web, acting_user=alice, kind="public_ipv4", quantity=4, metro=metro
    )
    spare_key, _ = services.create_api_key(acting_user=alice, description="spare")
    invitation, _ = services.invite_member(
        organization=factories.make_org(charlie, "Charlie Co"),
        invitee=alice.email,
        role="admin",
        acting_user=charlie,
    )
    line = InvoiceLine(
        project=web,
        project_name=web.name,
        item="plan",
        plan=plan,
        name=plan.slug,
        description=plan.slug,
        quantity=Decimal(1),
        unit_price=Decimal("0.50"),
        amount=Decimal("0.50"),
    )
    invoice = usage._issue(acme, date(2030, 1, 1), date(2030, 1, 31), [line])
    ids = {
        "organizations": [acme.uuid],
        "organization_id": [acme.uuid],
        "members": [Member.objects.get(organization=acme, user=lena).uuid],
        "role_id": ["collaborator"],
        "projects": [web.uuid],
        "project_id": [web.uuid],
        "memberships": [ProjectMembership.objects.get(project=web, member__user=carol).uuid],
        "invitations": [invitation.uuid],
        "users": [carol.uuid],
        "api-keys": [spare_key.uuid],
        "ssh-keys": [
            services.create_ssh_key(
                acting_user=alice, label="fuzz", key=factories.new_ssh_public_key()
            ).uuid
        ],
        "events": [Event.objects.filter(project=web).first().uuid],
        "devices": [device.uuid],
        "batches": [batch.uuid],
        # Both kinds of IP id: examples take turns.
        "ips": [reservation.uuid, device.ip_assignments.first().uuid],
        "/ips/{id}/available": [reservation.uuid],
        "metros": [metro.uuid],
        "invoices": [invoice.uuid],
    }
    return factories.make_token(alice), {name: itertools.cycle(v) for name, v in ids.items()}


def _point_ids_at(case, ids) -> None:
    for name in case.path_parameters or {}:
        key = name if name != "id" else case.path.split("/{id}")[0].rsplit("/", 1)[-1]
        case.path_parameters[name] = str(next(ids.get(case.path, ids[key])))


def _sdk_model(case, status: int):
    """The equinix SDK's model for this success response."""
    operation = case.operation
    inline = INLINE_MODELS.get((operation.method.upper(), operation.path))
    if inline:
        return getattr(metalv1, inline)
    content = operation.definition.raw["responses"][str(status)]["content"]
    return getattr(metalv1, content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1])


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a CI failure reproduces locally
)
def test_responses_follow_the_spec(case, world):
    token, ids = world
    _point_ids_at(case, ids)
    with transaction.atomic():
        response = case.call(headers={"X-Auth-Token": token})
        transaction.set_rollback(True)
    status = response.status_code
    assert status < 500, (case.as_curl_command(), response.text[:500])
    if status >= 400:
        # 415 only for a body the fuzzer deliberately sent as something other than JSON.
        sent = response.request.headers.get("Content-Type", "application/json")
        expected = METAL_ERRORS | ({415} if sent != "application/json" else set())
        assert status in expected, (case.as_curl_command(), status, response.text[:500])
        body = response.json()
        assert set(body) == {"errors"}, body
        assert body["errors"] and all(isinstance(m, str) and m for m in body["errors"]), body
        assert not re.search(r"Traceback|Exception", response.text)
        return
    documented = case.operation.definition.raw["responses"]
    assert str(status) in documented, (case.as_curl_command(), status, sorted(documented))
    case.validate_response(
        response,
        checks=[checks.content_type_conformance, checks.response_schema_conformance],
    )
    if status == 204:
        assert not response.content
    elif response.content:
        _sdk_model(case, status).from_json(response.text)  # raises what the SDK would
