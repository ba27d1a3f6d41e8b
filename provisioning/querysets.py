"""Visibility for provisioning rows: the project rule from the portal core, nothing new."""

from django.db import models

from portal.querysets import manageable_project_q, visible_project_q


class ProjectScopedQuerySet(models.QuerySet):
    """Rows that belong to a project: visible to whoever can see the project."""

    def for_user(self, user):
        if not user.is_authenticated:
            return self.none()
        return self.filter(visible_project_q(user, "project", "project__organization"))

    def manageable_by(self, user):
        """Rows in projects where the user may create and destroy."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(manageable_project_q(user, "project", "project__organization"))


class DeviceQuerySet(ProjectScopedQuerySet):
    """Devices; deleted ones stay in the ledger (usage, audit) but leave every listing."""

    def for_user(self, user):
        return super().for_user(user).exclude(state="deleted")

    def live(self):
        return self.exclude(state="deleted")
