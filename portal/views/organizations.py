"""Organizations: create, their projects, settings, deletion and timeline."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import forms, services
from ..htmx import HtmxHttpRequest, navigate, render_page_or_fragment
from ..models import Event, Project
from ..permissions import org_role
from ..roles import Role
from .pages import (
    CURRENT_ORG_SESSION_KEY,
    forbid_unless,
    org_context,
    organization_for,
    perform,
    submit,
    timeline,
)


@login_required
@require_http_methods(["GET", "POST"])
def org_create(request: HtmxHttpRequest):
    """A new organization, owned by its creator."""
    form = forms.OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ok, org = submit(
            form, services.create_organization, acting_user=request.user, **form.cleaned_data
        )
        if ok:
            messages.success(request, f"Organization {org.name} created.")
            return navigate(request, reverse("portal:org-projects", args=[org.uuid]))
    return render_page_or_fragment(request, "portal/org_create.html", "org-form", {"form": form})


@login_required
@require_GET
def org_detail(request, org_id):
    """An organization's landing page is its projects."""
    org = organization_for(request, org_id)
    return redirect("portal:org-projects", org.uuid)


@login_required
@require_http_methods(["GET", "POST"])
def org_projects(request: HtmxHttpRequest, org_id):
    """The organization's projects the user can see; owners and admins create new ones here."""
    org = organization_for(request, org_id)
    context = org_context(request, org, "projects")
    form = forms.ProjectForm(request.POST or None)
    if request.method == "POST":
        forbid_unless(context["is_org_admin"])
        if form.is_valid():
            ok, project = submit(
                form,
                services.create_project,
                organization=org,
                acting_user=request.user,
                **form.cleaned_data,
            )
            if ok:
                messages.success(request, f"Project {project.name} created.")
                return navigate(request, reverse("portal:project", args=[project.uuid]))
    projects = (
        Project.objects.for_user(request.user)
        .filter(organization=org)
        .annotate(assigned_count=Count("memberships", distinct=True))
    )
    return render_page_or_fragment(
        request,
        "portal/org_projects.html",
        "project-form",
        {**context, "projects": projects, "form": form},
    )


@login_required
@require_http_methods(["GET", "POST"])
def org_settings(request: HtmxHttpRequest, org_id):
    """Name, description and website (owner or admin)."""
    org = organization_for(request, org_id)
    context = org_context(request, org, "settings")
    forbid_unless(context["is_org_admin"])
    initial = {"name": org.name, "description": org.description, "website": org.website}
    form = forms.OrganizationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        ok, _ = submit(
            form,
            services.update_organization,
            organization=org,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if ok:
            messages.success(request, "Organization settings saved.")
            return navigate(request, reverse("portal:org-settings", args=[org.uuid]))
    return render_page_or_fragment(
        request,
        "portal/org_settings.html",
        "org-form",
        {**context, "form": form, "project_count": org.projects.count()},
    )


@login_required
@require_POST
def org_delete(request: HtmxHttpRequest, org_id):
    """Delete an organization with no projects (owner only)."""
    org = organization_for(request, org_id)
    forbid_unless(org_role(request.user, org) == Role.OWNER)
    if perform(request, services.delete_organization, organization=org, acting_user=request.user):
        request.session.pop(CURRENT_ORG_SESSION_KEY, None)
        messages.success(request, f"Organization {org.name} deleted.")
        return navigate(request, reverse("portal:home"))
    return navigate(request, reverse("portal:org-settings", args=[org.uuid]))


@login_required
@require_GET
def org_timeline(request: HtmxHttpRequest, org_id):
    """Everything that happened in the organization, newest first (owner or admin)."""
    org = organization_for(request, org_id)
    context = org_context(request, org, "timeline")
    forbid_unless(context["is_org_admin"])
    events = Event.objects.for_user(request.user).filter(organization=org)
    return timeline(request, events, {**context, "shell": "portal/org_base.html"})
