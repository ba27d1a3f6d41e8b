"""Portal pages: plain function views over the services, rendered whole or as htmx fragments.

Every page starts from a `for_user()` queryset (not visible → 404); role checks give 403 before
anything is written, and the services re-check. POST → form → service → errors onto the form.
"""

import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import get_usage

from . import audit, forms, panels, services, tasks, tokens
from .api.errors import json_404, json_500, json_errors, too_big_message
from .errors import Forbidden, ServiceError
from .htmx import HtmxHttpRequest, navigate, render_page_or_fragment
from .models import (
    ApiKey,
    Event,
    Invitation,
    Member,
    Organization,
    Project,
    ProjectMembership,
    SSHKey,
)
from .permissions import (
    can_manage_project,
    org_role,
    project_role,
)
from .roles import ASSIGNED_ROLES, ORG_ADMINS, PROJECT_MANAGERS, Role

EVENTS_PER_PAGE = 25
CURRENT_ORG_SESSION_KEY = "current_org"


# Shared plumbing


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


def _organization(request, org_id) -> Organization:
    """The organization if the user belongs to it (else 404); it becomes the switcher's pick."""
    org = get_object_or_404(Organization.objects.for_user(request.user), uuid=org_id)
    request.current_org = org
    request.session[CURRENT_ORG_SESSION_KEY] = str(org.uuid)
    return org


def _project(request, project_id) -> Project:
    """The project if the user can see it (else 404)."""
    project = get_object_or_404(
        Project.objects.for_user(request.user).select_related("organization"), uuid=project_id
    )
    request.current_org = project.organization
    request.session[CURRENT_ORG_SESSION_KEY] = str(project.organization.uuid)
    return project


def _org_context(request, org: Organization, tab: str) -> dict:
    role = org_role(request.user, org)
    return {
        "org": org,
        "org_role": role,
        "is_org_admin": role in ORG_ADMINS,
        "is_org_owner": role == Role.OWNER,
        "tab": tab,
    }


def _project_context(request, project: Project, tab: str) -> dict:
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


def _account_context(tab: str) -> dict:
    return {"tab": tab, "shell": "portal/account_base.html"}


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


def _page(request, rows, per_page: int = EVENTS_PER_PAGE):
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


# Error pages


def bad_request(request, exception=None):
    """400, or 413 for a body over the upload limits: JSON for the API, a page for people.

    Rendered without the request's context, as Django's own 400 is: the request may be what is
    wrong (a disallowed Host)."""
    too_big = isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent)
    status = 413 if too_big else 400
    if request.path.startswith("/metal/v1/"):
        return json_errors(status, too_big_message() if too_big else "Bad request")
    return HttpResponse(render_to_string("400.html", {"too_big": too_big}), status=status)


def not_found(request, exception=None):
    """404: JSON for the API, a page for people."""
    if request.path.startswith("/metal/v1/"):
        return json_404(request, exception)
    return render(request, "404.html", status=404)


def server_error(request):
    """500: JSON for the API; a page that needs neither the database nor the session."""
    if request.path.startswith("/metal/v1/"):
        return json_500(request)
    return HttpResponse(render_to_string("500.html"), status=500)


# Accounts


def _login_usage(request, group: str, key: Callable, rate: str, *, increment: bool) -> bool:
    usage = get_usage(request, group=group, key=key, rate=rate, increment=increment)
    return usage is not None and usage["count"] >= usage["limit"]


def _login_blocked(request, *, count_failure: bool = False) -> bool:
    """Failed logins are counted per client address and per account; past the rate, refuse."""
    email = (request.POST.get("username") or "").strip().lower()
    checks = [
        ("login-ip", lambda g, r: audit.client_ip(r) or "unknown", settings.LOGIN_RATE_PER_IP),
        ("login-account", lambda g, r: email, settings.LOGIN_RATE_PER_ACCOUNT),
    ]
    blocked = [
        _login_usage(request, group, key, rate, increment=count_failure)
        for group, key, rate in checks
    ]
    return any(blocked)


@require_http_methods(["GET", "POST"])
def login_view(request: HtmxHttpRequest):
    """Sign in with e-mail and password; repeated failures are refused for a while."""
    next_url = _safe_next(request, reverse("portal:home"))
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url)
    form = forms.LoginForm(request, data=request.POST or None)
    blocked = request.method == "POST" and _login_blocked(request)
    if blocked:
        # Refused before the password is checked, so a guesser learns nothing from the answer.
        form = forms.LoginForm(request, initial={"username": request.POST.get("username")})
    elif request.method == "POST":
        if form.is_valid():
            login(request, form.get_user())
            return navigate(request, next_url)
        _login_blocked(request, count_failure=True)
    return render_page_or_fragment(
        request,
        "portal/login.html",
        "login-form",
        {"form": form, "next": next_url, "blocked": blocked},
        status=429 if blocked else 200,
    )


def _reset_blocked(request) -> bool:
    """Reset requests are counted per client address and per address asked about, whether it
    has an account or not (so a refusal says nothing about the account); past either, refuse."""
    # Folded as Django's PasswordResetForm matches addresses, so no spelling of one address
    # (ALICE@, ſ for s) gets a counter of its own.
    email = unicodedata.normalize("NFKC", request.POST.get("email") or "").strip().casefold()
    checks = [
        (
            "password-reset-ip",
            lambda g, r: audit.client_ip(r) or "unknown",
            settings.PASSWORD_RESET_RATE_PER_IP,
        ),
        ("password-reset-account", lambda g, r: email, settings.PASSWORD_RESET_RATE_PER_ACCOUNT),
    ]
    # Every request counts, the refused ones too: both counters, before anything is looked up.
    usages = [
        get_usage(request, group=group, key=key, rate=rate, increment=True)
        for group, key, rate in checks
    ]
    return any(usage is not None and usage["should_limit"] for usage in usages)


@require_http_methods(["GET", "POST"])
def password_reset(request: HtmxHttpRequest):
    """Ask for a reset link by e-mail. The answer never depends on whether the address has an
    account: the same redirect (or the same refusal past the rate limits), and the account is
    looked up and mailed by a worker, so the answer takes the same time too."""
    form = forms.RequestPasswordResetForm(request.POST or None)
    blocked = request.method == "POST" and _reset_blocked(request)
    if blocked:
        form = forms.RequestPasswordResetForm(initial={"email": request.POST.get("email")})
    elif request.method == "POST" and form.is_valid():
        tasks.send_password_reset.delay_on_commit(form.cleaned_data["email"])
        return redirect("portal:password-reset-done")
    return render(
        request,
        "portal/password_reset_form.html",
        {"form": form, "blocked": blocked},
        status=429 if blocked else 200,
    )


@require_POST
def logout_view(request):
    """Sign out (POST only, so a link cannot sign anyone out)."""
    logout(request)
    return redirect("portal:login")


def _invitation_from_link(invitation_id, token) -> Invitation:
    """The invitation a link names, only when the link's secret matches (else 404)."""
    try:
        invitation_id = uuid.UUID(str(invitation_id))
    except ValueError as exc:
        raise Http404 from exc
    invitation = get_object_or_404(
        Invitation.objects.select_related("organization", "invited_by"), uuid=invitation_id
    )
    if not tokens.matches(token, invitation.token_digest):
        raise Http404
    return invitation


@require_http_methods(["GET", "POST"])
def signup(request: HtmxHttpRequest):
    """Create an account (and, from an invitation link, accept it straight away)."""
    if request.user.is_authenticated:
        return redirect("portal:home")
    invitation_id, token = request.GET.get("invitation"), request.GET.get("token", "")
    invitation = _invitation_from_link(invitation_id, token) if invitation_id else None
    initial = {"email": invitation.invitee} if invitation else {}
    form = forms.SignupForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok, user = submit(
            form,
            services.create_user,
            email=data["email"],
            password=data["password1"],
            first_name=data["first_name"],
            last_name=data["last_name"],
        )
        if ok:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            target = reverse("portal:home")
            if invitation is not None:
                if perform(
                    request,
                    services.accept_invitation,
                    invitation=invitation,
                    user=user,
                    token=token,
                ):
                    messages.success(request, f"Welcome to {invitation.organization.name}.")
                    target = reverse("portal:org-projects", args=[invitation.organization.uuid])
            else:
                messages.success(request, "Welcome to Ironyard.")
            return navigate(request, target)
    return render_page_or_fragment(
        request, "portal/signup.html", "signup-form", {"form": form, "invitation": invitation}
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HtmxHttpRequest):
    """Name and time zone."""
    user = request.user
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "timezone_name": user.timezone,
    }
    form = forms.ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        ok, _ = submit(
            form, services.update_profile, user=user, acting_user=user, **form.cleaned_data
        )
        if ok:
            messages.success(request, "Profile saved.")
            return navigate(request, reverse("portal:profile"))
    return render_page_or_fragment(
        request,
        "portal/profile.html",
        "profile-form",
        {"form": form, **_account_context("profile")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HtmxHttpRequest):
    """Change the password (the old one proves it is you); other sessions are signed out."""
    form = forms.ChangePasswordForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        services.record_password_change(user=user)
        messages.success(request, "Password changed.")
        return navigate(request, reverse("portal:profile"))
    return render_page_or_fragment(
        request,
        "portal/password_change.html",
        "password-form",
        {"form": form, **_account_context("password")},
    )


@require_GET
def home(request):
    """Signed in: the default project (or the projects list). Otherwise: sign in."""
    if not request.user.is_authenticated:
        return redirect("portal:login")
    project = services.default_project_for(request.user)
    if project is not None:
        return redirect("portal:project", project.uuid)
    org = Organization.objects.for_user(request.user).first()
    if org is not None:
        return redirect("portal:org-projects", org.uuid)
    return redirect("portal:org-create")


# Invitations


@login_required
@require_GET
def my_invitations(request):
    """Invitations addressed to the signed-in user's e-mail address."""
    invitations = (
        Invitation.objects.addressed_to(request.user)
        .select_related("organization", "invited_by")
        .prefetch_related("projects")
    )
    return render(
        request,
        "portal/my_invitations.html",
        {"invitations": invitations, **_account_context("invitations")},
    )


@login_required
@require_POST
def invitation_answer(request: HtmxHttpRequest, invitation_id, answer: str):
    """Accept or decline one of my invitations (my e-mail address proves it is mine)."""
    if answer not in ("accept", "decline"):
        raise Http404
    invitation = get_object_or_404(
        Invitation.objects.for_user(request.user).select_related("organization"),
        uuid=invitation_id,
    )
    return _answer(
        request, invitation, answer, token=None, fallback=reverse("portal:my-invitations")
    )


def _answer(request, invitation: Invitation, answer: str, *, token, fallback: str):
    org = invitation.organization
    if answer == "accept":
        if perform(
            request,
            services.accept_invitation,
            invitation=invitation,
            user=request.user,
            token=token,
        ):
            messages.success(request, f"You joined {org.name}.")
            return navigate(request, reverse("portal:org-projects", args=[org.uuid]))
    elif perform(
        request, services.decline_invitation, invitation=invitation, user=request.user, token=token
    ):
        messages.info(request, f"You declined the invitation to {org.name}.")
    return navigate(request, fallback)


@require_http_methods(["GET", "POST"])
def invitation_respond(request: HtmxHttpRequest, invitation_id, token: str):
    """The e-mailed link: see the offer, then accept or decline (sign in or sign up first)."""
    invitation = _invitation_from_link(invitation_id, token)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('portal:login')}?next={request.path}")
        answer = "accept" if request.POST.get("answer") == "accept" else "decline"
        return _answer(request, invitation, answer, token=token, fallback=request.path)
    return render(
        request,
        "portal/invitation_respond.html",
        {
            "invitation": invitation,
            "token": token,
            "projects": invitation.projects.all(),
            "mismatch": request.user.is_authenticated
            and request.user.email.lower() != invitation.invitee.lower(),
        },
    )


# Organizations


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
    org = _organization(request, org_id)
    return redirect("portal:org-projects", org.uuid)


@login_required
@require_http_methods(["GET", "POST"])
def org_projects(request: HtmxHttpRequest, org_id):
    """The organization's projects the user can see; owners and admins create new ones here."""
    org = _organization(request, org_id)
    context = _org_context(request, org, "projects")
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
    org = _organization(request, org_id)
    context = _org_context(request, org, "settings")
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
    org = _organization(request, org_id)
    forbid_unless(org_role(request.user, org) == Role.OWNER)
    if perform(request, services.delete_organization, organization=org, acting_user=request.user):
        request.session.pop(CURRENT_ORG_SESSION_KEY, None)
        messages.success(request, f"Organization {org.name} deleted.")
        return navigate(request, reverse("portal:home"))
    return navigate(request, reverse("portal:org-settings", args=[org.uuid]))


def _team_context(request, org: Organization, *, invite_form=None) -> dict:
    context = _org_context(request, org, "team")
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
    org = _organization(request, org_id)
    return render(request, "portal/org_team.html", _team_context(request, org))


@login_required
@require_POST
def org_invite(request: HtmxHttpRequest, org_id):
    """Invite someone by e-mail (owner or admin)."""
    org = _organization(request, org_id)
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
    org = _organization(request, org_id)
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
    org = _organization(request, org_id)
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


def _timeline(request, events, context: dict) -> HttpResponse:
    page = _page(request, events.select_related("modified_by").order_by("-created_at", "-pk"))
    return render_page_or_fragment(
        request, "portal/timeline.html", "timeline", {**context, "page": page}
    )


@login_required
@require_GET
def org_timeline(request: HtmxHttpRequest, org_id):
    """Everything that happened in the organization, newest first (owner or admin)."""
    org = _organization(request, org_id)
    context = _org_context(request, org, "timeline")
    forbid_unless(context["is_org_admin"])
    events = Event.objects.for_user(request.user).filter(organization=org)
    return _timeline(request, events, {**context, "shell": "portal/org_base.html"})


# Projects


@login_required
@require_GET
def project_overview(request, project_id):
    """The project's dashboard."""
    project = _project(request, project_id)
    context = _project_context(request, project, "overview")
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
    project = _project(request, project_id)
    context = _project_context(request, project, "settings")
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
    project = _project(request, project_id)
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
    project = _project(request, project_id)
    context = _project_context(request, project, "members")
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
    project = _project(request, project_id)
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
    project = _project(request, project_id)
    events = Event.objects.for_user(request.user).filter(project=project)
    return _timeline(request, events, _project_context(request, project, "timeline"))


# API keys (personal and per project)


def _api_keys_page(
    request,
    *,
    project: Project | None,
    context: dict,
    form=None,
    created: tuple[ApiKey, str] | None = None,
) -> HttpResponse:
    keys = ApiKey.objects.for_user(request.user)
    keys = keys.filter(project=project) if project else keys.filter(project__isnull=True)
    new_key, secret = created or (None, "")
    return render_page_or_fragment(
        request,
        "portal/api_keys.html",
        "api-keys",
        {
            **context,
            "keys": keys.select_related("user"),
            "form": form or forms.ApiKeyForm(),
            "new_key": new_key,
            "secret": secret,
        },
    )


def _api_keys(request, project: Project | None, context: dict) -> HttpResponse:
    form = forms.ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        ok, created = submit(
            form,
            services.create_api_key,
            acting_user=request.user,
            project=project,
            **form.cleaned_data,
        )
        if ok:
            # The secret is in this response only; a reload shows the masked key.
            form = None
    return _api_keys_page(request, project=project, context=context, form=form, created=created)


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HtmxHttpRequest):
    """The user's personal API keys."""
    return _api_keys(request, None, _account_context("api-keys"))


@login_required
@require_http_methods(["GET", "POST"])
def project_api_keys(request: HtmxHttpRequest, project_id):
    """The project's API keys (owners, admins and collaborators)."""
    project = _project(request, project_id)
    context = _project_context(request, project, "api-keys")
    forbid_unless(context["can_manage"])
    return _api_keys(request, project, context)


def _delete_api_key(request, key: ApiKey, back: str) -> HttpResponse:
    if perform(request, services.delete_api_key, key=key, acting_user=request.user):
        messages.success(request, f"API key {key.masked} deleted; it no longer works.")
    return navigate(request, back)


@login_required
@require_POST
def api_key_delete(request: HtmxHttpRequest, key_id):
    """Revoke one of my personal keys at once."""
    key = get_object_or_404(
        ApiKey.objects.for_user(request.user).filter(project__isnull=True), uuid=key_id
    )
    return _delete_api_key(request, key, reverse("portal:api-keys"))


@login_required
@require_POST
def project_api_key_delete(request: HtmxHttpRequest, project_id, key_id):
    """Revoke a project key at once (owners, admins and collaborators)."""
    project = _project(request, project_id)
    forbid_unless(can_manage_project(request.user, project))
    key = get_object_or_404(
        ApiKey.objects.for_user(request.user).filter(project=project), uuid=key_id
    )
    return _delete_api_key(request, key, reverse("portal:project-api-keys", args=[project.uuid]))


# SSH keys (personal and per project)


def _ssh_keys(request, project: Project | None, context: dict, may_add: bool) -> HttpResponse:
    form = forms.SSHKeyForm(request.POST or None)
    back = (
        reverse("portal:project-ssh-keys", args=[project.uuid])
        if project
        else reverse("portal:ssh-keys")
    )
    if request.method == "POST":
        forbid_unless(may_add)
        if form.is_valid():
            ok, key = submit(
                form,
                services.create_ssh_key,
                acting_user=request.user,
                project=project,
                **form.cleaned_data,
            )
            if ok:
                messages.success(request, f"SSH key {key.label} added.")
                return navigate(request, back)
    keys = SSHKey.objects.for_user(request.user)
    keys = keys.filter(project=project) if project else keys.filter(user=request.user)
    return render_page_or_fragment(
        request,
        "portal/ssh_keys.html",
        "ssh-key-form",
        {
            **context,
            "keys": keys,
            "form": form,
            "may_add": may_add,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def ssh_keys(request: HtmxHttpRequest):
    """The user's personal SSH keys."""
    return _ssh_keys(request, None, _account_context("ssh-keys"), may_add=True)


@login_required
@require_http_methods(["GET", "POST"])
def project_ssh_keys(request: HtmxHttpRequest, project_id):
    """Keys shared by everyone deploying in the project."""
    project = _project(request, project_id)
    context = _project_context(request, project, "ssh-keys")
    return _ssh_keys(request, project, context, may_add=context["can_manage"])


def _ssh_key_for_change(request, key_id) -> tuple[SSHKey, dict, str]:
    """A visible key the user may change (else 404 / 403), its page context and list URL."""
    key = get_object_or_404(
        SSHKey.objects.for_user(request.user).select_related("project__organization"),
        uuid=key_id,
    )
    if key.project is not None:
        context = _project_context(request, key.project, "ssh-keys")
        request.current_org = key.project.organization
        forbid_unless(context["can_manage"])
        back = reverse("portal:project-ssh-keys", args=[key.project.uuid])
    else:
        forbid_unless(key.user_id == request.user.pk)
        context, back = _account_context("ssh-keys"), reverse("portal:ssh-keys")
    return key, context, back


@login_required
@require_http_methods(["GET", "POST"])
def ssh_key_edit(request: HtmxHttpRequest, key_id):
    """Relabel or re-tag a key."""
    key, context, back = _ssh_key_for_change(request, key_id)
    form = forms.SSHKeyEditForm(
        request.POST or None, initial={"label": key.label, "tags": key.tags}
    )
    if request.method == "POST" and form.is_valid():
        ok, _ = submit(
            form,
            services.update_ssh_key,
            ssh_key=key,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if ok:
            messages.success(request, f"SSH key {key.label} saved.")
            return navigate(request, back)
    return render_page_or_fragment(
        request,
        "portal/ssh_key_edit.html",
        "ssh-key-form",
        {**context, "key": key, "form": form, "back": back},
    )


@login_required
@require_POST
def ssh_key_delete(request: HtmxHttpRequest, key_id):
    """Remove a key (servers already deployed keep it)."""
    key, _, back = _ssh_key_for_change(request, key_id)
    if perform(request, services.delete_ssh_key, ssh_key=key, acting_user=request.user):
        messages.success(request, f"SSH key {key.label} removed.")
    return navigate(request, back)
