"""Users: sign-up (with a personal organization and its default project), profile, password."""

import zoneinfo
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.db import IntegrityError, transaction

from .. import audit
from ..errors import Conflict, ServiceError
from ..models import Member, Organization, Project, User
from ..permissions import require
from ..roles import Role

DEFAULT_PROJECT_NAME = "Default project"


def _validate_timezone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise ServiceError(f"Unknown time zone '{name}'.", field="timezone")
    return name


@transaction.atomic
def create_user(
    *,
    email: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    timezone_name: str = "UTC",
    is_staff: bool = False,
) -> User:
    """Sign a user up: the account, a personal organization they own, and a default project."""
    email = User.objects.normalize_email((email or "").strip()).lower()
    if not email or "@" not in email:
        raise ServiceError("Enter a valid e-mail address.", field="email")
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict("An account with this e-mail address already exists.", field="email")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email,
                password,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                timezone=_validate_timezone(timezone_name),
                is_staff=is_staff,
            )
    except IntegrityError as exc:  # a concurrent sign-up with the same address won
        raise Conflict(
            "An account with this e-mail address already exists.", field="email"
        ) from exc
    organization = Organization.objects.create(
        name=f"{user.full_name}'s organization", personal=True
    )
    Member.objects.create(organization=organization, user=user, role=Role.OWNER)
    project = Project.objects.create(organization=organization, name=DEFAULT_PROJECT_NAME)
    audit.record(
        "user.created",
        actor=user,
        text="{actor} signed up",
        user=user,
        organization=organization,
        objects=[user, project],
    )
    return user


@transaction.atomic
def update_profile(
    *,
    user: User,
    acting_user: User,
    first_name: str | None = None,
    last_name: str | None = None,
    timezone_name: str | None = None,
) -> User:
    """Change a user's name or time zone (only the user themself)."""
    require(user.pk == acting_user.pk, "You can only change your own profile.")
    if first_name is not None:
        user.first_name = first_name.strip()[:150]
    if last_name is not None:
        user.last_name = last_name.strip()[:150]
    if timezone_name is not None:
        user.timezone = _validate_timezone(timezone_name)
    user.save(update_fields=["first_name", "last_name", "timezone", "updated_at"])
    audit.record(
        "user.updated",
        actor=acting_user,
        text="{actor} updated their profile",
        user=user,
        objects=[user],
    )
    return user


@transaction.atomic
def record_password_change(*, user: User, reset: bool = False) -> None:
    """Audit a password change (the change itself is Django's auth forms)."""
    text = "{actor} reset their password" if reset else "{actor} changed their password"
    audit.record("user.password_changed", actor=user, text=text, user=user, objects=[user])


def send_password_reset(*, email: str) -> None:
    """E-mail a reset link to the active account using `email`, if there is one.

    A worker runs this (portal.tasks), so the reset page answers alike, in the same time,
    whether or not the account exists. The link is built on SITE_URL, never on the Host
    header of whoever asked."""
    form = PasswordResetForm({"email": email})
    if not form.is_valid():
        return
    form.save(
        domain_override=urlsplit(settings.SITE_URL).netloc,
        use_https=settings.SITE_URL.startswith("https:"),
        subject_template_name="portal/email/password_reset_subject.txt",
        email_template_name="portal/email/password_reset.txt",
        extra_email_context={"site_url": settings.SITE_URL},
    )


def default_project_for(user: User) -> Project | None:
    """The first project the user can see, preferring their personal organization's."""
    return (
        Project.objects.for_user(user)
        .order_by("-organization__personal", "created_at", "pk")
        .select_related("organization")
        .first()
    )
