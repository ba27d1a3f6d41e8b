"""Tenancy: users, organizations and their members, projects, invitations, API keys, SSH keys
and the audit timeline."""

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from .crypto import EncryptedTextField
from .querysets import (
    ApiKeyQuerySet,
    EventQuerySet,
    InvitationQuerySet,
    MemberQuerySet,
    OrganizationQuerySet,
    ProjectMembershipQuerySet,
    ProjectQuerySet,
    SSHKeyQuerySet,
)
from .roles import ORG_ADMINS, Role


class UUIDModel(models.Model):
    """Public identity is a UUID (in URLs and the API); the integer key stays internal."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @property
    def short_id(self) -> str:
        return self.uuid.hex[:8]


class UserManager(BaseUserManager):
    """Users log in with their e-mail address, compared case-insensitively."""

    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)

    def reaching_project(self, project):
        """Users who can see `project`: its organization's owners/admins and assigned people."""
        from .querysets import users_reaching_project_q

        return self.filter(users_reaching_project_q(project))

    def create_user(self, email, password=None, **extra):
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(UUIDModel, AbstractBaseUser, PermissionsMixin):
    """A person who signs in to the portal or calls the API with one of their keys."""

    # Stored lower-cased by UserManager, so plain uniqueness is case-insensitive.
    email = models.EmailField("e-mail address", unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    is_staff = models.BooleanField(
        default=False, help_text="Operators: manage the inventory and see every tenant."
    )
    is_active = models.BooleanField(default=True)
    last_login_ip = models.GenericIPAddressField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email.split("@")[0]

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.first_name or self.email


class Organization(UUIDModel):
    """A team: owns projects and has members with roles."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    website = models.URLField(blank=True)
    twitter = models.CharField(max_length=64, blank=True)
    customdata = models.JSONField(default=dict, blank=True)
    personal = models.BooleanField(default=False, help_text="Created at sign-up for one user.")

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class Member(UUIDModel):
    """A user's role in an organization. (Limited) collaborators reach assigned projects only."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)

    objects = MemberQuerySet.as_manager()

    class Meta:
        ordering = ["organization_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="member_unique_user"),
            # One primary owner per organization, as on Equinix Metal.
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(role=Role.OWNER),
                name="member_one_owner",
            ),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="member_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.organization}"

    @property
    def is_admin(self) -> bool:
        return self.role in ORG_ADMINS


class Project(UUIDModel):
    """Where servers, IPs and project keys live; collaborators are assigned per project."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="projects"
    )
    name = models.CharField(max_length=80)
    customdata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    backend_transfer_enabled = models.BooleanField(default=False)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class ProjectMembership(UUIDModel):
    """Assigns a (limited) collaborator to a project. Owners and admins reach every project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="project_memberships")

    objects = ProjectMembershipQuerySet.as_manager()

    class Meta:
        ordering = ["project_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "member"], name="projectmembership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.member.user} in {self.project}"


class Invitation(UUIDModel):
    """An e-mailed offer to join an organization with a role (and projects, for collaborators)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        REVOKED = "revoked"
        EXPIRED = "expired"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    invitee = models.EmailField()
    role = models.CharField(max_length=32, choices=Role.invitable_choices())
    projects = models.ManyToManyField(Project, blank=True, related_name="invitations")
    message = models.TextField(blank=True)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="invitations_sent"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The link's secret is stored only as an HMAC digest, like API tokens.
    token_digest = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    sent_count = models.PositiveIntegerField(default=1)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("invitee"),
                condition=models.Q(status="pending"),
                name="invitation_one_pending_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invitee} to {self.organization}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at > timezone.now()


class ApiKey(UUIDModel):
    """An API token: the user's reach, optionally narrowed to one project and to reading."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    description = models.CharField(max_length=200, blank=True)
    read_only = models.BooleanField(default=False)
    lookup = models.CharField(max_length=8, unique=True)
    digest = models.CharField(max_length=64)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.lookup}… ({self.description or 'no description'})"

    @property
    def masked(self) -> str:
        from .tokens import TOKEN_PREFIX

        return f"{TOKEN_PREFIX}{self.lookup}{'•' * 8}"


class SSHKey(UUIDModel):
    """A public key installed on new servers: a user's own, or shared by a project."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="ssh_keys"
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="ssh_keys"
    )
    label = models.CharField(max_length=100)
    key = models.TextField()
    key_type = models.CharField(max_length=32)
    fingerprint = models.CharField(max_length=64, help_text="MD5, colon-separated (Metal style).")
    fingerprint_sha256 = models.CharField(max_length=64)
    tags = models.JSONField(default=list, blank=True)

    objects = SSHKeyQuerySet.as_manager()

    class Meta:
        ordering = ["label", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=True) ^ models.Q(project__isnull=True),
                name="sshkey_one_owner",
            ),
            models.UniqueConstraint(
                fields=["user", "fingerprint"],
                condition=models.Q(user__isnull=False),
                name="sshkey_unique_per_user",
            ),
            models.UniqueConstraint(
                fields=["project", "fingerprint"],
                condition=models.Q(project__isnull=False),
                name="sshkey_unique_per_project",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class Event(UUIDModel):
    """One audit record: who did what, when, from where, to which objects (Metal's Event)."""

    type = models.CharField(max_length=100, db_index=True)
    body = models.TextField()
    interpolated = models.TextField()
    state = models.CharField(max_length=32, default="success")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    # Personal events (own SSH keys and API keys, profile) belong to their user's timeline.
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="personal_events"
    )
    modified_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    via = models.CharField(max_length=16, blank=True, help_text="web, api, cli or system")

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["project", "-created_at"]),
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["user", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.interpolated


class EventRelation(models.Model):
    """An object an event involves; its href is frozen at record time, like the event."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="relations")
    kind = models.CharField(max_length=32)
    object_id = models.UUIDField()
    href = models.CharField(max_length=200)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["kind", "object_id"])]

    def __str__(self) -> str:
        return self.href


class IdempotencyKey(models.Model):
    """A Metal API POST's `Idempotency-Key` and the response it produced, replayed to the same
    caller sending the same request again until the key expires (24 h, swept by beat)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of method, path and canonical JSON body: a reused key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    # Null only inside the claiming request's transaction, so no other request ever sees it.
    status = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    # Encrypted: a replayed response may carry a secret shown once (a new API key's token).
    body = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotencykey_unique_per_user")
        ]

    def __str__(self) -> str:
        return self.key
