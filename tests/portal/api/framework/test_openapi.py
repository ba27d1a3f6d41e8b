"""Ironyard's own OpenAPI document: it generates without warnings, is served as JSON and YAML,
and its docs page (Swagger UI) loads everything from this server, nothing from a CDN."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_generates_and_validates_with_no_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn turns any warning or error of the generator into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    assert "/metal/v1/projects/{id}" in schema["paths"]


def test_served_json_documents_auth_errors_and_idempotency(client):
    response = client.get("/metal/v1/openapi.json")  # public, like Metal's own spec
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["x_auth_token"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
    }
    create = schema["paths"]["/metal/v1/organizations/{id}/projects"]["post"]
    assert create["operationId"] == "postOrganizationProjects"
    assert {"x_auth_token": []} in create["security"]
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]
    for code in ("401", "403", "404", "422", "429"):
        assert create["responses"][code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert schema["components"]["schemas"]["Error"]["properties"]["errors"]["type"] == "array"
    operation_ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_served_yaml_is_the_same_document(client):
    as_json = client.get("/metal/v1/openapi.json").json()
    response = client.get("/metal/v1/openapi.yaml")
    assert response.status_code == 200
    assert yaml.safe_load(response.content) == as_json


def test_the_docs_page_loads_only_local_assets(client):
    response = client.get("/metal/v1/api-docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
    assets = re.findall(r"""(?:src|href)=["']/static/([^"']+)["']""", html)
    assert assets, "the page loads its UI from our static files"
    for asset in assets:
        assert finders.find(asset), asset
    # Swagger UI's start-up script is served from the page's own URL (no inline script).
    [script_url] = re.findall(
        r"""<script src=["'](/metal/v1/api-docs/\?[^"']*script[^"']*)["']""", html
    )
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    code = script.content.decode()
    assert "/metal/v1/openapi.json" in code
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", code, re.IGNORECASE), code
    # Swagger UI's default would post the document to validator.swagger.io.
    assert '"validatorUrl": null' in code
