"""Metal v1 API for the tenancy core (namespace "portal-api")."""

from django.urls import path
from django.views.decorators.cache import cache_page
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularSwaggerSplitView,
    SpectacularYAMLAPIView,
)

from . import views as v

app_name = "portal-api"

urlpatterns = [
    # Ironyard's own OpenAPI document and its browsable docs (public, like Metal's). The
    # document is the same for everyone and takes a second of CPU to build: cached.
    path("openapi.json", cache_page(3600)(SpectacularJSONAPIView.as_view()), name="openapi-json"),
    path("openapi.yaml", cache_page(3600)(SpectacularYAMLAPIView.as_view()), name="openapi-yaml"),
    # The split view serves Swagger UI's start-up script as a file (api-docs/?script) and our
    # template takes drf-spectacular's inline <style> out: the page needs no CSP exception.
    path(
        "api-docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="portal-api:openapi-json", template_name="portal/api_docs.html"
        ),
        name="docs",
    ),
    path("user", v.CurrentUserView.as_view(), name="user"),
    path("user/api-keys", v.UserApiKeysView.as_view(), name="user-api-keys"),
    path("user/api-keys/<uuid:id>", v.UserApiKeyView.as_view(), name="user-api-key"),
    path("users", v.UserListView.as_view(), name="users"),
    path("users/<uuid:id>", v.UserView.as_view(), name="user-detail"),
    path("organizations", v.OrganizationListView.as_view(), name="organizations"),
    path("organizations/<uuid:id>", v.OrganizationView.as_view(), name="organization"),
    path(
        "organizations/<uuid:id>/projects",
        v.OrganizationProjectsView.as_view(),
        name="organization-projects",
    ),
    path(
        "organizations/<uuid:id>/members",
        v.OrganizationMembersView.as_view(),
        name="organization-members",
    ),
    path(
        "organizations/<uuid:organization_id>/members/<uuid:id>",
        v.OrganizationMemberView.as_view(),
        name="organization-member",
    ),
    path(
        "organizations/<uuid:id>/invitations",
        v.OrganizationInvitationsView.as_view(),
        name="organization-invitations",
    ),
    path(
        "organizations/<uuid:id>/roles",
        v.OrganizationRolesView.as_view(),
        name="organization-roles",
    ),
    path(
        "organizations/<uuid:id>/roles/<str:role_id>",
        v.OrganizationRoleView.as_view(),
        name="organization-role",
    ),
    path(
        "organizations/<uuid:id>/events",
        v.OrganizationEventsView.as_view(),
        name="organization-events",
    ),
    path("projects", v.ProjectListView.as_view(), name="projects"),
    path("projects/<uuid:id>", v.ProjectView.as_view(), name="project"),
    path(
        "projects/<uuid:project_id>/memberships",
        v.ProjectMembershipsView.as_view(),
        name="project-memberships",
    ),
    path(
        "projects/<uuid:project_id>/invitations",
        v.ProjectInvitationsView.as_view(),
        name="project-invitations",
    ),
    path("projects/<uuid:id>/api-keys", v.ProjectApiKeysView.as_view(), name="project-api-keys"),
    path("projects/<uuid:id>/ssh-keys", v.ProjectSSHKeysView.as_view(), name="project-ssh-keys"),
    path("projects/<uuid:id>/events", v.ProjectEventsView.as_view(), name="project-events"),
    path("memberships/<uuid:id>", v.MembershipView.as_view(), name="membership"),
    path("invitations", v.InvitationListView.as_view(), name="invitations"),
    path("invitations/<uuid:id>", v.InvitationView.as_view(), name="invitation"),
    path("api-keys/<uuid:id>", v.ApiKeyView.as_view(), name="api-key"),
    path("ssh-keys", v.SSHKeyListView.as_view(), name="ssh-keys"),
    path("ssh-keys/<uuid:id>", v.SSHKeyView.as_view(), name="ssh-key"),
    path("events", v.EventListView.as_view(), name="events"),
    path("events/<uuid:id>", v.EventView.as_view(), name="event"),
]
