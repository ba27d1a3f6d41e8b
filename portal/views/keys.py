"""API keys and SSH keys, the user's own and a project's."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .. import forms, services
from ..htmx import HtmxHttpRequest, navigate, render_page_or_fragment
from ..models import ApiKey, Project, SSHKey
from ..permissions import can_manage_project
from .pages import account_context, forbid_unless, perform, project_context, project_for, submit


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
    return _api_keys(request, None, account_context("api-keys"))


@login_required
@require_http_methods(["GET", "POST"])
def project_api_keys(request: HtmxHttpRequest, project_id):
    """The project's API keys (owners, admins and collaborators)."""
    project = project_for(request, project_id)
    context = project_context(request, project, "api-keys")
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
    project = project_for(request, project_id)
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
        {**context, "keys": keys, "form": form, "may_add": may_add},
    )


@login_required
@require_http_methods(["GET", "POST"])
def ssh_keys(request: HtmxHttpRequest):
    """The user's personal SSH keys."""
    return _ssh_keys(request, None, account_context("ssh-keys"), may_add=True)


@login_required
@require_http_methods(["GET", "POST"])
def project_ssh_keys(request: HtmxHttpRequest, project_id):
    """Keys shared by everyone deploying in the project."""
    project = project_for(request, project_id)
    context = project_context(request, project, "ssh-keys")
    return _ssh_keys(request, project, context, may_add=context["can_manage"])


def _ssh_key_for_change(request, key_id) -> tuple[SSHKey, dict, str]:
    """A visible key the user may change (else 404 / 403), its page context and list URL."""
    key = get_object_or_404(
        SSHKey.objects.for_user(request.user).select_related("project__organization"), uuid=key_id
    )
    if key.project is not None:
        context = project_context(request, key.project, "ssh-keys")
        request.current_org = key.project.organization
        forbid_unless(context["can_manage"])
        back = reverse("portal:project-ssh-keys", args=[key.project.uuid])
    else:
        forbid_unless(key.user_id == request.user.pk)
        context, back = account_context("ssh-keys"), reverse("portal:ssh-keys")
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
