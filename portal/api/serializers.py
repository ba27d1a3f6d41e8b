"""Metal v1 shapes for the tenancy core. Output serializers render; input serializers only
validate shape and narrow choices; the views hand validated data to portal.services."""

from rest_framework import serializers

from portal.hrefs import href_for
from portal.roles import ROLE_ACTIONS, Role

from .metal import MetalSerializer, Ref, Timestamp

# Metal's Member/Invitation role enum has no "owner": the owner shows as admin + bound "owner".
API_ROLES = [value for value, _ in Role.invitable_choices()]


def api_role(role: str) -> str:
    """The SDK-safe role name for an organization role."""
    return Role.ADMIN.value if role == Role.OWNER else role


class StampedSerializer(MetalSerializer):
    """Objects with creation and update times."""

    created_at = Timestamp(read_only=True)
    updated_at = Timestamp(read_only=True)


class UserSerializer(StampedSerializer):
    """Metal User (and UserLite: id and short_id always present)."""

    short_id = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    full_name = serializers.CharField(read_only=True)
    timezone = serializers.CharField(read_only=True)
    last_login_at = Timestamp(source="last_login", read_only=True)
    customdata = serializers.SerializerMethodField()

    def get_customdata(self, obj) -> dict:
        return {}  # users carry no custom data here; Metal clients expect an object

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # The caller's own defaults (GET /user): computed only where the view supplies them.
        for key in ("default_organization_id", "default_project_id"):
            if self.context.get(key):
                data[key] = str(self.context[key])
        return data


class OrganizationSerializer(StampedSerializer):
    """Metal Organization."""

    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    website = serializers.CharField(read_only=True)
    twitter = serializers.CharField(read_only=True)
    customdata = serializers.JSONField(read_only=True)
    personal = serializers.BooleanField(read_only=True)


class ProjectSerializer(StampedSerializer):
    """Metal Project; `type` is always "default" (the only value the SDK accepts)."""

    name = serializers.CharField(read_only=True)
    type = serializers.SerializerMethodField()
    organization = Ref(OrganizationSerializer)
    customdata = serializers.JSONField(read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    backend_transfer_enabled = serializers.BooleanField(read_only=True)

    def get_type(self, obj) -> str:
        return "default"


class MemberSerializer(MetalSerializer):
    """Metal Member: an organization role plus the projects a collaborator is assigned to."""

    select = ("organization",)  # the member's href is under its organization

    roles = serializers.SerializerMethodField()
    bound_roles = serializers.SerializerMethodField()
    user = Ref(UserSerializer)
    organization = Ref(OrganizationSerializer)
    projects = Ref(ProjectSerializer, many=True, source="project_memberships", through="project")
    projects_count = serializers.SerializerMethodField()

    def get_roles(self, obj) -> list[str]:
        return [api_role(obj.role)]

    def get_bound_roles(self, obj) -> list[str]:
        return [Role.OWNER.value] if obj.role == Role.OWNER else []

    def get_projects_count(self, obj) -> int:
        return len(obj.project_memberships.all())  # prefetched: no query per row


class MembershipSerializer(StampedSerializer):
    """Metal Membership: a collaborator's assignment to a project (roles are free-form)."""

    project = Ref(ProjectSerializer)
    user = Ref(UserSerializer, source="member.user")
    roles = serializers.SerializerMethodField()

    def get_roles(self, obj) -> list[str]:
        return [obj.member.role]


class JoinedSerializer(StampedSerializer):
    """What accepting an invitation returns: the new organization member, Membership-shaped."""

    select = ("organization",)

    user = Ref(UserSerializer)
    organization = Ref(OrganizationSerializer)
    roles = serializers.SerializerMethodField()
    bound_roles = serializers.SerializerMethodField()

    def get_roles(self, obj) -> list[str]:
        return [api_role(obj.role)]

    def get_bound_roles(self, obj) -> list[str]:
        return [Role.OWNER.value] if obj.role == Role.OWNER else []


class InvitationSerializer(StampedSerializer):
    """Metal Invitation (the link secret is never shown; it only goes out by e-mail)."""

    invitee = serializers.EmailField(read_only=True)
    roles = serializers.SerializerMethodField()
    state = serializers.CharField(source="status", read_only=True)
    organization = Ref(OrganizationSerializer)
    projects = Ref(ProjectSerializer, many=True)
    invited_by = Ref(UserSerializer)
    expires_at = Timestamp(read_only=True)

    def get_roles(self, obj) -> list[str]:
        return [obj.role]


class AuthTokenSerializer(StampedSerializer):
    """Metal AuthToken. `token` is masked except in the create response (context "secret")."""

    description = serializers.CharField(read_only=True)
    read_only = serializers.BooleanField(read_only=True)
    token = serializers.SerializerMethodField()
    project = Ref(ProjectSerializer)
    user = Ref(UserSerializer)

    def get_token(self, obj) -> str:
        return self.context.get("secret") or obj.masked


class SSHKeySerializer(StampedSerializer):
    """Metal SSHKey; `entity` (and legacy `owner`) is the owning user or project."""

    select = ("user", "project")

    label = serializers.CharField(read_only=True)
    key = serializers.CharField(read_only=True)
    fingerprint = serializers.CharField(read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    entity = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()

    def get_entity(self, obj) -> dict:
        return {"href": href_for(obj.project or obj.user)}

    get_owner = get_entity


class EventSerializer(MetalSerializer):
    """Metal Event: who did what, from where, to which objects."""

    select = ("modified_by",)
    prefetch = ("relations",)

    type = serializers.CharField(read_only=True)
    body = serializers.CharField(read_only=True)
    interpolated = serializers.CharField(read_only=True)
    state = serializers.CharField(read_only=True)
    created_at = Timestamp(read_only=True)
    ip = serializers.CharField(read_only=True, allow_null=True)
    relationships = serializers.SerializerMethodField()
    modified_by = serializers.SerializerMethodField()

    def get_relationships(self, obj) -> list[dict]:
        return [{"href": relation.href} for relation in obj.relations.all()]

    def get_modified_by(self, obj) -> dict | None:
        user = obj.modified_by
        if user is None:
            return None
        return {
            "id": str(user.uuid),
            "full_name": user.full_name,
            "email": user.email,
            "href": href_for(user),
        }


def role_representation(organization, role: str) -> dict:
    """Metal Role: a named set of actions (portal.roles.ROLE_ACTIONS)."""
    return {
        "id": role,
        "name": Role(role).label,
        "actions": list(ROLE_ACTIONS[role]),
        "href": f"{href_for(organization)}/roles/{role}",
    }


# Inputs: shape only. Unknown fields are ignored, as Metal clients send extras.


class CustomDataField(serializers.JSONField):
    """`customdata` must be a JSON object; its depth, size and content are the service's rule
    (portal.limits), which pages and commands meet too."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return data


def _tags():
    return serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)


class UserUpdateInput(serializers.Serializer):
    """UserUpdateInput: name and time zone (passwords change through the portal only)."""

    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    timezone = serializers.CharField(required=False, source="timezone_name")
    password = serializers.CharField(required=False, write_only=True)

    def validate_password(self, value):
        raise serializers.ValidationError("Change your password in the portal.")


class OrganizationInput(serializers.Serializer):
    """OrganizationInput (address fields are not kept)."""

    name = serializers.CharField(required=False, max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    website = serializers.URLField(required=False, allow_blank=True)
    twitter = serializers.CharField(required=False, allow_blank=True, max_length=64)
    customdata = CustomDataField(required=False)


class ProjectInput(serializers.Serializer):
    """ProjectCreateInput / ProjectCreateFromRootInput / ProjectUpdateInput."""

    name = serializers.CharField(required=False, max_length=80)
    customdata = CustomDataField(required=False)
    tags = _tags()
    type = serializers.ChoiceField(choices=["default"], required=False, write_only=True)
    backend_transfer_enabled = serializers.BooleanField(required=False)
    organization_id = serializers.UUIDField(required=False, write_only=True)

    def validate(self, attrs):
        if self.context.get("creating") and not attrs.get("name"):
            raise serializers.ValidationError({"name": "This field is required."})
        attrs.pop("type", None)
        return attrs


def _one_role(roles: list[str]) -> str:
    if len(roles) != 1:
        raise serializers.ValidationError("Give exactly one role.")
    return roles[0]


class InvitationInput(serializers.Serializer):
    """InvitationInput: one role from Metal's enum, and projects for collaborators."""

    invitee = serializers.EmailField()
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=API_ROLES),
        required=False,
        default=[Role.COLLABORATOR.value],
    )
    projects_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list
    )
    message = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_roles(self, value):
        return _one_role(value)


class MemberUpdateInput(serializers.Serializer):
    """MemberUpdateInput: a new role and, for collaborators, their projects."""

    role = serializers.ListField(child=serializers.ChoiceField(choices=API_ROLES), required=False)
    project_ids = serializers.ListField(child=serializers.UUIDField(), required=False)

    def validate_role(self, value):
        return _one_role(value)


class MembershipInput(serializers.Serializer):
    """MembershipInput: a collaborator's role in the project."""

    role = serializers.ListField(child=serializers.CharField())

    def validate_role(self, value):
        return _one_role(value)


class AuthTokenInput(serializers.Serializer):
    """AuthTokenInput."""

    description = serializers.CharField(required=False, allow_blank=True, default="")
    read_only = serializers.BooleanField(required=False, default=False)


class SSHKeyInput(serializers.Serializer):
    """SSHKeyCreateInput / SSHKeyInput; the key itself is parsed by the service."""

    label = serializers.CharField(required=False, allow_blank=True)
    key = serializers.CharField(required=False)
    tags = _tags()

    def validate(self, attrs):
        if self.context.get("creating"):
            if not attrs.get("key"):
                raise serializers.ValidationError({"key": "This field is required."})
            attrs.setdefault("label", "")  # the service falls back to the key's comment
        return attrs
