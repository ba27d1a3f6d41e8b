"""List endpoints cost a fixed number of queries, however many rows (and includes) they render."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import services
from tests import factories

ROWS = 30


# Growers add `count` rows to one list; `tag` keeps names unique between calls.
def _members(world, count, tag, projects=()):
    for n in range(count):
        user = factories.make_user(f"m{tag}{n}@example.com")
        factories.add_member(
            world.acme, user, "collaborator" if projects else "billing", projects=projects
        )


def _invitations(world, count, tag, projects=()):
    for n in range(count):
        services.invite_member(
            organization=world.acme,
            invitee=f"i{tag}{n}@example.com",
            role="collaborator",
            projects=projects or [world.ops],
            acting_user=world.alice,
        )


def _invitations_to_alice(world, count, tag):
    for n in range(count):
        org = factories.make_org(world.charlie, f"Org {tag}{n}")
        services.invite_member(
            organization=org, invitee=world.alice.email, role="admin", acting_user=world.charlie
        )


def _organizations(world, count, tag):
    for n in range(count):
        factories.make_org(world.alice, f"O{tag}{n}")


def _projects(world, count, tag):
    for n in range(count):
        factories.make_project(world.acme, f"p{tag}{n}")


def _ssh_keys(world, count, tag, project=None):
    for n in range(count):
        services.create_ssh_key(
            acting_user=world.alice,
            project=project,
            label=f"k{tag}{n}",
            key=factories.new_ssh_public_key(),
        )


def _api_keys(world, count, tag, project=None):
    for _ in range(count):
        services.create_api_key(acting_user=world.alice, project=project)


# (url template, query string, grower)
LISTS = [
    ("/users", "", _members),
    ("/organizations", "", _organizations),
    ("/organizations/{acme}/projects", "include=organization", _projects),
    (
        "/organizations/{acme}/members",
        "include=user,projects.organization",
        lambda w, c, t: _members(w, c, t, [w.web, w.ops]),
    ),
    ("/organizations/{acme}/invitations", "include=projects,invited_by", _invitations),
    ("/organizations/{acme}/events", "", _projects),
    ("/projects", "include=organization", _projects),
    (
        "/projects/{web}/memberships",
        "include=user,project",
        lambda w, c, t: _members(w, c, t, [w.web]),
    ),
    ("/projects/{web}/invitations", "", lambda w, c, t: _invitations(w, c, t, [w.web])),
    (
        "/projects/{web}/api-keys",
        "include=project.organization,user",
        lambda w, c, t: _api_keys(w, c, t, w.web),
    ),
    ("/projects/{web}/ssh-keys", "", lambda w, c, t: _ssh_keys(w, c, t, w.web)),
    ("/projects/{web}/events", "", lambda w, c, t: _ssh_keys(w, c, t, w.web)),
    ("/invitations", "include=organization,projects", _invitations_to_alice),
    ("/user/api-keys", "include=user", _api_keys),
    ("/ssh-keys", "", _ssh_keys),
    ("/events", "", _ssh_keys),
]


@pytest.mark.parametrize(("template", "query", "grow"), LISTS, ids=[row[0] for row in LISTS])
def test_list_query_count_is_constant_in_rows(
    api, world, django_assert_max_num_queries, template, query, grow
):
    client = api(world.tokens["alice"])
    url = "/metal/v1" + template.format(acme=world.acme.uuid, web=world.web.uuid)
    url += f"?per_page=100&{query}"
    grow(world, 1, "a")  # at least one row, so every prefetch runs in the baseline too
    client.get(url)  # warm-up: the token's first use records last_used_at
    with CaptureQueriesContext(connection) as few:
        before = client.get(url)
    grow(world, ROWS, "b")
    with django_assert_max_num_queries(len(few.captured_queries)):
        after = client.get(url)
    assert before.status_code == after.status_code == 200
    key = next(k for k in after.json() if k != "meta")
    assert len(after.json()[key]) >= min(len(before.json()[key]) + ROWS, 100)
