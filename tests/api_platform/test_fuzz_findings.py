"""Regressions for what the fuzzing found (each was a 500 before its fix)."""

import pytest

from portal.models import Project
from tests import factories


@pytest.mark.parametrize(
    "customdata", [{"note": "a\u0000b"}, {"k\u0000": 1}, {"nested": [{"x": "\u0000"}]}]
)
def test_null_characters_in_customdata_are_a_422(api, alice, acme, customdata):
    # PostgreSQL's jsonb cannot store \u0000: it was a DataError and a 500.
    client = api(factories.make_token(alice))
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    response = client.post(url, {"name": "p", "customdata": customdata}, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": ["customdata: Null characters are not allowed."]}
    assert not Project.objects.filter(name="p").exists()


@pytest.mark.parametrize("query", ["hostname=%00", "search=a%00b", "x%00=1"])
def test_null_characters_in_query_parameters_are_a_422(api, alice, acme, query):
    # A filter with NUL reached PostgreSQL ("A string literal cannot contain NUL"): a 500.
    client = api(factories.make_token(alice))
    response = client.get(f"/metal/v1/organizations/{acme.uuid}/devices?{query}")
    assert response.status_code == 422
    assert response.json() == {"errors": ["Query parameters must not contain NUL characters."]}
