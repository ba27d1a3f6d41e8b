"""API keys and SSH keys."""

from django.db import IntegrityError, transaction

from .. import audit, limits, sshkeys, tokens
from ..errors import Conflict, ServiceError
from ..models import ApiKey, Project, SSHKey, User
from ..permissions import can_manage_project, require
from .names import clean_name


@transaction.atomic
def create_api_key(
    *,
    acting_user: User,
    project: Project | None = None,
    read_only: bool = False,
    description: str = "",
) -> tuple[ApiKey, str]:
    """Create a user key, or a project key (project managers); returns the key and its secret,
    which is never shown again."""
    if project is not None:
        require(
            can_manage_project(acting_user, project),
            "Only owners, admins and collaborators can create project API keys.",
        )
    token, lookup, digest = tokens.generate()
    key = ApiKey.objects.create(
        user=acting_user,
        project=project,
        read_only=bool(read_only),
        description=(description or "").strip()[:200],
        lookup=lookup,
        digest=digest,
    )
    scope = f"project {project.name}" if project else "their account"
    access = "read-only" if key.read_only else "read/write"
    audit.record(
        "api_key.created",
        actor=acting_user,
        text=f"{{actor}} created a {access} API key for {scope}",
        project=project,
        user=None if project else acting_user,
        objects=[key],
    )
    return key, token


@transaction.atomic
def delete_api_key(*, key: ApiKey, acting_user: User) -> None:
    """Revoke a key at once: its own user, or a manager of its project."""
    if key.project is not None:
        allowed = key.user_id == acting_user.pk or can_manage_project(acting_user, key.project)
    else:
        allowed = key.user_id == acting_user.pk
    require(allowed, "You cannot delete this API key.")
    audit.record(
        "api_key.deleted",
        actor=acting_user,
        text=f"{{actor}} deleted API key {key.lookup}…",
        project=key.project,
        user=None if key.project else acting_user,
        objects=[key],
    )
    key.delete()


def _parse_key(text: str) -> sshkeys.ParsedKey:
    try:
        return sshkeys.parse(text)
    except sshkeys.InvalidSSHKey as exc:
        raise ServiceError(str(exc), field="key") from exc


def _save_ssh_key(ssh_key: SSHKey) -> None:
    try:
        with transaction.atomic():
            ssh_key.save()
    except IntegrityError as exc:
        raise Conflict("This key has already been added.", field="key") from exc


@transaction.atomic
def create_ssh_key(
    *, acting_user: User, label: str, key: str, tags=None, project: Project | None = None
) -> SSHKey:
    """Add a personal key, or a project key (project managers)."""
    if project is not None:
        require(
            can_manage_project(acting_user, project),
            "Only owners, admins and collaborators can add project SSH keys.",
        )
    parsed = _parse_key(key)
    label = (label or "").strip() or parsed.comment or parsed.key_type
    ssh_key = SSHKey(
        user=None if project else acting_user,
        project=project,
        label=clean_name(label, field="label", what="Key", max_length=100),
        key=parsed.key,
        key_type=parsed.key_type,
        fingerprint=parsed.fingerprint_md5,
        fingerprint_sha256=parsed.fingerprint_sha256,
        tags=limits.clean_tags(tags),
    )
    _save_ssh_key(ssh_key)
    audit.record(
        "ssh_key.created",
        actor=acting_user,
        text=f"{{actor}} added SSH key {ssh_key.label}",
        project=project,
        user=None if project else acting_user,
        objects=[ssh_key],
    )
    return ssh_key


def _require_ssh_key_write(ssh_key: SSHKey, acting_user: User) -> None:
    if ssh_key.project is not None:
        require(
            can_manage_project(acting_user, ssh_key.project),
            "Only owners, admins and collaborators can change project SSH keys.",
        )
    else:
        require(ssh_key.user_id == acting_user.pk, "You can only change your own SSH keys.")


@transaction.atomic
def update_ssh_key(
    *,
    ssh_key: SSHKey,
    acting_user: User,
    label: str | None = None,
    key: str | None = None,
    tags=None,
) -> SSHKey:
    """Relabel, re-tag or replace a key."""
    _require_ssh_key_write(ssh_key, acting_user)
    if label is not None:
        ssh_key.label = clean_name(label, field="label", what="Key", max_length=100)
    if key is not None and key.strip() != ssh_key.key:
        parsed = _parse_key(key)
        ssh_key.key, ssh_key.key_type = parsed.key, parsed.key_type
        ssh_key.fingerprint = parsed.fingerprint_md5
        ssh_key.fingerprint_sha256 = parsed.fingerprint_sha256
    if tags is not None:
        ssh_key.tags = limits.clean_tags(tags)
    _save_ssh_key(ssh_key)
    audit.record(
        "ssh_key.updated",
        actor=acting_user,
        text=f"{{actor}} updated SSH key {ssh_key.label}",
        project=ssh_key.project,
        user=ssh_key.user,
        objects=[ssh_key],
    )
    return ssh_key


@transaction.atomic
def delete_ssh_key(*, ssh_key: SSHKey, acting_user: User) -> None:
    """Remove a key; servers already deployed keep it in their authorized_keys."""
    _require_ssh_key_write(ssh_key, acting_user)
    audit.record(
        "ssh_key.deleted",
        actor=acting_user,
        text=f"{{actor}} removed SSH key {ssh_key.label}",
        project=ssh_key.project,
        user=ssh_key.user,
        objects=[ssh_key],
    )
    ssh_key.delete()
