"""Every tenancy write: one transaction, a permission re-check, an audit event, side effects on
commit. Pages, the API and management commands all call these."""

import logging
import zoneinfo
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from . import audit, limits, sshkeys, tokens
from .errors import Conflict, Forbidden, ServiceError
from .models import (
    ApiKey,
    Invitation,
    Member,
    Organization,
    Project,
    ProjectMembership,
    SSHKey,
    User,
)
from .permissions import (
    can_administer_org,
    can_administer_project,
    can_manage_project,
    org_role,
    require,
)
from .roles import ASSIGNED_ROLES, Role

logger = logging.getLogger(__name__)

DEFAULT_PROJECT_NAME = "Default project"


def _validate_timezone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise ServiceError(f"Unknown time zone '{name}'.", field="timezone")
    return name


def _clean_name(value: str, *, field: str, what: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ServiceError(f"{what} name cannot be blank.", field=field)
    if len(value) > max_length:
        raise ServiceError(f"{what} name is limited to {max_length} characters.", field=field)
    return value


def _clean_org_text(field: str, value) -> str:
    """An organization's description, website or twitter within its column (PostgreSQL
    refused an over-long website with a 500; the page's form and the API did not check)."""
    value = value or ""
    limit = Organization._meta.get_field(field).max_length
    if limit is not None and len(value) > limit:
        raise ServiceError(f"Must be at most {limit} characters.", field=field)
    return value


# Users


@transaction.atomic
def create_user(
    *,
    email: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    timezone_name: str = "UTC",
    is_staff: bool = False,
) -> User:
    """Sign a user up: the account, a personal organization they own, and a default project."""
    email = User.objects.normalize_email((email or "").strip()).lower()
    if not email or "@" not in email:
        raise ServiceError("Enter a valid e-mail address.", field="email")
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict("An account with this e-mail address already exists.", field="email")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email,
                password,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                timezone=_validate_timezone(timezone_name),
                is_staff=is_staff,
            )
    except IntegrityError as exc:  # a concurrent sign-up with the same address won
        raise Conflict(
            "An account with this e-mail address already exists.", field="email"
        ) from exc
    organization = Organization.objects.create(
        name=f"{user.full_name}'s organization", personal=True
    )
    Member.objects.create(organization=organization, user=user, role=Role.OWNER)
    project = Project.objects.create(organization=organization, name=DEFAULT_PROJECT_NAME)
    audit.record(
        "user.created",
        actor=user,
        text="{actor} signed up",
        user=user,
        organization=organization,
        objects=[user, project],
    )
    return user


@transaction.atomic
def update_profile(
    *,
    user: User,
    acting_user: User,
    first_name: str | None = None,
    last_name: str | None = None,
    timezone_name: str | None = None,
) -> User:
    """Change a user's name or time zone (only the user themself)."""
    require(user.pk == acting_user.pk, "You can only change your own profile.")
    if first_name is not None:
        user.first_name = first_name.strip()[:150]
    if last_name is not None:
        user.last_name = last_name.strip()[:150]
    if timezone_name is not None:
        user.timezone = _validate_timezone(timezone_name)
    user.save(update_fields=["first_name", "last_name", "timezone", "updated_at"])
    audit.record(
        "user.updated",
        actor=acting_user,
        text="{actor} updated their profile",
        user=user,
        objects=[user],
    )
    return user


@transaction.atomic
def record_password_change(*, user: User, reset: bool = False) -> None:
    """Audit a password change (the change itself is Django's auth forms)."""
    text = "{actor} reset their password" if reset else "{actor} changed their password"
    audit.record("user.password_changed", actor=user, text=text, user=user, objects=[user])


def send_password_reset(*, email: str) -> None:
    """E-mail a reset link to the active account using `email`, if there is one.

    A worker runs this (portal.tasks), so the reset page answers alike, in the same time,
    whether or not the account exists. The link is built on SITE_URL, never on the Host
    header of whoever asked."""
    form = PasswordResetForm({"email": email})
    if not form.is_valid():
        return
    form.save(
        domain_override=urlsplit(settings.SITE_URL).netloc,
        use_https=settings.SITE_URL.startswith("https:"),
        subject_template_name="portal/email/password_reset_subject.txt",
        email_template_name="portal/email/password_reset.txt",
        extra_email_context={"site_url": settings.SITE_URL},
    )


def default_project_for(user: User) -> Project | None:
    """The first project the user can see, preferring their personal organization's."""
    return (
        Project.objects.for_user(user)
        .order_by("-organization__personal", "created_at", "pk")
        .select_related("organization")
        .first()
    )


# Organizations


@transaction.atomic
def create_organization(
    *,
    name: str,
    acting_user: User,
    description: str = "",
    website: str = "",
    twitter: str = "",
    customdata=None,
) -> Organization:
    """Create an organization owned by the acting user."""
    organization = Organization.objects.create(
        name=_clean_name(name, field="name", what="Organization", max_length=100),
        description=_clean_org_text("description", description),
        website=_clean_org_text("website", website),
        twitter=_clean_org_text("twitter", twitter),
        customdata=limits.clean_customdata(customdata),
    )
    Member.objects.create(organization=organization, user=acting_user, role=Role.OWNER)
    audit.record(
        "organization.created",
        actor=acting_user,
        text=f"{{actor}} created organization {organization.name}",
        organization=organization,
    )
    return organization


@transaction.atomic
def update_organization(*, organization: Organization, acting_user: User, **fields) -> Organization:
    """Edit an organization's settings (owner or admin)."""
    require(
        can_administer_org(acting_user, organization),
        "Only owners and admins can change organization settings.",
    )
    if "name" in fields and fields["name"] is not None:
        organization.name = _clean_name(
            fields["name"], field="name", what="Organization", max_length=100
        )
    for field in ("description", "website", "twitter"):
        if fields.get(field) is not None:
            setattr(organization, field, _clean_org_text(field, fields[field]))
    if fields.get("customdata") is not None:
        organization.customdata = limits.clean_customdata(fields["customdata"])
    organization.save()
    audit.record(
        "organization.updated",
        actor=acting_user,
        text=f"{{actor}} updated organization {organization.name}",
        organization=organization,
    )
    return organization


@transaction.atomic
def delete_organization(*, organization: Organization, acting_user: User) -> None:
    """Delete an organization that has no projects left (owner only)."""
    require(
        org_role(acting_user, organization) == Role.OWNER,
        "Only the owner can delete an organization.",
    )
    if organization.projects.exists():
        raise Conflict("Delete the organization's projects first.")
    audit.record(
        "organization.deleted",
        actor=acting_user,
        text=f"{{actor}} deleted organization {organization.name}",
        user=acting_user,
        objects=[organization],
    )
    organization.delete()


# Projects


@transaction.atomic
def create_project(
    *,
    organization: Organization,
    name: str,
    acting_user: User,
    customdata=None,
    tags=None,
) -> Project:
    """Create a project in an organization (owner or admin)."""
    require(
        can_administer_org(acting_user, organization), "Only owners and admins can create projects."
    )
    project = Project.objects.create(
        organization=organization,
        name=_clean_name(name, field="name", what="Project", max_length=80),
        customdata=limits.clean_customdata(customdata),
        tags=limits.clean_tags(tags),
    )
    audit.record(
        "project.created",
        actor=acting_user,
        text=f"{{actor}} created project {project.name}",
        project=project,
    )
    return project


@transaction.atomic
def update_project(
    *,
    project: Project,
    acting_user: User,
    name: str | None = None,
    customdata=None,
    tags=None,
    backend_transfer_enabled: bool | None = None,
) -> Project:
    """Rename or re-tag a project (owner or admin)."""
    require(
        can_administer_project(acting_user, project),
        "Only owners and admins can change project settings.",
    )
    old_name = project.name
    if name is not None:
        project.name = _clean_name(name, field="name", what="Project", max_length=80)
    if customdata is not None:
        project.customdata = limits.clean_customdata(customdata)
    if tags is not None:
        project.tags = limits.clean_tags(tags)
    if backend_transfer_enabled is not None:
        project.backend_transfer_enabled = bool(backend_transfer_enabled)
    project.save()
    text = (
        f"{{actor}} renamed project {old_name} to {project.name}"
        if project.name != old_name
        else f"{{actor}} updated project {project.name}"
    )
    audit.record("project.updated", actor=acting_user, text=text, project=project)
    return project


@transaction.atomic
def delete_project(*, project: Project, acting_user: User) -> None:
    """Delete an empty project (owner or admin). Servers and IPs protect it from deletion."""
    require(
        can_administer_project(acting_user, project), "Only owners and admins can delete projects."
    )
    audit.record(
        "project.deleted",
        actor=acting_user,
        text=f"{{actor}} deleted project {project.name}",
        organization=project.organization,
        objects=[project],
    )
    try:
        with transaction.atomic():
            project.delete()
    except ProtectedError as exc:
        raise Conflict(
            "This project still has servers or IP reservations; remove them first."
        ) from exc


# Members and project assignments


def _projects_of(organization: Organization, projects: Iterable[Project]) -> list[Project]:
    projects = list(projects)
    if any(p.organization_id != organization.pk for p in projects):
        raise ServiceError("Projects must belong to the organization.", field="projects")
    return projects


def _assign_projects(member: Member, projects: list[Project]) -> None:
    wanted = {p.pk for p in projects}
    member.project_memberships.exclude(project_id__in=wanted).delete()
    have = set(member.project_memberships.values_list("project_id", flat=True))
    ProjectMembership.objects.bulk_create(
        ProjectMembership(project_id=pk, member=member) for pk in sorted(wanted - have)
    )


@transaction.atomic
def update_member(
    *,
    member: Member,
    acting_user: User,
    role: str | None = None,
    projects: Iterable[Project] | None = None,
) -> Member:
    """Change a member's role and, for collaborators, the projects they reach (owner/admin)."""
    organization = member.organization
    require(
        can_administer_org(acting_user, organization), "Only owners and admins can change members."
    )
    if member.role == Role.OWNER and role is not None and role != Role.OWNER:
        raise Conflict("The owner's role cannot be changed.", field="role")
    if role is not None and role != member.role:
        if role == Role.OWNER or role not in Role.values:
            raise ServiceError(f"'{role}' is not a role a member can be given.", field="role")
        member.role = role
        member.save(update_fields=["role", "updated_at"])
    if member.role in ASSIGNED_ROLES:
        if projects is not None:
            _assign_projects(member, _projects_of(organization, projects))
    else:
        # Owners, admins and billing members have no per-project assignments.
        member.project_memberships.all().delete()
    audit.record(
        "member.updated",
        actor=acting_user,
        text=f"{{actor}} set {member.user.full_name}'s role to {member.get_role_display()}",
        organization=organization,
        objects=[member.user],
    )
    return member


@transaction.atomic
def remove_member(*, member: Member, acting_user: User) -> None:
    """Remove someone from an organization (owner/admin), or leave it yourself."""
    organization = member.organization
    leaving = member.user_id == acting_user.pk
    require(
        leaving or can_administer_org(acting_user, organization),
        "Only owners and admins can remove members.",
    )
    if member.role == Role.OWNER:
        raise Conflict("The owner cannot be removed from the organization.")
    text = (
        f"{{actor}} left {organization.name}"
        if leaving
        else f"{{actor}} removed {member.user.full_name} from {organization.name}"
    )
    audit.record(
        "member.removed",
        actor=acting_user,
        text=text,
        organization=organization,
        objects=[member.user],
    )
    member.delete()


@transaction.atomic
def update_project_membership(
    *, membership: ProjectMembership, acting_user: User, role: str
) -> ProjectMembership:
    """Switch an assigned member between collaborator and limited collaborator (owner/admin)."""
    if role not in ASSIGNED_ROLES:
        raise ServiceError(
            "A project membership role is collaborator or limited_collaborator.", field="role"
        )
    update_member(member=membership.member, acting_user=acting_user, role=role)
    membership.refresh_from_db()
    return membership


@transaction.atomic
def remove_project_membership(*, membership: ProjectMembership, acting_user: User) -> None:
    """Take someone off a project (owner/admin), or leave the project yourself."""
    project = membership.project
    leaving = membership.member.user_id == acting_user.pk
    require(
        leaving or can_administer_project(acting_user, project),
        "Only owners and admins can remove people from a project.",
    )
    user = membership.member.user
    text = (
        f"{{actor}} left project {project.name}"
        if leaving
        else f"{{actor}} removed {user.full_name} from project {project.name}"
    )
    audit.record(
        "membership.removed", actor=acting_user, text=text, project=project, objects=[user]
    )
    membership.delete()


# Invitations


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
    projects = _projects_of(organization, projects)
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


# API keys


@transaction.atomic
def create_api_key(
    *,
    acting_user: User,
    project: Project | None = None,
    read_only: bool = False,
    description: str = "",
) -> tuple[ApiKey, str]:
    """Create a user key, or a project key (project managers); returns the key and its secret,
    which is never shown again."""
    if project is not None:
        require(
            can_manage_project(acting_user, project),
            "Only owners, admins and collaborators can create project API keys.",
        )
    token, lookup, digest = tokens.generate()
    key = ApiKey.objects.create(
        user=acting_user,
        project=project,
        read_only=bool(read_only),
        description=(description or "").strip()[:200],
        lookup=lookup,
        digest=digest,
    )
    scope = f"project {project.name}" if project else "their account"
    access = "read-only" if key.read_only else "read/write"
    audit.record(
        "api_key.created",
        actor=acting_user,
        text=f"{{actor}} created a {access} API key for {scope}",
        project=project,
        user=None if project else acting_user,
        objects=[key],
    )
    return key, token


@transaction.atomic
def delete_api_key(*, key: ApiKey, acting_user: User) -> None:
    """Revoke a key at once: its own user, or a manager of its project."""
    if key.project is not None:
        allowed = key.user_id == acting_user.pk or can_manage_project(acting_user, key.project)
    else:
        allowed = key.user_id == acting_user.pk
    require(allowed, "You cannot delete this API key.")
    audit.record(
        "api_key.deleted",
        actor=acting_user,
        text=f"{{actor}} deleted API key {key.lookup}…",
        project=key.project,
        user=None if key.project else acting_user,
        objects=[key],
    )
    key.delete()


# SSH keys


def _parse_key(text: str) -> sshkeys.ParsedKey:
    try:
        return sshkeys.parse(text)
    except sshkeys.InvalidSSHKey as exc:
        raise ServiceError(str(exc), field="key") from exc


def _save_ssh_key(ssh_key: SSHKey) -> None:
    try:
        with transaction.atomic():
            ssh_key.save()
    except IntegrityError as exc:
        raise Conflict("This key has already been added.", field="key") from exc


@transaction.atomic
def create_ssh_key(
    *,
    acting_user: User,
    label: str,
    key: str,
    tags=None,
    project: Project | None = None,
) -> SSHKey:
    """Add a personal key, or a project key (project managers)."""
    if project is not None:
        require(
            can_manage_project(acting_user, project),
            "Only owners, admins and collaborators can add project SSH keys.",
        )
    parsed = _parse_key(key)
    label = (label or "").strip() or parsed.comment or parsed.key_type
    ssh_key = SSHKey(
        user=None if project else acting_user,
        project=project,
        label=_clean_name(label, field="label", what="Key", max_length=100),
        key=parsed.key,
        key_type=parsed.key_type,
        fingerprint=parsed.fingerprint_md5,
        fingerprint_sha256=parsed.fingerprint_sha256,
        tags=limits.clean_tags(tags),
    )
    _save_ssh_key(ssh_key)
    audit.record(
        "ssh_key.created",
        actor=acting_user,
        text=f"{{actor}} added SSH key {ssh_key.label}",
        project=project,
        user=None if project else acting_user,
        objects=[ssh_key],
    )
    return ssh_key


def _require_ssh_key_write(ssh_key: SSHKey, acting_user: User) -> None:
    if ssh_key.project is not None:
        require(
            can_manage_project(acting_user, ssh_key.project),
            "Only owners, admins and collaborators can change project SSH keys.",
        )
    else:
        require(ssh_key.user_id == acting_user.pk, "You can only change your own SSH keys.")


@transaction.atomic
def update_ssh_key(
    *,
    ssh_key: SSHKey,
    acting_user: User,
    label: str | None = None,
    key: str | None = None,
    tags=None,
) -> SSHKey:
    """Relabel, re-tag or replace a key."""
    _require_ssh_key_write(ssh_key, acting_user)
    if label is not None:
        ssh_key.label = _clean_name(label, field="label", what="Key", max_length=100)
    if key is not None and key.strip() != ssh_key.key:
        parsed = _parse_key(key)
        ssh_key.key, ssh_key.key_type = parsed.key, parsed.key_type
        ssh_key.fingerprint = parsed.fingerprint_md5
        ssh_key.fingerprint_sha256 = parsed.fingerprint_sha256
    if tags is not None:
        ssh_key.tags = limits.clean_tags(tags)
    _save_ssh_key(ssh_key)
    audit.record(
        "ssh_key.updated",
        actor=acting_user,
        text=f"{{actor}} updated SSH key {ssh_key.label}",
        project=ssh_key.project,
        user=ssh_key.user,
        objects=[ssh_key],
    )
    return ssh_key


@transaction.atomic
def delete_ssh_key(*, ssh_key: SSHKey, acting_user: User) -> None:
    """Remove a key; servers already deployed keep it in their authorized_keys."""
    _require_ssh_key_write(ssh_key, acting_user)
    audit.record(
        "ssh_key.deleted",
        actor=acting_user,
        text=f"{{actor}} removed SSH key {ssh_key.label}",
        project=ssh_key.project,
        user=ssh_key.user,
        objects=[ssh_key],
    )
    ssh_key.delete()
