"""The real equinix==0.19.0 Metal SDK against a live server: its pydantic models validate every
response strictly, so a wrong type, enum value or missing href fails here."""

import pytest
from equinix.services import metalv1
from equinix.services.metalv1.exceptions import ApiException

from tests import factories

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sdk(live_server):
    """sdk(token) → an ApiClient for the live server."""

    def client_for(token: str) -> metalv1.ApiClient:
        conf = metalv1.Configuration(host=live_server.url + "/metal/v1")
        conf.api_key["x_auth_token"] = token
        return metalv1.ApiClient(conf)

    return client_for


def test_projects_organizations_and_users(sdk, world):
    client = sdk(world.tokens["alice"])
    me = metalv1.UsersApi(client).find_current_user()
    assert me.email == "alice@example.com"
    assert me.short_id == world.alice.uuid.hex[:8]

    orgs = metalv1.OrganizationsApi(client)
    assert {o.name for o in orgs.find_organizations().organizations} >= {"Acme"}
    created = orgs.create_organization_project(
        str(world.acme.uuid), metalv1.ProjectCreateInput(name="sdk", customdata={"k": "v"})
    )
    assert created.organization.href == f"/metal/v1/organizations/{world.acme.uuid}"
    listed = orgs.find_organization_projects(str(world.acme.uuid), include=["organization"])
    assert {p.name for p in listed.projects} == {"web", "ops", "sdk"}
    assert listed.meta.total == 3

    projects = metalv1.ProjectsApi(client)
    for n in range(12):
        projects.create_project(
            metalv1.ProjectCreateFromRootInput(
                name=f"bulk-{n}", organization_id=str(world.acme.uuid)
            )
        )
    every = projects.find_projects_all_pages(per_page=5)
    assert len(every.projects) == 12 + 3 + 1  # plus alice's personal default project
    renamed = projects.update_project(str(created.id), metalv1.ProjectUpdateInput(name="sdk2"))
    assert renamed.name == "sdk2"
    assert projects.find_projects(name="sdk2").projects[0].type == "default"
    projects.delete_project(str(created.id))
    with pytest.raises(ApiException) as missing:
        projects.find_project_by_id(str(created.id))
    assert missing.value.status == 404

    users = metalv1.UsersApi(client).find_users()
    assert users.meta.total == 5


def test_ssh_keys_and_api_keys(sdk, world):
    client = sdk(world.tokens["carol"])
    keys = metalv1.SSHKeysApi(client)
    mine = keys.create_ssh_key(
        metalv1.SSHKeyCreateInput(label="laptop", key=factories.new_ssh_public_key())
    )
    assert mine.entity.href == f"/metal/v1/users/{world.carol.uuid}"
    project_key = keys.create_project_ssh_key(
        str(world.web.uuid),
        metalv1.SSHKeyCreateInput(label="ci", key=factories.new_ssh_public_key(), tags=["ci"]),
    )
    assert {k.label for k in keys.find_ssh_keys().ssh_keys} == {"laptop", "ci", "deploy"}
    assert {k.label for k in keys.find_project_ssh_keys(str(world.web.uuid)).ssh_keys} == {
        "ci",
        "deploy",
    }
    assert keys.update_ssh_key(str(mine.id), metalv1.SSHKeyInput(label="desk")).label == "desk"
    keys.delete_ssh_key(str(project_key.id))
    assert keys.find_ssh_key_by_id(str(mine.id)).fingerprint == mine.fingerprint

    auth = metalv1.AuthenticationApi(client)
    token = auth.create_api_key(metalv1.AuthTokenInput(description="sdk", read_only=True))
    assert len(token.token) == 42
    project_token = auth.create_project_api_key(
        str(world.web.uuid), metalv1.AuthTokenInput(description="proj"), include=["project"]
    )
    assert project_token.project.name == "web"
    assert [k.description for k in auth.find_api_keys(search="sdk").api_keys] == ["sdk"]
    assert "proj" in {
        k.description for k in auth.find_project_api_keys(str(world.web.uuid)).api_keys
    }

    read_only = metalv1.ProjectsApi(sdk(token.token))
    assert read_only.find_projects().meta.total == 2  # web and her personal default project
    with pytest.raises(ApiException) as refused:
        read_only.update_project(str(world.web.uuid), metalv1.ProjectUpdateInput(name="x"))
    assert refused.value.status == 403
    auth.delete_api_key(str(token.id))
    with pytest.raises(ApiException) as gone:
        read_only.find_projects()
    assert gone.value.status == 401

    scoped = sdk(project_token.token)
    with pytest.raises(ApiException) as user_level:
        metalv1.OrganizationsApi(scoped).find_organizations()
    assert user_level.value.status == 403


def test_team_invitations_and_memberships(sdk, world):
    alice = sdk(world.tokens["alice"])
    orgs = metalv1.OrganizationsApi(alice)
    members = orgs.get_organization_members(str(world.acme.uuid)).members
    assert sorted(m.roles[0] for m in members) == [
        "admin",
        "admin",
        "billing",
        "collaborator",
        "limited_collaborator",
    ]
    lena = next(m for m in members if m.roles == ["limited_collaborator"])
    updated = orgs.update_organization_member_roles(
        str(world.acme.uuid),
        str(lena.id),
        metalv1.MemberUpdateInput(role=["collaborator"], project_ids=[str(world.ops.uuid)]),
    )
    assert updated.roles == ["collaborator"]

    invitation = orgs.create_organization_invitation(
        str(world.acme.uuid), metalv1.InvitationInput(invitee="dora@example.com", roles=["billing"])
    )
    assert invitation.roles == ["billing"]
    assert len(orgs.find_organization_invitations(str(world.acme.uuid)).invitations) == 2
    project_invite = metalv1.ProjectsApi(alice).create_project_invitation(
        str(world.web.uuid), metalv1.InvitationInput(invitee="eve@example.com")
    )
    assert project_invite.projects[0].href == f"/metal/v1/projects/{world.web.uuid}"
    roles = metalv1.RolesApi(alice).list_organization_roles(str(world.acme.uuid)).roles
    assert "limited_collaborator" in {r.id for r in roles}

    charlie = sdk(world.tokens["charlie"])
    assert [i.id for i in metalv1.UsersApi(charlie).find_invitations().invitations] == [
        str(world.invitation.uuid)
    ]
    joined = metalv1.InvitationsApi(charlie).accept_invitation(str(world.invitation.uuid))
    assert joined.roles == ["collaborator"]

    memberships = (
        metalv1.ProjectsApi(alice)
        .find_project_memberships(str(world.web.uuid), search="charlie")
        .memberships
    )
    assert len(memberships) == 1
    api = metalv1.MembershipsApi(alice)
    changed = api.update_membership(
        str(memberships[0].id), metalv1.MembershipInput(role=["limited_collaborator"])
    )
    assert changed.roles == ["limited_collaborator"]
    api.delete_membership(str(memberships[0].id))
    with pytest.raises(ApiException) as gone:
        api.find_membership_by_id(str(memberships[0].id))
    assert gone.value.status == 404


def test_events_and_error_statuses(sdk, world, live_server):
    client = sdk(world.tokens["alice"])
    events = metalv1.EventsApi(client)
    page = events.find_events(per_page=3)
    assert page.meta.total > 3
    assert page.meta.next is not None
    assert len(events.find_events_all_pages(per_page=3).events) == page.meta.total
    web_events = events.find_project_events(str(world.web.uuid)).events
    assert {e.modified_by["email"] for e in web_events} == {
        "alice@example.com",
        "carol@example.com",
    }
    assert events.find_event_by_id(str(web_events[0].id)).type == web_events[0].type
    assert events.find_organization_events(str(world.acme.uuid)).meta.total > 0

    outsider = metalv1.ProjectsApi(sdk(world.tokens["charlie"]))
    with pytest.raises(ApiException) as hidden:
        outsider.find_project_by_id(str(world.web.uuid))
    assert hidden.value.status == 404
    with pytest.raises(ApiException) as forbidden:
        metalv1.ProjectsApi(sdk(world.tokens["lena"])).delete_project(str(world.web.uuid))
    assert forbidden.value.status == 403
    with pytest.raises(ApiException) as invalid:
        metalv1.SSHKeysApi(client).create_ssh_key(
            metalv1.SSHKeyCreateInput(label="x", key="not a key")
        )
    assert invalid.value.status == 422
    assert "errors" in invalid.value.body
    with pytest.raises(ApiException) as anonymous:
        metalv1.UsersApi(sdk("iy" + "x" * 40)).find_current_user()
    assert anonymous.value.status == 401
