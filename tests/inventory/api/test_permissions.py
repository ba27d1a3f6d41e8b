"""Permission matrix for the inventory API: every endpoint × every persona, plus the token
rules. 404 = cannot see it, 403 = can see it but may not do this; the catalogue is open to
every key."""

import pytest

from inventory import services
from tests import factories

PERSONAS = ("alice", "adam", "carol", "lena", "bill", "charlie")
ALL_200 = (200,) * 6
WEB_READ = (200, 200, 200, 200, 404, 404)
WEB_WRITE = (None, None, None, 403, 404, 404)  # None: the success code of the row
ORG_READ = (200, 200, 200, 200, 200, 404)
CHECK = {"servers": [{"metro": "sv", "plan": "c3.small.x86", "quantity": 1}]}
LEGACY_CHECK = {"servers": [{"facility": "sv15", "plan": "c3.small.x86", "quantity": 1}]}
RESERVE = {"type": "public_ipv4", "quantity": 1, "metro": "sv"}


def _write(code):
    return tuple(code if want is None else want for want in WEB_WRITE)


# (method, path, body, expected per persona: alice owner | adam admin | carol collaborator on
#  web | lena limited on web | bill billing | charlie outsider)
MATRIX = [
    ("GET", "/plans", None, ALL_200),
    ("GET", "/projects/{web}/plans", None, WEB_READ),
    ("GET", "/projects/{ops}/plans", None, (200, 200, 404, 404, 404, 404)),
    ("GET", "/organizations/{acme}/plans", None, ORG_READ),
    ("GET", "/locations/metros", None, ALL_200),
    ("GET", "/locations/metros/{sv}", None, ALL_200),
    ("GET", "/facilities", None, ALL_200),
    ("GET", "/operating-systems", None, ALL_200),
    ("GET", "/operating-system-versions", None, ALL_200),
    ("GET", "/organizations/{acme}/operating-systems", None, ORG_READ),
    ("GET", "/capacity", None, ALL_200),
    ("GET", "/capacity/metros", None, ALL_200),
    ("POST", "/capacity/metros", CHECK, ALL_200),
    ("POST", "/capacity", LEGACY_CHECK, ALL_200),
    ("GET", "/projects/{web}/ips", None, WEB_READ),
    ("POST", "/projects/{web}/ips", RESERVE, _write(201)),
    ("GET", "/projects/{ops}/ips", None, (200, 200, 404, 404, 404, 404)),
    ("GET", "/ips/{web_ip}", None, WEB_READ),
    ("PATCH", "/ips/{web_ip}", {"details": "x"}, _write(200)),
    ("DELETE", "/ips/{web_ip}", None, _write(204)),
    ("GET", "/ips/{web_ip}/available?cidr=32", None, WEB_READ),
    ("GET", "/ips/{ops_ip}", None, (200, 200, 404, 404, 404, 404)),
    ("DELETE", "/ips/{ops_ip}", None, (204, 204, 404, 404, 404, 404)),
]
WRITES = [row for row in MATRIX if row[0] != "GET" and "capacity" not in row[1]]


@pytest.fixture
def ips(world, catalogue):
    """A reservation in each project, made by the owner."""

    def reserve(project):
        return services.reserve_ips(
            project=project,
            acting_user=world.alice,
            kind="public_ipv4",
            quantity=2,
            metro=catalogue.sv,
        )

    return {"web_ip": reserve(world.web).uuid, "ops_ip": reserve(world.ops).uuid}


def _request(client, method, template, body, world, catalogue, ips):
    values = {
        "web": world.web.uuid,
        "ops": world.ops.uuid,
        "acme": world.acme.uuid,
        "sv": catalogue.sv.uuid,
        **ips,
    }
    return getattr(client, method.lower())(
        "/metal/v1" + template.format(**values), body, format="json"
    )


def _params(rows):
    return [pytest.param(*row, id=f"{row[0]} {row[1]}") for row in rows]


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(MATRIX))
def test_anonymous_gets_401(api, world, catalogue, ips, method, template, body, expected):
    response = _request(api(), method, template, body, world, catalogue, ips)
    assert response.status_code == 401
    assert response.json()["errors"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(MATRIX))
def test_persona_matrix(api, world, catalogue, ips, persona, method, template, body, expected):
    client = api(world.tokens[persona])
    response = _request(client, method, template, body, world, catalogue, ips)
    want = expected[PERSONAS.index(persona)]
    assert response.status_code == want, response.content
    if want == 204:
        assert response.content == b""
    elif want >= 400:
        assert response.json()["errors"]


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(WRITES))
def test_read_only_token_cannot_write(api, world, catalogue, ips, method, template, body, expected):
    token = factories.make_token(world.alice, read_only=True)
    response = _request(api(token), method, template, body, world, catalogue, ips)
    assert response.status_code == 403
    assert response.json()["errors"] == ["This API key is read-only."]


WEB_ROWS = [row for row in MATRIX if "{web" in row[1]]


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(WEB_ROWS))
def test_project_token_of_another_project_gets_404(
    api, world, catalogue, ips, method, template, body, expected
):
    token = factories.make_token(world.alice, project=world.ops)
    response = _request(api(token), method, template, body, world, catalogue, ips)
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(WEB_ROWS))
def test_project_token_reaches_its_own_project_like_its_owner(
    api, world, catalogue, ips, method, template, body, expected
):
    token = factories.make_token(world.alice, project=world.web)
    response = _request(api(token), method, template, body, world, catalogue, ips)
    assert response.status_code == expected[0]


CATALOGUE_ROWS = [row for row in MATRIX if "{" not in row[1]]


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(CATALOGUE_ROWS))
def test_project_token_reads_the_catalogue(
    api, world, catalogue, ips, method, template, body, expected
):
    token = factories.make_token(world.alice, project=world.web)
    response = _request(api(token), method, template, body, world, catalogue, ips)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "template", ["/organizations/{acme}/plans", "/organizations/{acme}/operating-systems"]
)
def test_project_token_is_refused_on_organization_endpoints(api, world, catalogue, ips, template):
    token = factories.make_token(world.alice, project=world.web)
    response = _request(api(token), "GET", template, None, world, catalogue, ips)
    assert response.status_code == 403
    assert response.json()["errors"] == ["A project API key cannot use this endpoint."]


def test_project_token_lists_only_its_own_reservations(api, world, catalogue, ips):
    token = factories.make_token(world.alice, project=world.web)
    listed = api(token).get(f"/metal/v1/projects/{world.web.uuid}/ips").json()["ip_addresses"]
    assert [ip["id"] for ip in listed] == [str(ips["web_ip"])]


def test_bad_token_gets_401(api, world, catalogue):
    response = api(factories.tampered(world.tokens["alice"])).get("/metal/v1/plans")
    assert response.status_code == 401
