"""The reusable layer in portal/api/metal.py, on its own: include/exclude paths and references."""

import pytest
from rest_framework import serializers

from portal.api.metal import MetalSerializer, Ref, optimize, parse_paths
from portal.models import Project


class _OrgOut(MetalSerializer):
    name = serializers.CharField()


class _ProjectAlwaysExpanded(MetalSerializer):
    # Like Device.operating_system: a reference clients expect as an object by default.
    organization = Ref(_OrgOut, expand=True)


@pytest.mark.parametrize(
    ("raw", "tree"),
    [
        (None, {}),
        ("", {}),
        ("a,b.c", {"a": {}, "b": {"c": {}}}),
        ("a.b,a.c", {"a": {"b": {}, "c": {}}}),
        (" a , a.b.c.d.e ", {"a": {"b": {"c": {}}}}),  # at most three levels
    ],
)
def test_parse_paths(raw, tree):
    assert parse_paths(raw) == tree


def test_default_expanded_reference_collapses_under_exclude(web, acme):
    expanded = _ProjectAlwaysExpanded(web, context={}).data["organization"]
    assert expanded["name"] == "Acme"
    collapsed = _ProjectAlwaysExpanded(web, context={"exclude": {"organization": {}}}).data
    assert collapsed["organization"] == {"href": f"/metal/v1/organizations/{acme.uuid}"}


def test_optimize_loads_references_in_the_same_query(web, django_assert_num_queries):
    queryset = optimize(Project.objects.filter(pk=web.pk), _ProjectAlwaysExpanded, {})
    with django_assert_num_queries(1):
        assert _ProjectAlwaysExpanded(queryset.get(), context={}).data["organization"]["name"]


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (None, 200),
        ("*/*", 200),
        ("application/json", 200),
        ("application/*", 200),
        ("application/json; charset=utf-8", 200),
        ("text/html", 406),
    ],
)
def test_json_is_the_only_answer(api, world, accept, status):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = api(world.tokens["alice"]).get("/metal/v1/projects", **headers)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    if status == 406:
        assert response.json()["errors"]
