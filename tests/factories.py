"""Explicit factory functions: each builds through the same services the product uses."""

from portal import services
from portal.models import Member, Organization, Project, ProjectMembership, User
from portal.roles import Role

PASSWORD = "correct horse battery staple"


def make_user(email: str, *, first_name: str = "", staff: bool = False) -> User:
    """A signed-up user (personal organization and default project included)."""
    return services.create_user(
        email=email,
        password=PASSWORD,
        first_name=first_name or email.split("@")[0].title(),
        is_staff=staff,
    )


def make_org(owner: User, name: str = "Acme") -> Organization:
    return services.create_organization(name=name, acting_user=owner)


def make_project(org: Organization, name: str = "web", *, by: User | None = None) -> Project:
    owner = by or org.members.get(role=Role.OWNER).user
    return services.create_project(organization=org, name=name, acting_user=owner)


def add_member(org: Organization, user: User, role: str, projects=()) -> Member:
    """Put a user in an organization directly (the invitation flow has its own tests)."""
    member = Member.objects.create(organization=org, user=user, role=role)
    for project in projects:
        ProjectMembership.objects.create(project=project, member=member)
    return member


def make_token(user: User, *, project: Project | None = None, read_only: bool = False) -> str:
    _, token = services.create_api_key(
        acting_user=user, project=project, read_only=read_only, description="test"
    )
    return token


def new_ssh_public_key(comment: str = "test@example") -> str:
    """A fresh, valid OpenSSH ed25519 public key line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return f"{public.decode()} {comment}"


def tampered(token: str) -> str:
    """The token with its last character changed (always to a different one)."""
    return token[:-1] + ("y" if token.endswith("x") else "x")
