"""An organization's team: members and their roles, invitations."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .. import forms, services
from ..htmx import HtmxHttpRequest, navigate, render_page_or_fragment
from ..models import Invitation, Member, Organization, ProjectMembership
from ..permissions import org_role
from ..roles import ASSIGNED_ROLES, ORG_ADMINS, Role
from .pages import (
    CURRENT_ORG_SESSION_KEY,
    forbid_unless,
    org_context,
    organization_for,
    perform,
    submit,
)


def _team_context(request, org: Organization, *, invite_form=None) -> dict:
    context = org_context(request, org, "team")
    members = (
        Member.objects.for_user(request.user)
        .filter(organization=org)
        .select_related("user")
        .prefetch_related(
            Prefetch(
                "project_memberships", queryset=ProjectMembership.objects.select_related("project")
            )
        )
        .order_by("user__email")
    )
    members = list(members)
    for member in members:
        member.assigned_ids = {pm.project_id for pm in member.project_memberships.all()}
    org_projects = list(org.projects.order_by("name", "pk"))
    context.update(
        members=members,
        org_projects=org_projects,
        roles=Role.invitable_choices(),
        assigned_roles=sorted(ASSIGNED_ROLES),
    )
    if context["is_org_admin"]:
        context["invitations"] = (
            org.invitations.filter(status=Invitation.Status.PENDING)
            .select_related("invited_by")
            .prefetch_related("projects")
        )
        context["invite_form"] = invite_form or forms.InviteForm(organization=org)
    return context


@login_required
@require_GET
def org_team(request, org_id):
    """Members and their roles; owners and admins also manage them and the invitations."""
    org = organization_for(request, org_id)
    return render(request, "portal/org_team.html", _team_context(request, org))


@login_required
@require_POST
def org_invite(request: HtmxHttpRequest, org_id):
    """Invite someone by e-mail (owner or admin)."""
    org = organization_for(request, org_id)
    forbid_unless(org_role(request.user, org) in ORG_ADMINS)
    form = forms.InviteForm(request.POST, organization=org)
    if form.is_valid():
        ok, _ = submit(
            form,
            services.invite_member,
            organization=org,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if ok:
            messages.success(request, f"Invitation sent to {form.cleaned_data['invitee']}.")
            return navigate(request, reverse("portal:org-team", args=[org.uuid]))
    return render_page_or_fragment(
        request,
        "portal/org_team.html",
        "invite-form",
        _team_context(request, org, invite_form=form),
    )


def _org_member(request, org_id, member_id) -> tuple[Organization, Member]:
    org = organization_for(request, org_id)
    member = get_object_or_404(
        Member.objects.for_user(request.user).filter(organization=org).select_related("user"),
        uuid=member_id,
    )
    return org, member


@login_required
@require_POST
def member_update(request: HtmxHttpRequest, org_id, member_id):
    """Change a member's role and collaborator projects (owner or admin)."""
    org, member = _org_member(request, org_id, member_id)
    forbid_unless(org_role(request.user, org) in ORG_ADMINS)
    form = forms.MemberForm(request.POST, organization=org)
    if form.is_valid():
        ok, _ = submit(
            form,
            services.update_member,
            member=member,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if ok:
            messages.success(
                request, f"{member.user.full_name} is now {member.get_role_display()}."
            )
    # The row's form lives inside the team list, so its errors are shown as messages there.
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, f"{member.user.full_name}: {error}")
    return navigate(request, reverse("portal:org-team", args=[org.uuid]))


@login_required
@require_POST
def member_remove(request: HtmxHttpRequest, org_id, member_id):
    """Remove a member (owner or admin), or leave the organization yourself."""
    org, member = _org_member(request, org_id, member_id)
    leaving = member.user_id == request.user.pk
    forbid_unless(leaving or org_role(request.user, org) in ORG_ADMINS)
    if perform(request, services.remove_member, member=member, acting_user=request.user):
        if leaving:
            request.session.pop(CURRENT_ORG_SESSION_KEY, None)
            messages.success(request, f"You left {org.name}.")
            return navigate(request, reverse("portal:home"))
        messages.success(request, f"{member.user.full_name} was removed from {org.name}.")
    return navigate(request, reverse("portal:org-team", args=[org.uuid]))


def _org_invitation(request, org_id, invitation_id) -> tuple[Organization, Invitation]:
    org = organization_for(request, org_id)
    forbid_unless(org_role(request.user, org) in ORG_ADMINS)
    invitation = get_object_or_404(
        Invitation.objects.for_user(request.user).filter(organization=org), uuid=invitation_id
    )
    return org, invitation


@login_required
@require_POST
def invitation_resend(request: HtmxHttpRequest, org_id, invitation_id):
    """Send a fresh link; the old one stops working (owner or admin)."""
    org, invitation = _org_invitation(request, org_id, invitation_id)
    if perform(
        request, services.resend_invitation, invitation=invitation, acting_user=request.user
    ):
        messages.success(request, f"Invitation resent to {invitation.invitee}.")
    return navigate(request, reverse("portal:org-team", args=[org.uuid]))


@login_required
@require_POST
def invitation_revoke(request: HtmxHttpRequest, org_id, invitation_id):
    """Withdraw a pending invitation (owner or admin)."""
    org, invitation = _org_invitation(request, org_id, invitation_id)
    if perform(
        request, services.revoke_invitation, invitation=invitation, acting_user=request.user
    ):
        messages.success(request, f"Invitation to {invitation.invitee} revoked.")
    return navigate(request, reverse("portal:org-team", args=[org.uuid]))
