"""Organization roles and what each may do (metal-api.md "Roles").

owner/admin      everything in the organization, every project
billing          invoices and usage only; no infrastructure
collaborator     assigned projects: deploy, operate, destroy, project keys
limited_collab.  assigned projects: view and operate (power, reboot), never create or destroy
"""

from django.db import models


class Role(models.TextChoices):
    """An organization member's role."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    BILLING = "billing", "Billing"
    COLLABORATOR = "collaborator", "Collaborator"
    LIMITED_COLLABORATOR = "limited_collaborator", "Limited collaborator"

    @classmethod
    def invitable_choices(cls) -> list[tuple[str, str]]:
        """Roles an invitation may carry: there is one owner, never invited (Metal's enum)."""
        return [(value, label) for value, label in cls.choices if value != cls.OWNER]


# Sets used by querysets and permission checks; keep every role decision here.
ORG_ADMINS = frozenset({Role.OWNER, Role.ADMIN})
BILLING_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.BILLING})
ASSIGNED_ROLES = frozenset({Role.COLLABORATOR, Role.LIMITED_COLLABORATOR})
# Create and destroy things inside a project (servers, IPs, project SSH and API keys).
PROJECT_MANAGERS = frozenset({Role.OWNER, Role.ADMIN, Role.COLLABORATOR})
# See a project and operate what is in it (power, reboot, rescue).
PROJECT_OPERATORS = PROJECT_MANAGERS | {Role.LIMITED_COLLABORATOR}

# Actions per role, served at /organizations/{id}/roles so clients can discover them.
ROLE_ACTIONS: dict[str, list[str]] = {
    Role.OWNER: [
        "organization.update",
        "organization.delete",
        "organization.billing",
        "members.manage",
        "projects.create",
        "projects.delete",
        "project.manage",
        "project.operate",
        "project.view",
    ],
    Role.ADMIN: [
        "organization.update",
        "organization.billing",
        "members.manage",
        "projects.create",
        "projects.delete",
        "project.manage",
        "project.operate",
        "project.view",
    ],
    Role.BILLING: ["organization.billing"],
    Role.COLLABORATOR: ["project.manage", "project.operate", "project.view"],
    Role.LIMITED_COLLABORATOR: ["project.operate", "project.view"],
}
