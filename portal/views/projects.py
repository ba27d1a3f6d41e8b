"""Projects: overview, settings, deletion, members and timeline."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import forms, panels, services
from ..htmx import HtmxHttpRequest, navigate, render_page_or_fragment
from ..models import Event, Member, ProjectMembership, SSHKey
from ..permissions import org_role
from ..roles import ORG_ADMINS
from .pages import forbid_unless, perform, project_context, project_for, submit, timeline


@login_required
@require_GET
def project_overview(request, project_id):
    """The project's dashboard."""
    project = project_for(request, project_id)
    context = project_context(request, project, "overview")
    people = (
        Member.objects.filter(organization=project.organization)
        .filter(Q(role__in=ORG_ADMINS) | Q(project_memberships__project=project))
        .values("pk")
        .distinct()
        .count()
    )
    events = (
        Event.objects.for_user(request.user)
        .filter(project=project)
        .select_related("modified_by")
        .order_by("-created_at", "-pk")[:5]
    )
    return render(
        request,
        "portal/project_overview.html",
        {
            **context,
            "people_count": people,
            "ssh_key_count": SSHKey.objects.for_user(request.user).filter(project=project).count(),
            "events": events,
            "panels": panels.render_panels(request, project),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HtmxHttpRequest, project_id):
    """Rename or delete the project (owner or admin); everyone else sees the settings."""
    project = project_for(request, project_id)
    context = project_context(request, project, "settings")
    form = forms.ProjectForm(request.POST or None, initial={"name": project.name})
    if request.method == "POST":
        forbid_unless(context["can_administer"])
        if form.is_valid():
            ok, _ = submit(
                form,
                services.update_project,
                project=project,
                acting_user=request.user,
                **form.cleaned_data,
            )
            if ok:
                messages.success(request, "Project settings saved.")
                return navigate(request, reverse("portal:project-settings", args=[project.uuid]))
    return render_page_or_fragment(
        request, "portal/project_settings.html", "project-form", {**context, "form": form}
    )


@login_required
@require_POST
def project_delete(request: HtmxHttpRequest, project_id):
    """Delete an empty project (owner or admin)."""
    project = project_for(request, project_id)
    forbid_unless(org_role(request.user, project.organization) in ORG_ADMINS)
    org = project.organization
    if perform(request, services.delete_project, project=project, acting_user=request.user):
        messages.success(request, f"Project {project.name} deleted.")
        return navigate(request, reverse("portal:org-projects", args=[org.uuid]))
    return navigate(request, reverse("portal:project-settings", args=[project.uuid]))


@login_required
@require_GET
def project_members(request, project_id):
    """Who reaches the project: the organization's owners and admins, and assigned people."""
    project = project_for(request, project_id)
    context = project_context(request, project, "members")
    admins = (
        Member.objects.for_user(request.user)
        .filter(organization=project.organization, role__in=ORG_ADMINS)
        .select_related("user")
        .order_by("user__email")
    )
    memberships = (
        ProjectMembership.objects.for_user(request.user)
        .filter(project=project)
        .select_related("member__user")
        .order_by("member__user__email")
    )
    return render(
        request,
        "portal/project_members.html",
        {**context, "admins": admins, "memberships": memberships},
    )


@login_required
@require_POST
def project_membership_remove(request: HtmxHttpRequest, project_id, membership_id):
    """Take someone off the project (owner or admin), or leave it yourself."""
    project = project_for(request, project_id)
    membership = get_object_or_404(
        ProjectMembership.objects.for_user(request.user)
        .filter(project=project)
        .select_related("member__user"),
        uuid=membership_id,
    )
    leaving = membership.member.user_id == request.user.pk
    forbid_unless(leaving or org_role(request.user, project.organization) in ORG_ADMINS)
    if perform(
        request, services.remove_project_membership, membership=membership, acting_user=request.user
    ):
        if leaving:
            messages.success(request, f"You left project {project.name}.")
            return navigate(request, reverse("portal:home"))
        messages.success(request, f"{membership.member.user.full_name} was removed.")
    return navigate(request, reverse("portal:project-members", args=[project.uuid]))


@login_required
@require_GET
def project_timeline(request: HtmxHttpRequest, project_id):
    """What happened in the project, newest first."""
    project = project_for(request, project_id)
    events = Event.objects.for_user(request.user).filter(project=project)
    return timeline(request, events, project_context(request, project, "timeline"))
