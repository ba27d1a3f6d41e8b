"""Organizations: create, update, delete."""

from django.db import transaction

from .. import audit, limits
from ..errors import Conflict, ServiceError
from ..models import Member, Organization, User
from ..permissions import can_administer_org, org_role, require
from ..roles import Role
from .names import clean_name


def _clean_org_text(field: str, value) -> str:
    """An organization's description, website or twitter within its column (PostgreSQL
    refused an over-long website with a 500; the page's form and the API did not check)."""
    value = value or ""
    limit = Organization._meta.get_field(field).max_length
    if limit is not None and len(value) > limit:
        raise ServiceError(f"Must be at most {limit} characters.", field=field)
    return value


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
        name=clean_name(name, field="name", what="Organization", max_length=100),
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
        organization.name = clean_name(
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
