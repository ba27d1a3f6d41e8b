"""Metal v1 endpoints for the tenancy core. Every read starts from `visible()` (for_user plus
the token's project); every write is a portal.services call with acting_user."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from rest_framework import serializers as drf
from rest_framework.response import Response

from portal import services
from portal.models import (
    ApiKey,
    Event,
    Invitation,
    Member,
    Organization,
    Project,
    ProjectMembership,
    SSHKey,
    User,
)
from portal.permissions import can_administer_org, can_manage_project, require
from portal.roles import ROLE_ACTIONS, Role

from . import serializers as s
from .metal import ALL_METHODS, MetalView, scope_to_project

scope_to_project(Project, "pk")
scope_to_project(ProjectMembership, "project")
scope_to_project(Invitation, "projects")
scope_to_project(ApiKey, "project")
scope_to_project(SSHKey, "project")
scope_to_project(Event, "project")

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _search(queryset: QuerySet, term: str | None, *fields: str) -> QuerySet:
    """Case-insensitive substring search over `fields` (Metal's `search=`)."""
    term = (term or "").strip()
    if not term:
        return queryset
    query = Q()
    for field in fields:
        query |= Q(**{f"{field}__icontains": term})
    return queryset.filter(query)


def _projects_in(organization: Organization, ids) -> list[Project]:
    """The organization's projects with these ids; 422 if any is not one of them."""
    ids = set(ids)
    projects = list(Project.objects.filter(organization=organization, uuid__in=ids))
    if len(projects) != len(ids):
        raise drf.ValidationError({"project_ids": "Unknown project for this organization."})
    return projects


class ObjectView(MetalView):
    """GET / PUT (= PATCH) / DELETE on one visible object; subclasses supply the writes."""

    model = None
    serializer = None
    input = None

    def get_object(self, id):
        return self.get_visible(self.model, id)

    def get(self, request, id):
        return self.render(self.serializer, self.get_object(id))

    def put(self, request, id):
        obj = self.get_object(id)
        return self.render(self.serializer, self.update(obj, self.validated(self.input)))

    patch = put

    def delete(self, request, id):
        self.destroy(self.get_object(id))
        return self.gone()


# Users


def _users_sharing_an_org(user: User) -> QuerySet:
    orgs = Organization.objects.for_user(user)
    return User.objects.filter(
        Exists(Member.objects.filter(user=OuterRef("pk"), organization__in=orgs))
    )


class CurrentUserView(MetalView):
    """/user"""

    project_token_denied = WRITES

    def get(self, request):
        user = request.user
        organization = (
            Organization.objects.administered_by(user).order_by("-personal", "created_at").first()
        )
        project = services.default_project_for(user)
        return self.render(
            s.UserSerializer,
            user,
            default_organization_id=organization and organization.uuid,
            default_project_id=project and project.uuid,
        )

    def put(self, request):
        services.update_profile(
            user=request.user, acting_user=request.user, **self.validated(s.UserUpdateInput)
        )
        return self.get(request)

    patch = put


class UserListView(MetalView):
    """/users: people who share an organization with the caller."""

    project_token_denied = ALL_METHODS

    def get(self, request):
        users = _users_sharing_an_org(request.user).order_by("email")
        return self.render_list(s.UserSerializer, users, "users", paged=True)


class UserView(MetalView):
    """/users/{id}"""

    project_token_denied = ALL_METHODS

    def get(self, request, id):
        user = self.get_visible(User, id, _users_sharing_an_org(request.user))
        return self.render(s.UserSerializer, user)


# Organizations


class OrganizationListView(MetalView):
    """/organizations"""

    project_token_denied = ALL_METHODS
    _modes = {"only": True, "exclude": False}

    def get(self, request):
        organizations = Organization.objects.for_user(request.user)
        personal = self._modes.get(request.query_params.get("personal", ""))
        if personal is not None:
            organizations = organizations.filter(personal=personal)
        has_projects = Exists(Project.objects.filter(organization=OuterRef("pk")))
        without = request.query_params.get("without_projects", "")
        if without == "only":
            organizations = organizations.filter(~has_projects)
        elif without == "exclude":
            organizations = organizations.filter(has_projects)
        return self.render_list(
            s.OrganizationSerializer, organizations, "organizations", paged=True
        )

    def post(self, request):
        data = self.validated(s.OrganizationInput)
        if not data.get("name"):
            raise drf.ValidationError({"name": "This field is required."})
        organization = services.create_organization(acting_user=request.user, **data)
        return self.render(s.OrganizationSerializer, organization, status=201)


class OrganizationView(ObjectView):
    """/organizations/{id}"""

    project_token_denied = ALL_METHODS
    model, serializer, input = Organization, s.OrganizationSerializer, s.OrganizationInput

    def update(self, organization, data):
        return services.update_organization(
            organization=organization, acting_user=self.request.user, **data
        )

    def destroy(self, organization):
        services.delete_organization(organization=organization, acting_user=self.request.user)


class OrganizationScopedView(MetalView):
    """Endpoints under /organizations/{id}: organization-level, so no project keys."""

    project_token_denied = ALL_METHODS

    def organization(self, id) -> Organization:
        return self.get_visible(Organization, id)


class OrganizationProjectsView(OrganizationScopedView):
    """/organizations/{id}/projects"""

    def get(self, request, id):
        projects = self.visible(Project).filter(organization=self.organization(id))
        projects = _search(projects, request.query_params.get("name"), "name")
        return self.render_list(s.ProjectSerializer, projects, "projects", paged=True)

    def post(self, request, id):
        organization = self.organization(id)
        data = self.validated(s.ProjectInput, creating=True)
        data.pop("organization_id", None)
        data.pop("backend_transfer_enabled", None)
        project = services.create_project(
            organization=organization, acting_user=request.user, **data
        )
        return self.render(s.ProjectSerializer, project, status=201)


class OrganizationMembersView(OrganizationScopedView):
    """/organizations/{id}/members"""

    def get(self, request, id):
        members = self.visible(Member).filter(organization=self.organization(id))
        return self.render_list(s.MemberSerializer, members, "members")


class OrganizationMemberView(OrganizationScopedView):
    """/organizations/{organization_id}/members/{id}"""

    def member(self, organization_id, id) -> Member:
        members = self.visible(Member).filter(organization=self.organization(organization_id))
        return self.get_visible(Member, id, members)

    def put(self, request, organization_id, id):
        member = self.member(organization_id, id)
        data = self.validated(s.MemberUpdateInput)
        role = data.get("role")
        if member.role == Role.OWNER and role == Role.ADMIN:
            role = None  # the owner is shown as admin; echoing that back changes nothing
        projects = None
        if "project_ids" in data:
            projects = _projects_in(member.organization, data["project_ids"])
        member = services.update_member(
            member=member, acting_user=request.user, role=role, projects=projects
        )
        return self.render(s.MemberSerializer, member)

    patch = put

    def delete(self, request, organization_id, id):
        services.remove_member(member=self.member(organization_id, id), acting_user=request.user)
        return self.gone()


class InvitationCreateMixin:
    """POST of InvitationInput, shared by organization and project invitations."""

    def invite(self, organization: Organization, extra_projects=()) -> object:
        data = self.validated(s.InvitationInput)
        projects = _projects_in(organization, data["projects_ids"]) + list(extra_projects)
        invitation, _ = services.invite_member(
            organization=organization,
            invitee=data["invitee"],
            role=data["roles"],
            projects=list({p.pk: p for p in projects}.values()),
            message=data["message"],
            acting_user=self.request.user,
        )
        return self.render(s.InvitationSerializer, invitation, status=201)


class OrganizationInvitationsView(InvitationCreateMixin, OrganizationScopedView):
    """/organizations/{id}/invitations"""

    def get(self, request, id):
        organization = self.organization(id)
        require(
            can_administer_org(request.user, organization),
            "Only owners and admins can see the organization's invitations.",
        )
        invitations = self.visible(Invitation).filter(organization=organization, status="pending")
        return self.render_list(s.InvitationSerializer, invitations, "invitations", paged=True)

    def post(self, request, id):
        return self.invite(self.organization(id))


class OrganizationRolesView(OrganizationScopedView):
    """/organizations/{id}/roles"""

    def get(self, request, id):
        organization = self.organization(id)
        return Response(
            {"roles": [s.role_representation(organization, role) for role in ROLE_ACTIONS]}
        )


class OrganizationRoleView(OrganizationScopedView):
    """/organizations/{id}/roles/{role_id}"""

    def get(self, request, id, role_id):
        organization = self.organization(id)
        if role_id not in ROLE_ACTIONS:
            raise Http404
        return Response(s.role_representation(organization, role_id))


class OrganizationEventsView(OrganizationScopedView):
    """/organizations/{id}/events"""

    def get(self, request, id):
        events = self.visible(Event).filter(organization=self.organization(id))
        return self.render_list(s.EventSerializer, events, "events", paged=True)


# Projects


class ProjectListView(MetalView):
    """/projects"""

    project_token_denied = frozenset({"POST"})

    def get(self, request):
        projects = _search(self.visible(Project), request.query_params.get("name"), "name")
        return self.render_list(s.ProjectSerializer, projects, "projects", paged=True)

    def post(self, request):
        data = self.validated(s.ProjectInput, creating=True)
        data.pop("backend_transfer_enabled", None)
        organization_id = data.pop("organization_id", None)
        organizations = Organization.objects.for_user(request.user)
        if organization_id is not None:
            organization = organizations.filter(uuid=organization_id).first()
        else:  # Metal's default: the caller's personal organization, else the first they run
            organization = (
                organizations.filter(
                    Q(personal=True) | Q(pk__in=Organization.objects.administered_by(request.user))
                )
                .order_by("-personal", "created_at")
                .first()
            )
        if organization is None:
            raise drf.ValidationError({"organization_id": "Organization not found."})
        project = services.create_project(
            organization=organization, acting_user=request.user, **data
        )
        return self.render(s.ProjectSerializer, project, status=201)


class ProjectView(ObjectView):
    """/projects/{id}"""

    model, serializer, input = Project, s.ProjectSerializer, s.ProjectInput

    def update(self, project, data):
        data.pop("organization_id", None)
        return services.update_project(project=project, acting_user=self.request.user, **data)

    def destroy(self, project):
        services.delete_project(project=project, acting_user=self.request.user)


class ProjectScopedView(MetalView):
    """Endpoints under /projects/{id}."""

    def project(self, id) -> Project:
        return self.get_visible(Project, id)


class ProjectMembershipsView(ProjectScopedView):
    """/projects/{project_id}/memberships"""

    def get(self, request, project_id):
        memberships = self.visible(ProjectMembership).filter(project=self.project(project_id))
        memberships = _search(
            memberships,
            request.query_params.get("search"),
            "member__user__email",
            "member__user__first_name",
            "member__user__last_name",
        )
        return self.render_list(s.MembershipSerializer, memberships, "memberships", paged=True)


class ProjectInvitationsView(InvitationCreateMixin, ProjectScopedView):
    """/projects/{project_id}/invitations: invitations to the project's organization that
    include the project."""

    def get(self, request, project_id):
        project = self.project(project_id)
        require(
            can_administer_org(request.user, project.organization),
            "Only owners and admins can see the project's invitations.",
        )
        invitations = self.visible(Invitation).filter(projects=project, status="pending")
        return self.render_list(s.InvitationSerializer, invitations, "invitations", paged=True)

    def post(self, request, project_id):
        project = self.project(project_id)
        return self.invite(project.organization, extra_projects=[project])


class ProjectApiKeysView(ProjectScopedView):
    """/projects/{id}/api-keys"""

    def get(self, request, id):
        project = self.project(id)
        require(
            can_manage_project(request.user, project),
            "Only owners, admins and collaborators can see project API keys.",
        )
        keys = _search(
            self.visible(ApiKey).filter(project=project),
            request.query_params.get("search"),
            "description",
        )
        return self.render_list(s.AuthTokenSerializer, keys, "api_keys")

    def post(self, request, id):
        project = self.project(id)
        key, secret = services.create_api_key(
            acting_user=request.user, project=project, **self.validated(s.AuthTokenInput)
        )
        return self.render(s.AuthTokenSerializer, key, status=201, secret=secret)


class ProjectSSHKeysView(ProjectScopedView):
    """/projects/{id}/ssh-keys"""

    def get(self, request, id):
        keys = self.visible(SSHKey).filter(project=self.project(id))
        keys = _search(keys, request.query_params.get("query"), "label", "key", "fingerprint")
        return self.render_list(s.SSHKeySerializer, keys, "ssh_keys")

    def post(self, request, id):
        project = self.project(id)
        key = services.create_ssh_key(
            acting_user=request.user,
            project=project,
            **self.validated(s.SSHKeyInput, creating=True),
        )
        return self.render(s.SSHKeySerializer, key, status=201)


class ProjectEventsView(ProjectScopedView):
    """/projects/{id}/events"""

    def get(self, request, id):
        events = self.visible(Event).filter(project=self.project(id))
        return self.render_list(s.EventSerializer, events, "events", paged=True)


class MembershipView(ObjectView):
    """/memberships/{id}"""

    model, serializer, input = ProjectMembership, s.MembershipSerializer, s.MembershipInput

    def update(self, membership, data):
        return services.update_project_membership(
            membership=membership, acting_user=self.request.user, role=data["role"]
        )

    def destroy(self, membership):
        services.remove_project_membership(membership=membership, acting_user=self.request.user)


# Invitations


class InvitationListView(MetalView):
    """/invitations: open invitations addressed to the caller."""

    project_token_denied = ALL_METHODS

    def get(self, request):
        invitations = self.visible(Invitation).addressed_to(request.user)
        return self.render_list(s.InvitationSerializer, invitations, "invitations", paged=True)


class InvitationView(MetalView):
    """/invitations/{id}: PUT accepts, DELETE declines (invitee) or revokes (org admin)."""

    project_token_denied = ALL_METHODS

    def get(self, request, id):
        return self.render_visible(s.InvitationSerializer, Invitation, id)

    def put(self, request, id):
        member = services.accept_invitation(
            invitation=self.get_visible(Invitation, id), user=request.user
        )
        return self.render(s.JoinedSerializer, member)

    patch = put

    def delete(self, request, id):
        invitation = self.get_visible(Invitation, id)
        if invitation.invitee.lower() == request.user.email.lower():
            services.decline_invitation(invitation=invitation, user=request.user)
        else:
            services.revoke_invitation(invitation=invitation, acting_user=request.user)
        return self.gone()


# API keys


def _own_user_keys(view: MetalView) -> QuerySet:
    return view.visible(ApiKey).filter(user=view.request.user, project__isnull=True)


class UserApiKeysView(MetalView):
    """/user/api-keys: the caller's own (user-level) keys."""

    project_token_denied = frozenset({"POST"})

    def get(self, request):
        keys = _search(_own_user_keys(self), request.query_params.get("search"), "description")
        return self.render_list(s.AuthTokenSerializer, keys, "api_keys")

    def post(self, request):
        key, secret = services.create_api_key(
            acting_user=request.user, **self.validated(s.AuthTokenInput)
        )
        return self.render(s.AuthTokenSerializer, key, status=201, secret=secret)


class UserApiKeyView(MetalView):
    """/user/api-keys/{id}"""

    def delete(self, request, id):
        key = self.get_visible(ApiKey, id, _own_user_keys(self))
        services.delete_api_key(key=key, acting_user=request.user)
        return self.gone()


class ApiKeyView(MetalView):
    """/api-keys/{id}: any key the caller can see (their own, or their projects')."""

    def delete(self, request, id):
        key = self.get_visible(ApiKey, id)
        services.delete_api_key(key=key, acting_user=request.user)
        return self.gone()


# SSH keys


class SSHKeyListView(MetalView):
    """/ssh-keys: the caller's keys and those of projects they can see."""

    project_token_denied = frozenset({"POST"})  # a personal key belongs to the user

    def get(self, request):
        keys = _search(
            self.visible(SSHKey), request.query_params.get("search"), "label", "key", "fingerprint"
        )
        return self.render_list(s.SSHKeySerializer, keys, "ssh_keys")

    def post(self, request):
        key = services.create_ssh_key(
            acting_user=request.user, **self.validated(s.SSHKeyInput, creating=True)
        )
        return self.render(s.SSHKeySerializer, key, status=201)


class SSHKeyView(ObjectView):
    """/ssh-keys/{id}"""

    model, serializer, input = SSHKey, s.SSHKeySerializer, s.SSHKeyInput

    def update(self, ssh_key, data):
        return services.update_ssh_key(ssh_key=ssh_key, acting_user=self.request.user, **data)

    def destroy(self, ssh_key):
        services.delete_ssh_key(ssh_key=ssh_key, acting_user=self.request.user)


# Events


class EventListView(MetalView):
    """/events"""

    def get(self, request):
        return self.render_list(s.EventSerializer, self.visible(Event), "events", paged=True)


class EventView(MetalView):
    """/events/{id}"""

    def get(self, request, id):
        return self.render_visible(s.EventSerializer, Event, id)
