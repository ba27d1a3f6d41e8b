"""Visibility: `for_user()` on every tenant-owned model is the only rule pages and the API use.

Not a member → the row is simply not in the queryset (404). Role checks for writes (403) live in
`portal.permissions`; they start from rows these querysets already let the user see.
"""

from django.apps import apps
from django.db import models
from django.db.models import Exists, OuterRef, Q

from .roles import ASSIGNED_ROLES, ORG_ADMINS, Role


# The models are looked up by name: they import these querysets for their managers.
def _member():
    return apps.get_model("portal", "Member")


def _project_membership():
    return apps.get_model("portal", "ProjectMembership")


def _member_rows(user, organization_ref: str, roles=None):
    rows = _member().objects.filter(user=user, organization=OuterRef(organization_ref))
    return rows.filter(role__in=roles) if roles is not None else rows


def _assigned_rows(user, project_ref: str, roles=ASSIGNED_ROLES):
    return _project_membership().objects.filter(
        project=OuterRef(project_ref), member__user=user, member__role__in=roles
    )


def visible_project_q(user, project_ref: str = "pk", organization_ref: str = "organization"):
    """Q for rows whose project the user reaches: org owner/admin, or assigned collaborator."""
    return Q(Exists(_member_rows(user, organization_ref, ORG_ADMINS))) | Q(
        Exists(_assigned_rows(user, project_ref))
    )


def manageable_project_q(user, project_ref: str = "pk", organization_ref: str = "organization"):
    """Q for projects where the user may create and destroy (not limited collaborators)."""
    return Q(Exists(_member_rows(user, organization_ref, ORG_ADMINS))) | Q(
        Exists(_assigned_rows(user, project_ref, roles={Role.COLLABORATOR}))
    )


def users_reaching_project_q(project):
    """Q over users who can see `project` (the mirror image of visible_project_q)."""
    admins = _member().objects.filter(
        user=OuterRef("pk"), organization=project.organization_id, role__in=ORG_ADMINS
    )
    assigned = _project_membership().objects.filter(
        project=project, member__user=OuterRef("pk"), member__role__in=ASSIGNED_ROLES
    )
    return Q(Exists(admins)) | Q(Exists(assigned))


class OrganizationQuerySet(models.QuerySet):
    def for_user(self, user):
        """Organizations the user is a member of (any role)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Exists(_member_rows(user, "pk")))

    def administered_by(self, user):
        """Organizations where the user is owner or admin."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Exists(_member_rows(user, "pk", ORG_ADMINS)))


class MemberQuerySet(models.QuerySet):
    def for_user(self, user):
        """Members of organizations the user belongs to (teammates can see the team list)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Exists(_member_rows(user, "organization")))


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user):
        """Projects the user can see: every project of orgs they administer, else assigned ones."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(visible_project_q(user))

    def manageable_by(self, user):
        """Projects where the user may create and destroy resources."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(manageable_project_q(user))


class ProjectMembershipQuerySet(models.QuerySet):
    def for_user(self, user):
        """Assignments in projects the user can see."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            visible_project_q(user, project_ref="project", organization_ref="project__organization")
        )


class InvitationQuerySet(models.QuerySet):
    def for_user(self, user):
        """Invitations the user may see: sent by their orgs (owner/admin) or addressed to them."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            Q(Exists(_member_rows(user, "organization", ORG_ADMINS)))
            | Q(invitee__iexact=user.email)
        )

    def addressed_to(self, user):
        """Open invitations for the user's e-mail address."""
        from django.utils import timezone

        return self.filter(
            invitee__iexact=user.email, status="pending", expires_at__gt=timezone.now()
        )


class ApiKeyQuerySet(models.QuerySet):
    def for_user(self, user):
        """The user's own keys, and project keys of projects they manage."""
        if not user.is_authenticated:
            return self.none()
        project_keys = Q(project__isnull=False) & manageable_project_q(
            user, "project", "project__organization"
        )
        return self.filter(Q(user=user, project__isnull=True) | project_keys)


class SSHKeyQuerySet(models.QuerySet):
    def for_user(self, user):
        """The user's own keys and the keys of projects they can see."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            Q(user=user)
            | Q(project__isnull=False) & visible_project_q(user, "project", "project__organization")
        )


class EventQuerySet(models.QuerySet):
    def for_user(self, user):
        """Project events the user can see, their org's events (owner/admin), their own."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            Q(project__isnull=False) & visible_project_q(user, "project", "project__organization")
            | Q(project__isnull=True, organization__isnull=False)
            & Q(Exists(_member_rows(user, "organization", ORG_ADMINS)))
            | Q(user=user)
        )


__all__ = [
    "ApiKeyQuerySet",
    "EventQuerySet",
    "InvitationQuerySet",
    "MemberQuerySet",
    "OrganizationQuerySet",
    "ProjectMembershipQuerySet",
    "ProjectQuerySet",
    "SSHKeyQuerySet",
]
