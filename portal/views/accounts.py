"""Accounts: signing up and in, password reset and change, the profile, the home page, and the
invitations waiting for the user."""

import unicodedata
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import get_usage

from .. import audit, forms, services, tasks, tokens
from ..htmx import HtmxHttpRequest, navigate, render_page_or_fragment
from ..models import Invitation, Organization
from .pages import account_context, perform, safe_next, submit


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
    next_url = safe_next(request, reverse("portal:home"))
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
        request, "portal/profile.html", "profile-form", {"form": form, **account_context("profile")}
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
        {"form": form, **account_context("password")},
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
        {"invitations": invitations, **account_context("invitations")},
    )


@login_required
@require_POST
def invitation_answer(request: HtmxHttpRequest, invitation_id, answer: str):
    """Accept or decline one of my invitations (my e-mail address proves it is mine)."""
    if answer not in ("accept", "decline"):
        raise Http404
    invitation = get_object_or_404(
        Invitation.objects.for_user(request.user).select_related("organization"), uuid=invitation_id
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
