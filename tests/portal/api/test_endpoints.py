"""Behaviour of the tenancy endpoints: shapes, include/exclude, paging, flows and errors."""

import pytest

from portal import services
from portal.models import Invitation, Member, Project, ProjectMembership
from tests import factories


@pytest.fixture
def as_alice(api, world):
    return api(world.tokens["alice"])


def test_current_user_carries_ids_defaults_and_an_object_customdata(as_alice, world):
    body = as_alice.get("/metal/v1/user").json()
    assert body["id"] == str(world.alice.uuid)
    assert body["short_id"] == world.alice.uuid.hex[:8]
    assert body["href"] == f"/metal/v1/users/{world.alice.uuid}"
    assert body["customdata"] == {}
    personal = world.alice.memberships.get(organization__personal=True).organization
    assert body["default_organization_id"] == str(personal.uuid)
    assert body["created_at"].endswith("Z")


def test_update_user_changes_name_and_refuses_a_password(as_alice, world):
    response = as_alice.patch("/metal/v1/user", {"last_name": "Liddell"}, format="json")
    assert response.status_code == 200
    assert response.json()["full_name"] == "Alice Liddell"
    response = as_alice.put("/metal/v1/user", {"password": "new one"}, format="json")
    assert response.status_code == 422
    assert response.json()["errors"] == ["password: Change your password in the portal."]
    response = as_alice.put("/metal/v1/user", {"timezone": "Mars/Olympus"}, format="json")
    assert response.status_code == 422


def test_users_lists_only_people_sharing_an_organization(as_alice, world):
    emails = {u["email"] for u in as_alice.get("/metal/v1/users").json()["users"]}
    assert emails == {
        "alice@example.com",
        "adam@example.com",
        "carol@example.com",
        "lena@example.com",
        "bill@example.com",
    }


def test_create_project_defaults_to_the_personal_organization(as_alice, world):
    response = as_alice.post(
        "/metal/v1/projects", {"name": "mine", "customdata": {"a": 1}}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    personal = world.alice.memberships.get(organization__personal=True).organization
    assert body["organization"] == {"href": f"/metal/v1/organizations/{personal.uuid}"}
    assert body["type"] == "default"
    assert body["customdata"] == {"a": 1}
    assert Project.objects.get(uuid=body["id"]).organization == personal


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "name: This field is required."),
        ({"name": "x", "customdata": "text"}, "customdata: Must be a JSON object."),
        ({"name": "x", "type": "vmce"}, 'type: "vmce" is not a valid choice.'),
        ({"name": "x", "organization_id": "not-a-uuid"}, "organization_id: Must be a valid UUID."),
    ],
)
def test_create_project_validation_is_422_with_errors(as_alice, body, error):
    response = as_alice.post("/metal/v1/projects", body, format="json")
    assert response.status_code == 422
    assert response.json() == {"errors": [error]}


def test_malformed_json_is_422(as_alice):
    response = as_alice.post("/metal/v1/projects", "{nope", content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"]


def test_include_expands_and_exclude_collapses_references(as_alice, world):
    url = f"/metal/v1/projects/{world.web.uuid}"
    assert as_alice.get(url).json()["organization"] == {
        "href": f"/metal/v1/organizations/{world.acme.uuid}"
    }
    included = as_alice.get(url, {"include": "organization"}).json()["organization"]
    assert included["name"] == "Acme"
    assert included["href"] == f"/metal/v1/organizations/{world.acme.uuid}"
    collapsed = as_alice.get(url, {"include": "organization", "exclude": "organization"}).json()
    assert collapsed["organization"] == {"href": f"/metal/v1/organizations/{world.acme.uuid}"}


def test_include_follows_dotted_paths(as_alice, world):
    url = f"/metal/v1/projects/{world.web.uuid}/api-keys"
    key = as_alice.get(url, {"include": "project.organization,user"}).json()["api_keys"][0]
    assert key["project"]["name"] == "web"
    assert key["project"]["organization"]["name"] == "Acme"
    assert key["user"]["email"] == "carol@example.com"
    key = as_alice.get(url, {"include": "project"}).json()["api_keys"][0]
    assert key["project"]["organization"] == {"href": f"/metal/v1/organizations/{world.acme.uuid}"}


def test_user_api_keys_leave_out_the_project_reference(as_alice):
    key = as_alice.get("/metal/v1/user/api-keys").json()["api_keys"][0]
    assert "project" not in key
    assert key["user"]["href"].startswith("/metal/v1/users/")


def test_projects_are_paged_with_meta_links(as_alice, world):
    for n in range(23):
        factories.make_project(world.acme, f"pg-{n:02}")
    first = as_alice.get("/metal/v1/projects", {"name": "pg-"}).json()
    assert len(first["projects"]) == 10
    meta = first["meta"]
    assert (meta["total"], meta["current_page"], meta["last_page"]) == (23, 1, 3)
    assert "previous" not in meta  # an Href or nothing, never null
    assert meta["next"] == {"href": "/metal/v1/projects?name=pg-&page=2&per_page=10"}
    last = as_alice.get(meta["last"]["href"]).json()
    assert [p["name"] for p in last["projects"]] == ["pg-20", "pg-21", "pg-22"]
    assert last["meta"]["next"] is None
    assert last["meta"]["previous"]["href"].endswith("page=2&per_page=10")


@pytest.mark.parametrize(
    ("params", "status", "count"),
    [
        ({"per_page": 5000}, 200, 3),  # clamped to 1000, all of alice's projects
        ({"page": 9}, 200, 0),  # past the end: empty page, no next
        ({"page": 0}, 422, None),
        ({"per_page": "ten"}, 422, None),
    ],
)
def test_paging_parameters(as_alice, world, params, status, count):
    response = as_alice.get("/metal/v1/projects", params)
    assert response.status_code == status
    if count is not None:
        assert len(response.json()["projects"]) == count
        assert response.json()["meta"]["next"] is None


def test_owner_is_shown_as_admin_with_bound_owner_and_keeps_the_role(as_alice, world):
    url = f"/metal/v1/organizations/{world.acme.uuid}/members"
    members = as_alice.get(url).json()["members"]
    owner = next(m for m in members if m["bound_roles"] == ["owner"])
    assert owner["roles"] == ["admin"]
    assert owner["user"]["href"] == f"/metal/v1/users/{world.alice.uuid}"
    response = as_alice.put(f"{url}/{owner['id']}", {"role": ["admin"]}, format="json")
    assert response.status_code == 200
    assert Member.objects.get(uuid=owner["id"]).role == "owner"


def test_member_update_assigns_projects(as_alice, world):
    url = f"/metal/v1/organizations/{world.acme.uuid}/members/{world.lena_member.uuid}"
    body = as_alice.put(
        url, {"role": ["collaborator"], "project_ids": [str(world.ops.uuid)]}, format="json"
    ).json()
    assert body["roles"] == ["collaborator"]
    assert body["projects"] == [{"href": f"/metal/v1/projects/{world.ops.uuid}"}]
    other_org_project = factories.make_project(factories.make_org(world.charlie, "C"), "x")
    response = as_alice.put(url, {"project_ids": [str(other_org_project.uuid)]}, format="json")
    assert response.status_code == 422


def test_invitation_accept_makes_the_invitee_a_member(api, world):
    charlie = api(world.tokens["charlie"])
    listed = charlie.get("/metal/v1/invitations").json()["invitations"]
    assert [i["id"] for i in listed] == [str(world.invitation.uuid)]
    response = charlie.put(f"/metal/v1/invitations/{world.invitation.uuid}")
    assert response.status_code == 200
    assert response.json()["roles"] == ["collaborator"]
    names = {p["name"] for p in charlie.get("/metal/v1/projects").json()["projects"]}
    assert "web" in names
    again = charlie.put(f"/metal/v1/invitations/{world.invitation.uuid}")
    assert again.status_code == 422  # no longer open


@pytest.mark.parametrize(("persona", "status"), [("charlie", "declined"), ("adam", "revoked")])
def test_invitation_delete_declines_or_revokes(api, world, persona, status):
    response = api(world.tokens[persona]).delete(f"/metal/v1/invitations/{world.invitation.uuid}")
    assert response.status_code == 204
    assert Invitation.objects.get(pk=world.invitation.pk).status == status


def test_project_invitation_includes_the_project(as_alice, world):
    response = as_alice.post(
        f"/metal/v1/projects/{world.ops.uuid}/invitations",
        {"invitee": "Dora@Example.com", "roles": ["limited_collaborator"]},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["invitee"] == "dora@example.com"
    assert body["projects"] == [{"href": f"/metal/v1/projects/{world.ops.uuid}"}]
    listed = as_alice.get(f"/metal/v1/projects/{world.ops.uuid}/invitations").json()
    assert [i["id"] for i in listed["invitations"]] == [body["id"]]
    assert listed["meta"]["total"] == 1


def test_invitation_refuses_owner_role_and_two_roles(as_alice, world):
    url = f"/metal/v1/organizations/{world.acme.uuid}/invitations"
    for roles in (["owner"], ["admin", "billing"]):
        response = as_alice.post(url, {"invitee": "x@example.com", "roles": roles}, format="json")
        assert response.status_code == 422


def test_roles_come_from_role_actions(as_alice, world):
    url = f"/metal/v1/organizations/{world.acme.uuid}/roles"
    roles = {r["id"]: r for r in as_alice.get(url).json()["roles"]}
    assert set(roles) == {"owner", "admin", "billing", "collaborator", "limited_collaborator"}
    role = as_alice.get(f"{url}/limited_collaborator").json()
    assert role["actions"] == ["project.operate", "project.view"]
    assert as_alice.get(f"{url}/emperor").status_code == 404


def test_api_key_secret_is_shown_once_and_works(api, as_alice, world):
    response = as_alice.post(
        "/metal/v1/user/api-keys", {"description": "ci", "read_only": True}, format="json"
    )
    assert response.status_code == 201
    created = response.json()
    assert created["read_only"] is True
    listed = as_alice.get("/metal/v1/user/api-keys", {"search": "ci"}).json()["api_keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert listed[0]["token"] != created["token"]
    assert api(created["token"]).get("/metal/v1/user").status_code == 200
    assert as_alice.delete(f"/metal/v1/user/api-keys/{created['id']}").status_code == 204
    assert api(created["token"]).get("/metal/v1/user").status_code == 401


def test_project_api_key_reaches_only_its_project(api, as_alice, world):
    created = as_alice.post(
        f"/metal/v1/projects/{world.web.uuid}/api-keys", {}, format="json"
    ).json()
    assert created["project"] == {"href": f"/metal/v1/projects/{world.web.uuid}"}
    scoped = api(created["token"])
    assert [p["name"] for p in scoped.get("/metal/v1/projects").json()["projects"]] == ["web"]
    assert scoped.get("/metal/v1/user").status_code == 200
    keys = scoped.get("/metal/v1/ssh-keys").json()["ssh_keys"]
    assert [k["label"] for k in keys] == ["deploy"]  # not alice's personal key
    events = scoped.get("/metal/v1/events").json()["events"]
    assert events
    assert all(str(world.web.uuid) in str(e["relationships"]) for e in events)


def test_ssh_key_fingerprint_is_computed_and_bad_keys_are_422(as_alice, world):
    key = factories.new_ssh_public_key("me@host")
    response = as_alice.post("/metal/v1/ssh-keys", {"label": "", "key": key}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["label"] == "me@host"
    assert body["fingerprint"].count(":") == 15
    assert body["entity"] == {"href": f"/metal/v1/users/{world.alice.uuid}"}
    duplicate = as_alice.post("/metal/v1/ssh-keys", {"key": key}, format="json")
    assert duplicate.status_code == 422
    bad = as_alice.post("/metal/v1/ssh-keys", {"label": "x", "key": "ssh-rsa nope"}, format="json")
    assert bad.status_code == 422
    assert bad.json()["errors"][0].startswith("key: ")


def test_ssh_key_search_and_update(as_alice, world):
    found = as_alice.get("/metal/v1/ssh-keys", {"search": "lapt"}).json()["ssh_keys"]
    assert [k["id"] for k in found] == [str(world.alice_ssh_key.uuid)]
    url = f"/metal/v1/ssh-keys/{world.web_ssh_key.uuid}"
    body = as_alice.patch(url, {"label": "ci", "tags": ["prod"]}, format="json").json()
    assert (body["label"], body["tags"]) == ("ci", ["prod"])
    query = as_alice.get(f"/metal/v1/projects/{world.web.uuid}/ssh-keys", {"query": "zzz"})
    assert query.json()["ssh_keys"] == []


def test_membership_update_and_search(as_alice, world):
    url = f"/metal/v1/projects/{world.web.uuid}/memberships"
    found = as_alice.get(url, {"search": "carol"}).json()["memberships"]
    assert [m["id"] for m in found] == [str(world.carol_on_web.uuid)]
    body = as_alice.put(
        f"/metal/v1/memberships/{world.carol_on_web.uuid}",
        {"role": ["limited_collaborator"]},
        format="json",
    ).json()
    assert body["roles"] == ["limited_collaborator"]
    bad = as_alice.put(
        f"/metal/v1/memberships/{world.carol_on_web.uuid}", {"role": ["admin"]}, format="json"
    )
    assert bad.status_code == 422


def test_delete_project_and_organization(as_alice, world):
    org = factories.make_org(world.alice, "Spare")
    project = factories.make_project(org, "only")
    org_url = f"/metal/v1/organizations/{org.uuid}"
    assert as_alice.delete(org_url).status_code == 422  # still has a project
    assert as_alice.delete(f"/metal/v1/projects/{project.uuid}").status_code == 204
    assert as_alice.delete(org_url).status_code == 204
    assert as_alice.get(org_url).status_code == 404


def test_organization_filters(as_alice, world):
    factories.make_org(world.alice, "Empty")

    def names(**q):
        return {
            o["name"] for o in as_alice.get("/metal/v1/organizations", q).json()["organizations"]
        }

    assert names() == {"Acme", "Empty", "Alice's organization"}
    assert names(personal="only") == {"Alice's organization"}
    assert names(personal="exclude", without_projects="exclude") == {"Acme"}
    assert names(without_projects="only") == {"Empty"}


def test_organization_events_show_only_what_the_caller_may_see(api, world):
    services.create_ssh_key(
        acting_user=world.alice, project=world.ops, label="ops", key=factories.new_ssh_public_key()
    )
    url = f"/metal/v1/organizations/{world.acme.uuid}/events"
    carol_types = {
        e["interpolated"]
        for e in api(world.tokens["carol"]).get(url, {"per_page": 100}).json()["events"]
    }
    alice_types = {
        e["interpolated"]
        for e in api(world.tokens["alice"]).get(url, {"per_page": 100}).json()["events"]
    }
    assert "Alice added SSH key ops" in alice_types
    assert "Alice added SSH key ops" not in carol_types
    assert "Alice added SSH key deploy" in carol_types


def test_event_detail(as_alice, world):
    body = as_alice.get(f"/metal/v1/events/{world.web_event.uuid}").json()
    assert body["type"] == "project.created"
    assert {"href": f"/metal/v1/projects/{world.web.uuid}"} in body["relationships"]
    assert body["modified_by"]["email"] == "alice@example.com"


def test_client_paths_with_doubled_slashes_and_prefix_work(as_alice):
    # (A leading "//" cannot be sent through Django's test client: it reads it as a host.)
    for path in ("/metal/v1//projects", "/metal/v1/metal/v1//projects"):
        assert as_alice.get(path).status_code == 200


def test_removing_a_member_drops_their_project_assignments(as_alice, world):
    url = f"/metal/v1/organizations/{world.acme.uuid}/members/{world.lena_member.uuid}"
    assert as_alice.delete(url).status_code == 204
    assert not ProjectMembership.objects.filter(member__user=world.lena).exists()
