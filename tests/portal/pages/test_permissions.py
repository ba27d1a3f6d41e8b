"""Who gets what, on every page and every POST action.

Not signed in → log in; not visible (not a member, not assigned) → 404; visible but the role
does not allow it → 403. 302 is a successful POST (redirect after the service ran); 200 is a
page, or a POST whose answer is rendered in place (the API key secret).
"""

from types import SimpleNamespace

import pytest
from django.urls import reverse

from portal.models import ApiKey, Member, Project, ProjectMembership
from tests import factories

PERSONAS = ["alice", "adam", "carol", "lena", "bill", "charlie"]


def expect(default, **overrides):
    """Expected status per persona: `default` for everyone, with per-persona exceptions."""
    return {persona: overrides.get(persona, default) for persona in PERSONAS}


# Shorthands for the common shapes.
ACME_MEMBERS = expect(200, charlie=404)
ORG_ADMINS_ONLY = expect(403, alice=200, adam=200, charlie=404)
WEB_VIEWERS = expect(200, bill=404, charlie=404)
OPS_VIEWERS = expect(200, carol=404, lena=404, bill=404, charlie=404)
WEB_MANAGERS = expect(200, lena=403, bill=404, charlie=404)
EVERYONE = expect(200)


def _post_ok(shape, ok=302):
    """The same shape with 200 (a page) turned into `ok` (what a successful POST answers)."""
    return {persona: ok if status == 200 else status for persona, status in shape.items()}


@pytest.fixture
def world(
    alice, adam, carol, lena, bill, charlie, acme, web, ops, web_ssh_key, web_api_key, invitation
):
    return SimpleNamespace(
        acme=acme,
        web=web,
        ops=ops,
        web_ssh_key=web_ssh_key,
        web_api_key=web_api_key,
        invitation=invitation,
        carol_member=Member.objects.get(organization=acme, user=carol),
        lena_member=Member.objects.get(organization=acme, user=lena),
        carol_on_web=ProjectMembership.objects.get(project=web, member__user=carol),
    )


PAGES = [
    ("profile", lambda w: reverse("portal:profile"), EVERYONE),
    ("password-change", lambda w: reverse("portal:password-change"), EVERYONE),
    ("api-keys", lambda w: reverse("portal:api-keys"), EVERYONE),
    ("ssh-keys", lambda w: reverse("portal:ssh-keys"), EVERYONE),
    ("my-invitations", lambda w: reverse("portal:my-invitations"), EVERYONE),
    ("org-create", lambda w: reverse("portal:org-create"), EVERYONE),
    ("org-projects", lambda w: reverse("portal:org-projects", args=[w.acme.uuid]), ACME_MEMBERS),
    ("org-team", lambda w: reverse("portal:org-team", args=[w.acme.uuid]), ACME_MEMBERS),
    ("org-settings", lambda w: reverse("portal:org-settings", args=[w.acme.uuid]), ORG_ADMINS_ONLY),
    ("org-timeline", lambda w: reverse("portal:org-timeline", args=[w.acme.uuid]), ORG_ADMINS_ONLY),
    ("project web", lambda w: reverse("portal:project", args=[w.web.uuid]), WEB_VIEWERS),
    ("project ops", lambda w: reverse("portal:project", args=[w.ops.uuid]), OPS_VIEWERS),
    (
        "project-settings",
        lambda w: reverse("portal:project-settings", args=[w.web.uuid]),
        WEB_VIEWERS,
    ),
    (
        "project-members",
        lambda w: reverse("portal:project-members", args=[w.web.uuid]),
        WEB_VIEWERS,
    ),
    (
        "project-ssh-keys",
        lambda w: reverse("portal:project-ssh-keys", args=[w.web.uuid]),
        WEB_VIEWERS,
    ),
    (
        "project-ssh-keys ops",
        lambda w: reverse("portal:project-ssh-keys", args=[w.ops.uuid]),
        OPS_VIEWERS,
    ),
    (
        "project-timeline",
        lambda w: reverse("portal:project-timeline", args=[w.web.uuid]),
        WEB_VIEWERS,
    ),
    (
        "project-api-keys",
        lambda w: reverse("portal:project-api-keys", args=[w.web.uuid]),
        WEB_MANAGERS,
    ),
    (
        "ssh-key-edit project key",
        lambda w: reverse("portal:ssh-key-edit", args=[w.web_ssh_key.uuid]),
        WEB_MANAGERS,
    ),
]

ACTIONS = [
    (
        "org-settings",
        lambda w: reverse("portal:org-settings", args=[w.acme.uuid]),
        lambda w: {"name": "Acme 2"},
        _post_ok(ORG_ADMINS_ONLY),
    ),
    # Acme still has projects, so even its owner is sent back with an error (nothing deleted).
    (
        "org-delete",
        lambda w: reverse("portal:org-delete", args=[w.acme.uuid]),
        lambda w: {},
        expect(403, alice=302, charlie=404),
    ),
    (
        "project-create",
        lambda w: reverse("portal:org-projects", args=[w.acme.uuid]),
        lambda w: {"name": "new"},
        _post_ok(ORG_ADMINS_ONLY),
    ),
    (
        "org-invite",
        lambda w: reverse("portal:org-invite", args=[w.acme.uuid]),
        lambda w: {"invitee": "eve@example.com", "role": "admin"},
        _post_ok(ORG_ADMINS_ONLY),
    ),
    (
        "member-update",
        lambda w: reverse("portal:member-update", args=[w.acme.uuid, w.carol_member.uuid]),
        lambda w: {"role": "collaborator", "projects": [str(w.ops.uuid)]},
        _post_ok(ORG_ADMINS_ONLY),
    ),
    (
        "member-remove (lena leaves herself)",
        lambda w: reverse("portal:member-remove", args=[w.acme.uuid, w.lena_member.uuid]),
        lambda w: {},
        expect(403, alice=302, adam=302, lena=302, charlie=404),
    ),
    (
        "invitation-resend",
        lambda w: reverse("portal:invitation-resend", args=[w.acme.uuid, w.invitation.uuid]),
        lambda w: {},
        _post_ok(ORG_ADMINS_ONLY),
    ),
    (
        "invitation-revoke",
        lambda w: reverse("portal:invitation-revoke", args=[w.acme.uuid, w.invitation.uuid]),
        lambda w: {},
        _post_ok(ORG_ADMINS_ONLY),
    ),
    (
        "project-rename",
        lambda w: reverse("portal:project-settings", args=[w.web.uuid]),
        lambda w: {"name": "www"},
        expect(403, alice=302, adam=302, bill=404, charlie=404),
    ),
    (
        "project-rename ops",
        lambda w: reverse("portal:project-settings", args=[w.ops.uuid]),
        lambda w: {"name": "x"},
        _post_ok(OPS_VIEWERS),
    ),
    (
        "project-delete",
        lambda w: reverse("portal:project-delete", args=[w.web.uuid]),
        lambda w: {},
        expect(403, alice=302, adam=302, bill=404, charlie=404),
    ),
    (
        "project-membership-remove (carol leaves herself)",
        lambda w: reverse(
            "portal:project-membership-remove", args=[w.web.uuid, w.carol_on_web.uuid]
        ),
        lambda w: {},
        expect(403, alice=302, adam=302, carol=302, bill=404, charlie=404),
    ),
    # The secret is rendered in the response of the create POST itself, hence 200.
    (
        "project-api-key-create",
        lambda w: reverse("portal:project-api-keys", args=[w.web.uuid]),
        lambda w: {"description": "x"},
        WEB_MANAGERS,
    ),
    (
        "project-api-key-delete",
        lambda w: reverse("portal:project-api-key-delete", args=[w.web.uuid, w.web_api_key.uuid]),
        lambda w: {},
        _post_ok(WEB_MANAGERS),
    ),
    (
        "project-ssh-key-add",
        lambda w: reverse("portal:project-ssh-keys", args=[w.web.uuid]),
        lambda w: {"label": "k", "key": factories.new_ssh_public_key()},
        _post_ok(WEB_MANAGERS),
    ),
    (
        "project-ssh-key-edit",
        lambda w: reverse("portal:ssh-key-edit", args=[w.web_ssh_key.uuid]),
        lambda w: {"label": "renamed"},
        _post_ok(WEB_MANAGERS),
    ),
    (
        "project-ssh-key-delete",
        lambda w: reverse("portal:ssh-key-delete", args=[w.web_ssh_key.uuid]),
        lambda w: {},
        _post_ok(WEB_MANAGERS),
    ),
    (
        "personal api-key-create",
        lambda w: reverse("portal:api-keys"),
        lambda w: {"description": "mine"},
        EVERYONE,
    ),
    (
        "personal ssh-key-add",
        lambda w: reverse("portal:ssh-keys"),
        lambda w: {"key": factories.new_ssh_public_key()},
        _post_ok(EVERYONE),
    ),
    (
        "profile",
        lambda w: reverse("portal:profile"),
        lambda w: {"first_name": "X", "timezone_name": "UTC"},
        _post_ok(EVERYONE),
    ),
]


def _cases(rows, with_data: bool):
    for row in rows:
        name, url, *rest = row
        data, expected = (rest[0], rest[1]) if with_data else (None, rest[0])
        for persona, status in expected.items():
            yield pytest.param(url, data, persona, status, id=f"{name}-{persona}")
        yield pytest.param(url, data, None, "login", id=f"{name}-anonymous")


def _check(response, status):
    if status == "login":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:login"))
    else:
        assert response.status_code == status


@pytest.mark.parametrize(("url", "data", "persona", "status"), list(_cases(PAGES, with_data=False)))
def test_page_access(client, world, request, url, data, persona, status):
    if persona:
        client.force_login(request.getfixturevalue(persona))
    _check(client.get(url(world)), status)


@pytest.mark.parametrize(
    ("url", "data", "persona", "status"), list(_cases(ACTIONS, with_data=True))
)
def test_post_access(client, world, request, url, data, persona, status):
    if persona:
        client.force_login(request.getfixturevalue(persona))
    _check(client.post(url(world), data(world)), status)


def test_someone_elses_personal_keys_are_not_found(
    client, world, alice, carol, alice_ssh_key, alice_api_key
):
    client.force_login(carol)
    assert client.get(reverse("portal:ssh-key-edit", args=[alice_ssh_key.uuid])).status_code == 404
    assert (
        client.post(reverse("portal:ssh-key-delete", args=[alice_ssh_key.uuid])).status_code == 404
    )
    assert (
        client.post(reverse("portal:api-key-delete", args=[alice_api_key.uuid])).status_code == 404
    )


def test_forbidden_posts_change_nothing(client, world, lena):
    client.force_login(lena)
    key = world.web_api_key
    client.post(reverse("portal:project-api-key-delete", args=[world.web.uuid, key.uuid]))
    client.post(reverse("portal:project-delete", args=[world.web.uuid]))
    assert ApiKey.objects.filter(pk=key.pk).exists()
    assert Project.objects.filter(pk=world.web.pk).exists()
