"""List pages cost a constant number of queries, however many rows they show."""

import pytest
from django.urls import reverse

from portal import audit, services
from portal.models import ProjectMembership
from tests import factories

ROWS = 30


def _count_queries(client, url, django_assert_max_num_queries, limit):
    with django_assert_max_num_queries(limit) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.fixture
def measure(client, django_assert_max_num_queries):
    """Query count of a page with one row and with ROWS more: they must be equal.

    `add_rows(batch, count)` adds rows; `batch` keeps names unique between the two calls. One
    row first, because prefetches skip their query when there is nothing to prefetch for.
    """

    def run(url, add_rows, limit=25):
        add_rows("a", 1)
        few = _count_queries(client, url, django_assert_max_num_queries, limit)
        add_rows("b", ROWS)
        many = _count_queries(client, url, django_assert_max_num_queries, limit)
        assert many == few
        return many

    return run


def test_projects_list(client, alice, acme, web, measure):
    client.force_login(alice)

    def add(batch, count):
        for n in range(count):
            i = f"{batch}{n}"
            project = factories.make_project(acme, f"p{i}")
            ProjectMembership.objects.create(project=project, member=acme.members.get(user=alice))

    measure(reverse("portal:org-projects", args=[acme.uuid]), add)


def test_team_page_with_members_projects_and_invitations(client, alice, acme, web, ops, measure):
    client.force_login(alice)

    def add(batch, count):
        for n in range(count):
            i = f"{batch}{n}"
            user = factories.make_user(f"m{i}@example.com")
            factories.add_member(acme, user, "collaborator", projects=[web, ops])
            services.invite_member(
                organization=acme,
                invitee=f"i{i}@example.com",
                role="collaborator",
                projects=[web],
                acting_user=alice,
            )

    measure(reverse("portal:org-team", args=[acme.uuid]), add)


def test_project_members(client, alice, acme, web, measure):
    client.force_login(alice)

    def add(batch, count):
        for n in range(count):
            i = f"{batch}{n}"
            factories.add_member(
                acme, factories.make_user(f"m{i}@example.com"), "collaborator", projects=[web]
            )

    measure(reverse("portal:project-members", args=[web.uuid]), add)


def test_project_api_keys(client, alice, web, measure):
    client.force_login(alice)

    def add(batch, count):
        for n in range(count):
            i = f"{batch}{n}"
            services.create_api_key(acting_user=alice, project=web, description=f"k{i}")

    measure(reverse("portal:project-api-keys", args=[web.uuid]), add)


def test_personal_api_keys(client, alice, measure):
    client.force_login(alice)

    def add(batch, count):
        for n in range(count):
            i = f"{batch}{n}"
            services.create_api_key(acting_user=alice, description=f"k{i}")

    measure(reverse("portal:api-keys"), add)


def test_ssh_keys(client, alice, web, measure):
    client.force_login(alice)

    def add(batch, count):
        for n in range(count):
            i = f"{batch}{n}"
            services.create_ssh_key(
                acting_user=alice, label=f"k{i}", key=factories.new_ssh_public_key()
            )
            services.create_ssh_key(
                acting_user=alice, label=f"k{i}", project=web, key=factories.new_ssh_public_key()
            )

    measure(reverse("portal:ssh-keys"), add)
    measure(reverse("portal:project-ssh-keys", args=[web.uuid]), lambda batch, count: None)


def test_timelines(client, alice, acme, web, measure):
    client.force_login(alice)

    def add(batch, count):
        for n in range(count):
            i = f"{batch}{n}"
            audit.record("t", actor=alice, text=f"{{actor}} did {i}", project=web)

    measure(reverse("portal:project-timeline", args=[web.uuid]), add)
    measure(reverse("portal:org-timeline", args=[acme.uuid]), lambda batch, count: None)
    measure(reverse("portal:project", args=[web.uuid]), lambda batch, count: None)


def test_my_invitations(client, alice, measure):
    dora = factories.make_user("dora@example.com")
    client.force_login(dora)

    def add(batch, count):
        for n in range(count):
            i = f"{batch}{n}"
            org = factories.make_org(alice, f"Org {i}")
            project = factories.make_project(org, "p")
            services.invite_member(
                organization=org,
                invitee=dora.email,
                role="collaborator",
                projects=[project],
                acting_user=alice,
            )

    measure(reverse("portal:my-invitations"), add)
