"""Role checks for writes. Visibility (404) is the querysets' job; these give 403.

Every check takes an object the caller can already see, and answers for a user; an API token's
narrowing (read-only, one project) is applied by the API layer on top.
"""

from .errors import Forbidden
from .roles import BILLING_READERS, ORG_ADMINS, PROJECT_MANAGERS, PROJECT_OPERATORS, Role


def org_role(user, organization) -> str | None:
    """The user's role in an organization, or None."""
    if not user.is_authenticated:
        return None
    from .models import Member

    return (
        Member.objects.filter(user=user, organization=organization)
        .values_list("role", flat=True)
        .first()
    )


def project_role(user, project) -> str | None:
    """The user's effective role in a project: their org role if it reaches the project."""
    role = org_role(user, project.organization)
    if role in ORG_ADMINS:
        return role
    if role in (Role.COLLABORATOR, Role.LIMITED_COLLABORATOR):
        assigned = project.memberships.filter(member__user=user).exists()
        return role if assigned else None
    return None


def can_administer_org(user, organization) -> bool:
    return org_role(user, organization) in ORG_ADMINS


def can_read_billing(user, organization) -> bool:
    return org_role(user, organization) in BILLING_READERS


def can_manage_project(user, project) -> bool:
    """Create and destroy inside the project (deploy, delete, project keys)."""
    return project_role(user, project) in PROJECT_MANAGERS


def can_operate_project(user, project) -> bool:
    """Power actions and reads."""
    return project_role(user, project) in PROJECT_OPERATORS


def can_administer_project(user, project) -> bool:
    """Rename, delete, and assign people to the project."""
    return org_role(user, project.organization) in ORG_ADMINS


def require(allowed: bool, message: str) -> None:
    """Raise Forbidden with `message` unless `allowed`."""
    if not allowed:
        raise Forbidden(message)
