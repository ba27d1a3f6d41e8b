"""What every page does the same way, for the portal's pages and the other apps' (public: they
import these): calling a service from a form or a button, finding the organization or project
a URL names among those the user can see, the tab bar's context, paging, the timeline."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme

from .. import panels
from ..errors import Forbidden, ServiceError
from ..htmx import render_page_or_fragment
from ..models import Organization, Project
from ..permissions import org_role, project_role
from ..roles import ORG_ADMINS, PROJECT_MANAGERS, Role

EVENTS_PER_PAGE = 25
CURRENT_ORG_SESSION_KEY = "current_org"


def submit(form, service: Callable, /, **kwargs) -> tuple[bool, Any]:
    """Call a service; its refusal lands on the form (the field it names, else the form)."""
    try:
        return True, service(**kwargs)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    except ServiceError as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.messages)
        return False, None


def perform(request, service: Callable, /, **kwargs) -> bool:
    """Call a service for a button without a form; a refusal becomes an error message."""
    try:
        service(**kwargs)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    except ServiceError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return False
    return True


def forbid_unless(allowed: bool) -> None:
    """403 for a user who can see the object but may not do this."""
    if not allowed:
        raise PermissionDenied


def organization_for(request, org_id) -> Organization:
    """The organization if the user belongs to it (else 404); it becomes the switcher's pick."""
    org = get_object_or_404(Organization.objects.for_user(request.user), uuid=org_id)
    request.current_org = org
    request.session[CURRENT_ORG_SESSION_KEY] = str(org.uuid)
    return org


def project_for(request, project_id) -> Project:
    """The project if the user can see it (else 404)."""
    project = get_object_or_404(
        Project.objects.for_user(request.user).select_related("organization"), uuid=project_id
    )
    request.current_org = project.organization
    request.session[CURRENT_ORG_SESSION_KEY] = str(project.organization.uuid)
    return project


def org_context(request, org: Organization, tab: str) -> dict:
    role = org_role(request.user, org)
    return {
        "org": org,
        "org_role": role,
        "is_org_admin": role in ORG_ADMINS,
        "is_org_owner": role == Role.OWNER,
        "tab": tab,
    }


def project_context(request, project: Project, tab: str) -> dict:
    role = project_role(request.user, project)
    return {
        "project": project,
        "org": project.organization,
        "project_role": role,
        "project_role_label": Role(role).label if role else "",
        "can_manage": role in PROJECT_MANAGERS,
        "can_administer": role in ORG_ADMINS,
        "tab": tab,
        "shell": "portal/project_base.html",
        "extra_tabs": panels.project_tabs(),
    }


def account_context(tab: str) -> dict:
    return {"tab": tab, "shell": "portal/account_base.html"}


def safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def paginate(request, rows, per_page: int = EVENTS_PER_PAGE):
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def timeline(request, events, context: dict) -> HttpResponse:
    page = paginate(request, events.select_related("modified_by").order_by("-created_at", "-pk"))
    return render_page_or_fragment(
        request, "portal/timeline.html", "timeline", {**context, "page": page}
    )
