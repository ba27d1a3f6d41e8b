"""Invitations: sent by e-mail (with a link holding a token), resent, revoked, accepted,
declined, expired."""

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .. import audit, tokens
from ..errors import Conflict, Forbidden, ServiceError
from ..models import Invitation, Member, Organization, Project, ProjectMembership, User
from ..permissions import can_administer_org, require
from ..roles import ASSIGNED_ROLES, Role
from .members import projects_of

logger = logging.getLogger(__name__)


def _send_invitation(invitation: Invitation, token: str) -> None:
    """E-mail the invitation link once the transaction has committed."""
    path = reverse("portal:invitation-respond", args=[invitation.uuid, token])
    context = {
        "invitation": invitation,
        "url": f"{settings.SITE_URL}{path}",
        "organization": invitation.organization,
        "inviter": invitation.invited_by,
    }
    subject = f"You're invited to join {invitation.organization.name} on Ironyard"
    body = render_to_string("portal/email/invitation.txt", context)

    def send() -> None:
        try:
            send_mail(subject, body, None, [invitation.invitee])
        except OSError:
            # The invitation exists and can be resent; a mail outage must not undo it.
            logger.exception("could not send invitation %s", invitation.uuid)

    transaction.on_commit(send)


@transaction.atomic
def invite_member(
    *,
    organization: Organization,
    invitee: str,
    role: str,
    acting_user: User,
    projects: Iterable[Project] = (),
    message: str = "",
) -> tuple[Invitation, str]:
    """Invite an e-mail address to the organization; returns the invitation and its link secret."""
    require(
        can_administer_org(acting_user, organization), "Only owners and admins can invite members."
    )
    invitee = User.objects.normalize_email((invitee or "").strip()).lower()
    if not invitee or "@" not in invitee:
        raise ServiceError("Enter a valid e-mail address.", field="invitee")
    if role not in dict(Role.invitable_choices()):
        raise ServiceError(f"'{role}' is not a role you can invite someone as.", field="roles")
    projects = projects_of(organization, projects)
    if role in ASSIGNED_ROLES and not projects:
        raise ServiceError("Choose at least one project for a collaborator.", field="projects")
    if organization.members.filter(user__email__iexact=invitee).exists():
        raise Conflict(f"{invitee} is already a member of {organization.name}.", field="invitee")
    expire_invitations(organization=organization, invitee=invitee)
    if organization.invitations.filter(invitee__iexact=invitee, status="pending").exists():
        raise Conflict(
            f"{invitee} already has an open invitation; resend it instead.", field="invitee"
        )
    token = tokens.random_secret()
    invitation = Invitation.objects.create(
        organization=organization,
        invitee=invitee,
        role=role,
        message=message or "",
        invited_by=acting_user,
        token_digest=tokens.digest(token),
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    if role in ASSIGNED_ROLES:
        invitation.projects.set(projects)
    audit.record(
        "invitation.created",
        actor=acting_user,
        text=f"{{actor}} invited {invitee} as {invitation.get_role_display()}",
        organization=organization,
        objects=[invitation],
    )
    _send_invitation(invitation, token)
    return invitation, token


@transaction.atomic
def resend_invitation(*, invitation: Invitation, acting_user: User) -> str:
    """Send a fresh link (the old one stops working) and extend the expiry."""
    require(
        can_administer_org(acting_user, invitation.organization),
        "Only owners and admins can resend invitations.",
    )
    if invitation.status != Invitation.Status.PENDING:
        raise Conflict("Only pending invitations can be resent.")
    token = tokens.random_secret()
    invitation.token_digest = tokens.digest(token)
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)
    invitation.sent_count += 1
    invitation.save(update_fields=["token_digest", "expires_at", "sent_count", "updated_at"])
    audit.record(
        "invitation.resent",
        actor=acting_user,
        text=f"{{actor}} resent the invitation to {invitation.invitee}",
        organization=invitation.organization,
        objects=[invitation],
    )
    _send_invitation(invitation, token)
    return token


@transaction.atomic
def revoke_invitation(*, invitation: Invitation, acting_user: User) -> None:
    """Withdraw a pending invitation (owner/admin)."""
    require(
        can_administer_org(acting_user, invitation.organization),
        "Only owners and admins can revoke invitations.",
    )
    _close_invitation(invitation, Invitation.Status.REVOKED)
    audit.record(
        "invitation.revoked",
        actor=acting_user,
        text=f"{{actor}} revoked the invitation to {invitation.invitee}",
        organization=invitation.organization,
        objects=[invitation],
    )


def _close_invitation(invitation: Invitation, status: str) -> None:
    # Compare-and-set: two tabs accepting at once must not both create memberships.
    closed = Invitation.objects.filter(pk=invitation.pk, status=Invitation.Status.PENDING).update(
        status=status, responded_at=timezone.now(), updated_at=timezone.now()
    )
    if not closed:
        raise Conflict("This invitation is no longer open.")
    invitation.status = status


def _check_invitee(invitation: Invitation, user: User, token: str | None) -> None:
    if not invitation.is_open:
        raise Conflict("This invitation is no longer open.")
    if token is not None:
        if not tokens.matches(token, invitation.token_digest):
            raise Forbidden("This invitation link is not valid.")
    elif invitation.invitee.lower() != user.email.lower():
        raise Forbidden("This invitation is addressed to someone else.")


@transaction.atomic
def accept_invitation(*, invitation: Invitation, user: User, token: str | None = None) -> Member:
    """Join the organization with the invited role. The link's token or the invitee's e-mail
    address proves the invitation is theirs."""
    _check_invitee(invitation, user, token)
    _close_invitation(invitation, Invitation.Status.ACCEPTED)
    organization = invitation.organization
    member, _ = Member.objects.get_or_create(
        organization=organization, user=user, defaults={"role": invitation.role}
    )
    if member.role in ASSIGNED_ROLES:
        have = set(member.project_memberships.values_list("project_id", flat=True))
        ProjectMembership.objects.bulk_create(
            ProjectMembership(project=p, member=member)
            for p in invitation.projects.all()
            if p.pk not in have
        )
    audit.record(
        "invitation.accepted",
        actor=user,
        text=f"{{actor}} joined {organization.name} as {member.get_role_display()}",
        organization=organization,
        objects=[invitation, user],
    )
    return member


@transaction.atomic
def decline_invitation(*, invitation: Invitation, user: User, token: str | None = None) -> None:
    """Turn an invitation down."""
    _check_invitee(invitation, user, token)
    _close_invitation(invitation, Invitation.Status.DECLINED)
    audit.record(
        "invitation.declined",
        actor=user,
        text=f"{{actor}} declined the invitation to {invitation.organization.name}",
        organization=invitation.organization,
        objects=[invitation],
    )


@transaction.atomic
def expire_invitations(*, organization: Organization | None = None, invitee: str = "") -> int:
    """Close pending invitations whose link has expired; returns how many."""
    rows = Invitation.objects.filter(
        status=Invitation.Status.PENDING, expires_at__lte=timezone.now()
    )
    if organization is not None:
        rows = rows.filter(organization=organization)
    if invitee:
        rows = rows.filter(invitee__iexact=invitee)
    return rows.update(status=Invitation.Status.EXPIRED, updated_at=timezone.now())
