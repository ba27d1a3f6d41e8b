"""Page forms: they validate shape and narrow choices; the services decide and write."""

import zoneinfo
from functools import cache

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)

from . import services
from .roles import Role


@cache
def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


def _member_role_choices() -> list[tuple[str, str]]:
    # There is one owner per organization: nobody is given the role from a form.
    return Role.invitable_choices()


class BootstrapMixin:
    """Bootstrap classes on every widget, and `is-invalid` on the fields that failed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = css

    def add_error(self, field, error):
        # Both validation and services' refusals (added after cleaning) come through here.
        super().add_error(field, error)
        for name in self._errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                if "is-invalid" not in attrs["class"]:
                    attrs["class"] += " is-invalid"


class LoginForm(BootstrapMixin, AuthenticationForm):
    """E-mail and password."""

    username = forms.EmailField(
        label="E-mail address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class SignupForm(BootstrapMixin, forms.Form):
    """A new account: e-mail, name and a password typed twice."""

    email = forms.EmailField(
        label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    first_name = forms.CharField(
        label="First name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label="Last name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            from .models import User

            probe = User(
                email=data.get("email", ""),
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
            )
            try:
                password_validation.validate_password(first, probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class ChangePasswordForm(BootstrapMixin, PasswordChangeForm):
    """Django's password change form, styled."""


class RequestPasswordResetForm(BootstrapMixin, PasswordResetForm):
    """Django's "e-mail me a reset link" form, styled."""


class ResetPasswordForm(BootstrapMixin, SetPasswordForm):
    """Django's set-password form that also writes the audit event."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        services.record_password_change(user=user, reset=True)
        return user


class ProfileForm(BootstrapMixin, forms.Form):
    """Name and time zone."""

    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    timezone_name = forms.ChoiceField(label="Time zone", choices=_timezone_choices)


class OrganizationForm(BootstrapMixin, forms.Form):
    """An organization's general settings."""

    name = forms.CharField(label="Name", max_length=100)
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    website = forms.URLField(label="Website", required=False, assume_scheme="https")


class ProjectForm(BootstrapMixin, forms.Form):
    """A project's name."""

    name = forms.CharField(label="Project name", max_length=80)


class _ProjectsField(forms.ModelMultipleChoiceField):
    """Projects by UUID (integer keys stay internal), labelled by name."""

    def __init__(self, **kwargs):
        super().__init__(to_field_name="uuid", **kwargs)

    def label_from_instance(self, obj):
        return obj.name


class _OrgProjectsMixin:
    """Collaborator roles need projects: offer the organization's projects only."""

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["projects"].queryset = organization.projects.order_by("name", "pk")


class InviteForm(_OrgProjectsMixin, BootstrapMixin, forms.Form):
    """Invite an e-mail address with a role (and projects for collaborators)."""

    invitee = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(label="Role", choices=_member_role_choices)
    projects = _ProjectsField(
        label="Projects (for collaborators)",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    message = forms.CharField(
        label="Message", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class MemberForm(_OrgProjectsMixin, BootstrapMixin, forms.Form):
    """Change a member's role and collaborator projects."""

    role = forms.ChoiceField(label="Role", choices=_member_role_choices)
    projects = _ProjectsField(
        label="Projects (for collaborators)",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class ApiKeyForm(BootstrapMixin, forms.Form):
    """A new API key."""

    description = forms.CharField(label="Description", max_length=200, required=False)
    read_only = forms.BooleanField(label="Read-only", required=False)


class TagsField(forms.CharField):
    """Comma-separated tags into a list (the service trims and de-duplicates)."""

    def to_python(self, value):
        return [tag.strip() for tag in (super().to_python(value) or "").split(",") if tag.strip()]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class SSHKeyForm(BootstrapMixin, forms.Form):
    """A new public key."""

    label = forms.CharField(
        label="Label", max_length=100, required=False, help_text="Defaults to the key's comment."
    )
    key = forms.CharField(
        label="Public key",
        strip=True,
        widget=forms.Textarea(
            attrs={"rows": 3, "spellcheck": "false", "placeholder": "ssh-ed25519 AAAA… you@laptop"}
        ),
    )
    tags = TagsField(label="Tags", required=False, help_text="Comma-separated.")


class SSHKeyEditForm(BootstrapMixin, forms.Form):
    """A key's label and tags."""

    label = forms.CharField(label="Label", max_length=100)
    tags = TagsField(label="Tags", required=False, help_text="Comma-separated.")
