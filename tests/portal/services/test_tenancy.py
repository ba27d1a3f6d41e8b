"""Service-level rules for the tenancy core (both doors rely on these)."""

import pytest
from django.core import mail

from portal import services
from portal.errors import Conflict, Forbidden, ServiceError
from portal.models import ApiKey, Event, Invitation, Member, Project
from portal.roles import Role
from tests import factories


def test_sign_up_creates_personal_org_owned_by_the_user_and_a_default_project(db):
    user = services.create_user(email="New@Example.com", password="x" * 12, first_name="Nia")
    assert user.email == "new@example.com"
    member = Member.objects.get(user=user)
    assert member.role == Role.OWNER
    assert member.organization.personal
    assert list(Project.objects.for_user(user).values_list("name", flat=True)) == [
        "Default project"
    ]
    assert Event.objects.filter(type="user.created", modified_by=user).exists()


def test_sign_up_refuses_a_taken_address_whatever_its_case(alice):
    with pytest.raises(Conflict):
        services.create_user(email="ALICE@example.com", password="x" * 12)


def test_collaborator_sees_only_assigned_projects(acme, carol, web, ops):
    assert list(Project.objects.for_user(carol).filter(organization=acme)) == [web]


def test_billing_member_sees_no_projects(acme, bill, web, ops):
    assert not Project.objects.for_user(bill).filter(organization=acme).exists()


def test_owner_and_admin_see_every_project_of_the_org(alice, adam, web, ops):
    for user in (alice, adam):
        names = set(
            Project.objects.for_user(user)
            .filter(organization__name="Acme")
            .values_list("name", flat=True)
        )
        assert names == {"web", "ops"}


def test_collaborator_cannot_create_projects(acme, carol):
    with pytest.raises(Forbidden):
        services.create_project(organization=acme, name="x", acting_user=carol)


def test_limited_collaborator_cannot_add_project_ssh_keys(web, lena):
    with pytest.raises(Forbidden):
        services.create_ssh_key(
            acting_user=lena, label="k", key=factories.new_ssh_public_key(), project=web
        )


def test_ssh_key_garbage_is_rejected_with_a_clear_message(alice):
    with pytest.raises(ServiceError, match=r"base64|SSH public key"):
        services.create_ssh_key(acting_user=alice, label="bad", key="ssh-rsa not-a-key")


def test_ssh_key_fingerprint_is_computed_and_duplicates_refused(alice):
    text = factories.new_ssh_public_key("alice@laptop")
    key = services.create_ssh_key(acting_user=alice, label="", key=text)
    assert key.label == "alice@laptop"
    assert len(key.fingerprint.split(":")) == 16
    assert key.fingerprint_sha256.startswith("SHA256:")
    with pytest.raises(Conflict):
        services.create_ssh_key(acting_user=alice, label="again", key=text)


def test_api_key_is_stored_hashed_and_shown_once(alice):
    key, token = services.create_api_key(acting_user=alice, description="ci")
    stored = ApiKey.objects.get(pk=key.pk)
    assert token not in (stored.digest, stored.lookup)
    assert token[2:10] == stored.lookup


def test_invitation_flow_creates_membership_with_projects(acme, web, alice):
    invitation, token = services.invite_member(
        organization=acme,
        invitee="dora@example.com",
        role="collaborator",
        projects=[web],
        acting_user=alice,
    )
    assert len(mail.outbox) == 0  # sent only when the transaction commits
    dora = factories.make_user("dora@example.com")
    member = services.accept_invitation(invitation=invitation, user=dora, token=token)
    assert member.role == "collaborator"
    assert list(Project.objects.for_user(dora).filter(organization=acme)) == [web]
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    with pytest.raises(Conflict):
        services.accept_invitation(invitation=invitation, user=dora, token=token)


def test_invitation_email_is_sent_on_commit(acme, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_member(
            organization=acme, invitee="eve@example.com", role="admin", acting_user=alice
        )
    assert mail.outbox[0].to == ["eve@example.com"]
    assert "/invitations/" in mail.outbox[0].body


def test_invitation_link_with_a_wrong_token_is_refused(acme, alice, charlie):
    invitation, _ = services.invite_member(
        organization=acme, invitee="x@example.com", role="admin", acting_user=alice
    )
    with pytest.raises(Forbidden):
        services.accept_invitation(invitation=invitation, user=charlie, token="nope")


def test_owner_cannot_be_removed(acme, alice, adam):
    with pytest.raises(Conflict):
        services.remove_member(member=acme.members.get(user=alice), acting_user=adam)


def test_events_record_actor_ip_and_objects(acme, alice):
    from portal import audit

    token = audit.set_context(audit.AuditContext(ip="203.0.113.7", via="web"))
    try:
        project = services.create_project(organization=acme, name="db", acting_user=alice)
    finally:
        audit.reset_context(token)
    event = Event.objects.get(type="project.created", project=project)
    assert event.ip == "203.0.113.7"
    assert event.interpolated == "Alice created project db"
    assert {r.href for r in event.relations.all()} == {
        f"/metal/v1/projects/{project.uuid}",
        f"/metal/v1/organizations/{acme.uuid}",
    }


def test_a_batch_of_events_is_written_together_in_order_or_not_at_all(
    web, alice, django_assert_num_queries
):
    from portal import audit

    with django_assert_num_queries(2), audit.batch():
        for n in range(3):
            audit.record(f"test.step{n}", actor=alice, text=f"{{actor}} did {n}", project=web)
    written = list(Event.objects.filter(type__startswith="test.step").order_by("pk"))
    assert [e.interpolated for e in written] == [f"Alice did {n}" for n in range(3)]
    assert all(e.relations.count() == 2 for e in written)  # the project and its organization

    def failing_request():
        with audit.batch():
            audit.record("test.lost", actor=alice, text="never written", project=web)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    assert not Event.objects.filter(type="test.lost").exists()
