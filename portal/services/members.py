"""Members of an organization, their roles, and their assignments to projects."""

from collections.abc import Iterable

from django.db import transaction

from .. import audit
from ..errors import Conflict, ServiceError
from ..models import Member, Organization, Project, ProjectMembership, User
from ..permissions import can_administer_org, can_administer_project, require
from ..roles import ASSIGNED_ROLES, Role


def projects_of(organization: Organization, projects: Iterable[Project]) -> list[Project]:
    projects = list(projects)
    if any(p.organization_id != organization.pk for p in projects):
        raise ServiceError("Projects must belong to the organization.", field="projects")
    return projects


def assign_projects(member: Member, projects: list[Project]) -> None:
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
            assign_projects(member, projects_of(organization, projects))
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
