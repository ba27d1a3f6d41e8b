"""Permission matrix: every endpoint × every persona, plus the token rules (read-only,
project-scoped). 404 = cannot see it, 403 = can see it but may not do this."""

import pytest

from tests import factories
from tests.portal.api.conftest import ids

PERSONAS = ("alice", "adam", "carol", "lena", "bill", "charlie")


def _key_body():
    return {"label": "new", "key": factories.new_ssh_public_key()}


# Expected status per persona, in this order:
#   alice owner | adam admin | carol collaborator on web | lena limited on web | bill billing |
#   charlie outsider
MATRIX = [
    ("GET", "/user", None, (200, 200, 200, 200, 200, 200)),
    ("PUT", "/user", {"first_name": "New"}, (200, 200, 200, 200, 200, 200)),
    ("PATCH", "/user", {"timezone": "Europe/Paris"}, (200, 200, 200, 200, 200, 200)),
    ("GET", "/users", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/users/{carol}", None, (200, 200, 200, 200, 200, 404)),
    ("GET", "/organizations", None, (200, 200, 200, 200, 200, 200)),
    ("POST", "/organizations", {"name": "Org"}, (201, 201, 201, 201, 201, 201)),
    ("GET", "/organizations/{acme}", None, (200, 200, 200, 200, 200, 404)),
    ("PUT", "/organizations/{acme}", {"name": "Acme 2"}, (200, 200, 403, 403, 403, 404)),
    (
        "PATCH",
        "/organizations/{acme}",
        {"website": "https://acme.example"},
        (200, 200, 403, 403, 403, 404),
    ),
    # The owner may delete it, but not while it has projects.
    ("DELETE", "/organizations/{acme}", None, (422, 403, 403, 403, 403, 404)),
    ("GET", "/organizations/{acme}/projects", None, (200, 200, 200, 200, 200, 404)),
    ("POST", "/organizations/{acme}/projects", {"name": "p"}, (201, 201, 403, 403, 403, 404)),
    ("GET", "/organizations/{acme}/members", None, (200, 200, 200, 200, 200, 404)),
    (
        "PUT",
        "/organizations/{acme}/members/{lena_member}",
        {"role": ["collaborator"], "project_ids": ["{web}"]},
        (200, 200, 403, 403, 403, 404),
    ),
    # Lena may leave herself.
    ("DELETE", "/organizations/{acme}/members/{lena_member}", None, (204, 204, 403, 204, 403, 404)),
    ("GET", "/organizations/{acme}/invitations", None, (200, 200, 403, 403, 403, 404)),
    (
        "POST",
        "/organizations/{acme}/invitations",
        {"invitee": "new@example.com", "roles": ["billing"]},
        (201, 201, 403, 403, 403, 404),
    ),
    ("GET", "/organizations/{acme}/roles", None, (200, 200, 200, 200, 200, 404)),
    ("GET", "/organizations/{acme}/roles/collaborator", None, (200, 200, 200, 200, 200, 404)),
    ("GET", "/organizations/{acme}/events", None, (200, 200, 200, 200, 200, 404)),
    ("GET", "/projects", None, (200, 200, 200, 200, 200, 200)),
    # Charlie cannot see Acme, so for him the organization does not exist (422, not 403).
    (
        "POST",
        "/projects",
        {"name": "p", "organization_id": "{acme}"},
        (201, 201, 403, 403, 403, 422),
    ),
    ("GET", "/projects/{web}", None, (200, 200, 200, 200, 404, 404)),
    ("PUT", "/projects/{web}", {"name": "web2"}, (200, 200, 403, 403, 404, 404)),
    ("PATCH", "/projects/{web}", {"tags": ["a"]}, (200, 200, 403, 403, 404, 404)),
    ("DELETE", "/projects/{web}", None, (204, 204, 403, 403, 404, 404)),
    ("GET", "/projects/{ops}", None, (200, 200, 404, 404, 404, 404)),
    ("GET", "/projects/{web}/memberships", None, (200, 200, 200, 200, 404, 404)),
    ("GET", "/projects/{web}/invitations", None, (200, 200, 403, 403, 404, 404)),
    (
        "POST",
        "/projects/{web}/invitations",
        {"invitee": "new@example.com"},
        (201, 201, 403, 403, 404, 404),
    ),
    ("GET", "/projects/{web}/api-keys", None, (200, 200, 200, 403, 404, 404)),
    ("POST", "/projects/{web}/api-keys", {"description": "ci"}, (201, 201, 201, 403, 404, 404)),
    ("GET", "/projects/{web}/ssh-keys", None, (200, 200, 200, 200, 404, 404)),
    ("POST", "/projects/{web}/ssh-keys", _key_body, (201, 201, 201, 403, 404, 404)),
    ("GET", "/projects/{web}/events", None, (200, 200, 200, 200, 404, 404)),
    ("GET", "/memberships/{carol_on_web}", None, (200, 200, 200, 200, 404, 404)),
    (
        "PUT",
        "/memberships/{carol_on_web}",
        {"role": ["limited_collaborator"]},
        (200, 200, 403, 403, 404, 404),
    ),
    # Carol may leave the project herself.
    ("DELETE", "/memberships/{carol_on_web}", None, (204, 204, 204, 403, 404, 404)),
    ("GET", "/invitations", None, (200, 200, 200, 200, 200, 200)),
    # Addressed to charlie: he accepts or declines; owners/admins see it but cannot accept.
    ("GET", "/invitations/{invitation}", None, (200, 200, 404, 404, 404, 200)),
    ("PUT", "/invitations/{invitation}", None, (403, 403, 404, 404, 404, 200)),
    ("DELETE", "/invitations/{invitation}", None, (204, 204, 404, 404, 404, 204)),
    ("GET", "/user/api-keys", None, (200, 200, 200, 200, 200, 200)),
    ("POST", "/user/api-keys", {"description": "laptop"}, (201, 201, 201, 201, 201, 201)),
    ("DELETE", "/user/api-keys/{alice_spare_api_key}", None, (204, 404, 404, 404, 404, 404)),
    ("DELETE", "/api-keys/{alice_spare_api_key}", None, (204, 404, 404, 404, 404, 404)),
    # A project key: its creator (carol) and the project's managers may delete it.
    ("DELETE", "/api-keys/{carol_web_api_key}", None, (204, 204, 204, 404, 404, 404)),
    ("GET", "/ssh-keys", None, (200, 200, 200, 200, 200, 200)),
    ("POST", "/ssh-keys", _key_body, (201, 201, 201, 201, 201, 201)),
    ("GET", "/ssh-keys/{alice_ssh_key}", None, (200, 404, 404, 404, 404, 404)),
    ("PUT", "/ssh-keys/{alice_ssh_key}", {"label": "x"}, (200, 404, 404, 404, 404, 404)),
    ("DELETE", "/ssh-keys/{alice_ssh_key}", None, (204, 404, 404, 404, 404, 404)),
    ("GET", "/ssh-keys/{web_ssh_key}", None, (200, 200, 200, 200, 404, 404)),
    ("PATCH", "/ssh-keys/{web_ssh_key}", {"label": "x"}, (200, 200, 200, 403, 404, 404)),
    ("DELETE", "/ssh-keys/{web_ssh_key}", None, (204, 204, 204, 403, 404, 404)),
    ("GET", "/events", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/events/{web_event}", None, (200, 200, 200, 200, 404, 404)),
]

WRITES = [row for row in MATRIX if row[0] != "GET"]


def _request(client, method, template, body, world):
    values = ids(world)
    url = "/metal/v1" + template.format(**values)
    if callable(body):
        body = body()
    elif isinstance(body, dict):
        body = {
            k: [str(x).format(**values) for x in v]
            if isinstance(v, list)
            else (v.format(**values) if isinstance(v, str) else v)
            for k, v in body.items()
        }
    return getattr(client, method.lower())(url, body, format="json")


def _params(rows):
    return [pytest.param(*row, id=f"{row[0]} {row[1]}") for row in rows]


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(MATRIX))
def test_anonymous_gets_401(api, world, method, template, body, expected):
    response = _request(api(), method, template, body, world)
    assert response.status_code == 401
    assert response.json()["errors"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(MATRIX))
def test_persona_matrix(api, world, persona, method, template, body, expected):
    response = _request(api(world.tokens[persona]), method, template, body, world)
    want = expected[PERSONAS.index(persona)]
    assert response.status_code == want, response.content
    if want == 204:
        assert response.content == b""
    elif want >= 400:
        assert response.json()["errors"]


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(WRITES))
def test_read_only_token_cannot_write(api, world, method, template, body, expected):
    token = factories.make_token(world.alice, read_only=True)
    response = _request(api(token), method, template, body, world)
    assert response.status_code == 403
    assert response.json()["errors"] == ["This API key is read-only."]


# Endpoints that are about the user or the organization, not one project.
USER_LEVEL = [
    ("PUT", "/user", {"first_name": "X"}),
    ("GET", "/users", None),
    ("GET", "/users/{carol}", None),
    ("GET", "/organizations", None),
    ("POST", "/organizations", {"name": "Org"}),
    ("GET", "/organizations/{acme}", None),
    ("GET", "/organizations/{acme}/projects", None),
    ("GET", "/organizations/{acme}/members", None),
    ("GET", "/organizations/{acme}/invitations", None),
    ("GET", "/organizations/{acme}/roles", None),
    ("GET", "/organizations/{acme}/events", None),
    ("POST", "/projects", {"name": "p"}),
    ("GET", "/invitations", None),
    ("GET", "/invitations/{invitation}", None),
    ("POST", "/user/api-keys", {"description": "x"}),
    ("POST", "/ssh-keys", _key_body),
]


@pytest.mark.parametrize(("method", "template", "body"), _params(USER_LEVEL))
def test_project_token_is_refused_on_user_level_endpoints(api, world, method, template, body):
    token = factories.make_token(world.alice, project=world.web)
    response = _request(api(token), method, template, body, world)
    assert response.status_code == 403
    assert response.json()["errors"] == ["A project API key cannot use this endpoint."]


# Rows about the web project (or something in it): a key for ops cannot reach them.
WEB_ROWS = [
    row
    for row in MATRIX
    if "{web" in row[1] or "{carol_on_web}" in row[1] or "{carol_web_api_key}" in row[1]
]


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(WEB_ROWS))
def test_project_token_of_another_project_gets_404(api, world, method, template, body, expected):
    token = factories.make_token(world.alice, project=world.ops)
    response = _request(api(token), method, template, body, world)
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "template", "body", "expected"), _params(WEB_ROWS))
def test_project_token_reaches_its_own_project_like_its_owner(
    api, world, method, template, body, expected
):
    token = factories.make_token(world.alice, project=world.web)
    response = _request(api(token), method, template, body, world)
    assert response.status_code == expected[0]


def test_bad_token_gets_401(api, world):
    for token in ("nonsense", factories.tampered(world.tokens["alice"])):
        response = api(token).get("/metal/v1/projects")
        assert response.status_code == 401
        assert response.json()["errors"]
