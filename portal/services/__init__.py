"""Every tenancy write: one transaction, a permission re-check, an audit event, side effects on
commit. Pages, the API and management commands all call these; one module per part of the
tenancy, every service named here."""

from .invitations import (
    accept_invitation,
    decline_invitation,
    expire_invitations,
    invite_member,
    resend_invitation,
    revoke_invitation,
)
from .keys import create_api_key, create_ssh_key, delete_api_key, delete_ssh_key, update_ssh_key
from .members import (
    remove_member,
    remove_project_membership,
    update_member,
    update_project_membership,
)
from .organizations import create_organization, delete_organization, update_organization
from .projects import create_project, delete_project, update_project
from .users import (
    DEFAULT_PROJECT_NAME,
    create_user,
    default_project_for,
    record_password_change,
    send_password_reset,
    update_profile,
)

__all__ = [
    "DEFAULT_PROJECT_NAME",
    "accept_invitation",
    "create_api_key",
    "create_organization",
    "create_project",
    "create_ssh_key",
    "create_user",
    "decline_invitation",
    "default_project_for",
    "delete_api_key",
    "delete_organization",
    "delete_project",
    "delete_ssh_key",
    "expire_invitations",
    "invite_member",
    "record_password_change",
    "remove_member",
    "remove_project_membership",
    "resend_invitation",
    "revoke_invitation",
    "send_password_reset",
    "update_member",
    "update_organization",
    "update_profile",
    "update_project",
    "update_project_membership",
    "update_ssh_key",
]
