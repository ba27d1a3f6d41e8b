"""Projects: create, update, delete."""

from django.db import transaction
from django.db.models import ProtectedError

from .. import audit, limits
from ..errors import Conflict
from ..models import Organization, Project, User
from ..permissions import can_administer_org, can_administer_project, require
from .names import clean_name


@transaction.atomic
def create_project(
    *, organization: Organization, name: str, acting_user: User, customdata=None, tags=None
) -> Project:
    """Create a project in an organization (owner or admin)."""
    require(
        can_administer_org(acting_user, organization), "Only owners and admins can create projects."
    )
    project = Project.objects.create(
        organization=organization,
        name=clean_name(name, field="name", what="Project", max_length=80),
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
        project.name = clean_name(name, field="name", what="Project", max_length=80)
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
