"""Team page: invitations (send, accept by link, sign up from link, decline, resend, revoke),
roles and removal."""

import re

from django.core import mail
from django.urls import reverse

from portal.models import Invitation, Member, User
from portal.roles import Role
from tests import factories


def _link_from(message) -> str:
    return re.search(r"http://127\.0\.0\.1:8000(/invitations/\S+/)", message.body).group(1)


def _invite(client, acme, web, email="dora@example.com", role="collaborator", **extra):
    data = {"invitee": email, "role": role, "projects": [str(web.uuid)], **extra}
    return client.post(reverse("portal:org-invite", args=[acme.uuid]), data)


def test_owner_invites_by_email_and_the_mail_carries_the_link(
    client, alice, acme, web, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(client, acme, web)
    assert response["Location"] == reverse("portal:org-team", args=[acme.uuid])
    invitation = Invitation.objects.get(invitee="dora@example.com")
    assert list(invitation.projects.all()) == [web]
    assert mail.outbox[0].to == ["dora@example.com"]
    assert f"/invitations/{invitation.uuid}/" in mail.outbox[0].body
    page = client.get(reverse("portal:org-team", args=[acme.uuid]))
    assert b"dora@example.com" in page.content


def test_collaborator_invitation_without_projects_is_refused_on_the_form(client, alice, acme, web):
    client.force_login(alice)
    response = _invite(client, acme, web, projects=[])
    assert response.status_code == 200
    assert response.context["invite_form"].errors["projects"]
    assert not Invitation.objects.exists()


def test_invalid_invite_over_htmx_returns_only_the_form_fragment(client, alice, acme, web):
    client.force_login(alice)
    response = client.post(
        reverse("portal:org-invite", args=[acme.uuid]),
        {"invitee": "not-an-address", "role": "admin"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="invite-form"' in response.content
    assert b"not-an-address" in response.content


def test_existing_user_accepts_by_link(
    client, alice, acme, web, django_capture_on_commit_callbacks
):
    dora = factories.make_user("dora@example.com", first_name="Dora")
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, acme, web)
    link = _link_from(mail.outbox[0])
    client.force_login(dora)
    page = client.get(link)
    assert b"Acme" in page.content
    assert b"Collaborator" in page.content
    response = client.post(link, {"answer": "accept"})
    assert response["Location"] == reverse("portal:org-projects", args=[acme.uuid])
    member = Member.objects.get(organization=acme, user=dora)
    assert member.role == Role.COLLABORATOR
    assert client.get(reverse("portal:project", args=[web.uuid])).status_code == 200


def test_link_page_offers_log_in_and_sign_up_when_logged_out(client, invitation):
    page = client.get(
        reverse("portal:invitation-respond", args=[invitation.uuid, invitation.token])
    )
    assert page.status_code == 200
    assert b"Log in" in page.content
    assert f"invitation={invitation.uuid}".encode() in page.content


def test_link_with_a_wrong_secret_is_not_found(client, invitation):
    url = reverse("portal:invitation-respond", args=[invitation.uuid, "wrong"])
    assert client.get(url).status_code == 404


def test_logged_out_post_to_the_link_goes_to_log_in(client, invitation):
    url = reverse("portal:invitation-respond", args=[invitation.uuid, invitation.token])
    response = client.post(url, {"answer": "accept"})
    assert response["Location"].startswith(reverse("portal:login"))
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_sign_up_from_the_invitation_link_joins_the_organization(client, invitation, acme, web):
    url = f"{reverse('portal:signup')}?invitation={invitation.uuid}&token={invitation.token}"
    form = client.get(url)
    assert form.context["form"].initial["email"] == "dora@example.com"
    response = client.post(
        url,
        {
            "email": "dora@example.com",
            "first_name": "Dora",
            "last_name": "",
            "password1": "lichen-saddle-comet",
            "password2": "lichen-saddle-comet",
        },
    )
    assert response["Location"] == reverse("portal:org-projects", args=[acme.uuid])
    dora = User.objects.get(email="dora@example.com")
    assert Member.objects.get(organization=acme, user=dora).project_memberships.get().project == web
    invitation.refresh_from_db()
    assert invitation.status == "accepted"


def test_decline_by_link_closes_the_invitation(client, invitation, acme):
    dora = factories.make_user("dora@example.com")
    client.force_login(dora)
    url = reverse("portal:invitation-respond", args=[invitation.uuid, invitation.token])
    client.post(url, {"answer": "decline"})
    invitation.refresh_from_db()
    assert invitation.status == "declined"
    assert not Member.objects.filter(organization=acme, user=dora).exists()
    assert b"no longer open" in client.get(url).content


def test_my_invitations_lists_and_accepts_mine(client, invitation, acme):
    dora = factories.make_user("dora@example.com")
    client.force_login(dora)
    page = client.get(reverse("portal:my-invitations"))
    assert b"Acme" in page.content
    client.post(reverse("portal:invitation-answer", args=[invitation.uuid, "accept"]))
    assert Member.objects.filter(organization=acme, user=dora).exists()
    assert not client.get(reverse("portal:my-invitations")).context["invitations"]


def test_someone_elses_invitation_cannot_be_answered_without_the_link(client, invitation, charlie):
    client.force_login(charlie)
    url = reverse("portal:invitation-answer", args=[invitation.uuid, "accept"])
    assert client.post(url).status_code == 404


def test_resend_sends_a_fresh_link_and_the_old_one_stops_working(
    client, alice, acme, invitation, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal:invitation-resend", args=[acme.uuid, invitation.uuid]))
    invitation.refresh_from_db()
    assert invitation.sent_count == 2
    assert _link_from(mail.outbox[-1]) != reverse(
        "portal:invitation-respond", args=[invitation.uuid, invitation.token]
    )
    old = reverse("portal:invitation-respond", args=[invitation.uuid, invitation.token])
    assert client.get(old).status_code == 404


def test_revoke_closes_the_invitation(client, alice, acme, invitation):
    client.force_login(alice)
    response = client.post(
        reverse("portal:invitation-revoke", args=[acme.uuid, invitation.uuid]),
        headers={"HX-Request": "true"},
    )
    assert response["HX-Redirect"] == reverse("portal:org-team", args=[acme.uuid])
    invitation.refresh_from_db()
    assert invitation.status == "revoked"


def test_admin_changes_a_members_role_and_projects(client, adam, acme, carol, web, ops):
    client.force_login(adam)
    member = Member.objects.get(organization=acme, user=carol)
    client.post(
        reverse("portal:member-update", args=[acme.uuid, member.uuid]),
        {"role": "limited_collaborator", "projects": [str(ops.uuid)]},
    )
    member.refresh_from_db()
    assert member.role == Role.LIMITED_COLLABORATOR
    assert [pm.project for pm in member.project_memberships.all()] == [ops]


def test_changing_the_owners_role_is_refused_with_a_message(client, adam, acme, alice):
    client.force_login(adam)
    owner = Member.objects.get(organization=acme, user=alice)
    response = client.post(
        reverse("portal:member-update", args=[acme.uuid, owner.uuid]),
        {"role": "admin"},
        follow=True,
    )
    assert b"cannot be changed" in response.content
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_admin_removes_a_member(client, alice, acme, carol):
    client.force_login(alice)
    member = Member.objects.get(organization=acme, user=carol)
    client.post(reverse("portal:member-remove", args=[acme.uuid, member.uuid]))
    assert not Member.objects.filter(pk=member.pk).exists()


def test_member_leaves_the_organization(client, carol, acme):
    client.force_login(carol)
    member = Member.objects.get(organization=acme, user=carol)
    response = client.post(reverse("portal:member-remove", args=[acme.uuid, member.uuid]))
    assert response["Location"] == reverse("portal:home")
    assert not Member.objects.filter(pk=member.pk).exists()
    assert client.get(reverse("portal:org-team", args=[acme.uuid])).status_code == 404


def test_team_page_hides_management_from_collaborators(client, carol, acme, alice):
    client.force_login(carol)
    page = client.get(reverse("portal:org-team", args=[acme.uuid]))
    assert b"alice@example.com" in page.content
    assert b"Invite someone" not in page.content
    assert b"Change role" not in page.content
    assert b"Leave organization" in page.content
