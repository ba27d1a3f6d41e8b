"""Metal v1 shapes for devices, batches and device IP assignments. Output follows the
SDK-patched spec (strict types, enum states, `{href}` references); inputs only check shape and
tolerate what old clients send, the views resolve names to rows and the services decide."""

import functools
import ipaddress

from rest_framework import serializers

from inventory import ipam
from inventory.api.serializers import (
    FacilitySerializer,
    MetroSerializer,
    OperatingSystemSerializer,
    PlanSerializer,
    SubnetSerializer,
)
from inventory.models import Facility, Metro, OperatingSystem, Plan
from portal.api.metal import MetalSerializer, Ref, Timestamp, by_id_or_code
from portal.api.serializers import CustomDataField, ProjectSerializer, SSHKeySerializer
from portal.hrefs import href_for
from portal.models import SSHKey, User

from ..models import Device
from ..services import DEFAULT_IPS, DeviceRequest


class SharedRef(Ref):
    """A Ref whose expanded objects are rendered once per response: a page of 100 devices
    shares a handful of plans, metros and operating systems, and rendering a plan (with its
    per-facility prices) for every row would dominate the list's cost."""

    shared = True

    def to_representation(self, value):
        include, exclude = self.context.get("include", {}), self.context.get("exclude", {})
        key = (self.field_name, type(value), value.pk, repr(include.get(self.field_name)))
        if self.field_name in exclude and not exclude[self.field_name]:
            return super().to_representation(value)
        cache = self.context.setdefault("_shared_refs", {})
        if key not in cache:
            cache[key] = super().to_representation(value)
        return cache[key]


def user_lite(user) -> dict:
    """Metal UserLite: `id` and `short_id` are required by the SDKs."""
    return {
        "id": str(user.uuid),
        "short_id": user.short_id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.full_name,
        "href": href_for(user),
    }


@functools.lru_cache(maxsize=4096)
def _parse_network(network: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parsed once per address, not once per field of every rendering (six fields read it)."""
    return ipaddress.ip_network(network)


class IPAssignmentSerializer(SubnetSerializer):
    """Metal IPAssignment: `assigned_to` and no `type`, so the SDK's oneOf for /ips/{id}
    resolves it to an assignment, never to a reservation."""

    select = ("reservation__block", "device")

    public = serializers.BooleanField(read_only=True)
    management = serializers.BooleanField(read_only=True)
    manageable = serializers.SerializerMethodField()
    global_ip = serializers.SerializerMethodField()
    enabled = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    assigned_to = serializers.SerializerMethodField()
    parent_block = serializers.SerializerMethodField()
    created_at = Timestamp(read_only=True)

    def subnet(self, obj) -> ipam.Network:
        return _parse_network(obj.network)

    def get_address(self, obj) -> str:
        return str(ipam.server_address(self.subnet(obj)))

    def get_manageable(self, obj) -> bool:
        return not obj.management

    def get_global_ip(self, obj) -> bool:
        return obj.reservation.block.kind == "global_ipv4"

    def get_enabled(self, obj) -> bool:
        return True

    def get_state(self, obj) -> str:
        return "active"

    def get_assigned_to(self, obj) -> dict:
        return {"href": href_for(obj.device)}

    def get_parent_block(self, obj) -> dict:
        parent = _parse_network(obj.reservation.network)  # a device's own: the same network
        return {
            "network": str(parent.network_address),
            "netmask": str(parent.netmask),
            "cidr": parent.prefixlen,
            "href": href_for(obj.reservation),
        }


class DeviceSerializer(MetalSerializer):
    """Metal Device: the SDKs need `operating_system` as an object, a state from the enum,
    `ip_addresses[]` with `assigned_to` and `created_by` with `id`/`short_id`."""

    select = ("created_by",)
    prefetch = ("ip_assignments__reservation__block",)

    short_id = serializers.CharField(read_only=True)
    hostname = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    state = serializers.CharField(read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    customdata = serializers.JSONField(read_only=True)
    billing_cycle = serializers.CharField(read_only=True)
    locked = serializers.BooleanField(read_only=True)
    always_pxe = serializers.BooleanField(read_only=True)
    ipxe_script_url = serializers.CharField(read_only=True)
    userdata = serializers.CharField(read_only=True)
    user = serializers.SerializerMethodField()
    root_password = serializers.SerializerMethodField()
    provisioning_percentage = serializers.SerializerMethodField()
    spot_instance = serializers.SerializerMethodField()
    network_frozen = serializers.SerializerMethodField()
    created_at = Timestamp(read_only=True)
    updated_at = Timestamp(read_only=True)
    created_by = serializers.SerializerMethodField()
    project = Ref(ProjectSerializer)
    project_lite = serializers.SerializerMethodField()
    plan = SharedRef(PlanSerializer, expand=True)
    metro = SharedRef(MetroSerializer, expand=True)
    facility = SharedRef(FacilitySerializer, expand=True)
    operating_system = SharedRef(OperatingSystemSerializer, expand=True)
    ssh_keys = Ref(SSHKeySerializer, many=True)
    ip_addresses = serializers.SerializerMethodField()
    network_ports = serializers.SerializerMethodField()
    volumes = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()

    def get_user(self, obj) -> str:
        return "root"

    def get_root_password(self, obj) -> str | None:
        return obj.readable_root_password

    def get_provisioning_percentage(self, obj) -> float | None:
        value = obj.provisioning_percentage
        return float(value) if value is not None else None

    def get_spot_instance(self, obj) -> bool:
        return False

    def get_network_frozen(self, obj) -> bool:
        return False

    def get_created_by(self, obj) -> dict | None:
        return user_lite(obj.created_by) if obj.created_by is not None else None

    def get_project_lite(self, obj) -> dict:
        return {"href": href_for(obj.project)}

    def get_ip_addresses(self, obj) -> list[dict]:
        # Prefetched with the reservation and block; each row's device is `obj` itself. One
        # assignment serializer serves every device of a page: building one per device (DRF
        # deep-copies its fields each time) cost more than rendering the addresses.
        serializer = getattr(self, "_ip_serializer", None)
        if serializer is None:
            serializer = self._ip_serializer = IPAssignmentSerializer(context=self.context)
        return [serializer.to_representation(a) for a in obj.ip_assignments.all()]

    def get_network_ports(self, obj) -> list:
        return []  # port and VLAN management is not offered

    def get_volumes(self, obj) -> list:
        return []

    def get_actions(self, obj) -> list[dict]:
        return []


class BatchSerializer(MetalSerializer):
    """Metal Batch: its devices as references."""

    quantity = serializers.IntegerField(read_only=True)
    state = serializers.CharField(read_only=True)
    error_messages = serializers.ListField(child=serializers.CharField(), read_only=True)
    created_at = Timestamp(read_only=True)
    updated_at = Timestamp(read_only=True)
    project = Ref(ProjectSerializer)
    devices = Ref(DeviceSerializer, many=True)


# Inputs


class StringOrList(serializers.Field):
    """A location or key list that clients send as "x", "x,y" or ["x", "y"]."""

    def to_internal_value(self, data):
        if data in (None, ""):
            return []
        if isinstance(data, str):
            return [part.strip() for part in data.split(",") if part.strip()]
        if isinstance(data, list) and all(isinstance(item, str) for item in data):
            return [item.strip() for item in data if item.strip()]
        raise serializers.ValidationError("Give a string or a list of strings.")


class CatalogueName(serializers.Field):
    """A catalogue row named by its id or its code/slug (Metal clients send either): the row,
    or a 422 on this field naming what is unknown."""

    def __init__(self, queryset, code_field: str, noun: str, **kwargs):
        super().__init__(**kwargs)
        self.queryset, self.code_field, self.noun = queryset, code_field, noun

    def find(self, name: str):
        return by_id_or_code(self.queryset.all(), name, self.code_field)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.strip():
            raise serializers.ValidationError(f"Give a {self.noun} id or code.")
        found = self.find(data.strip())
        if found is None:
            raise serializers.ValidationError(f"Unknown {self.noun} '{data.strip()}'.")
        return found


class Locations(StringOrList):
    """Metros or facilities by id or code, in priority order; "any" means no preference."""

    def __init__(self, queryset, noun: str, **kwargs):
        super().__init__(**kwargs)
        self.name = CatalogueName(queryset, "code", noun)

    def to_internal_value(self, data):
        names = [n for n in super().to_internal_value(data) if n != "any"]
        return [self.name.to_internal_value(name) for name in names]


class ProjectRows(serializers.ListField):
    """Ids of rows the project in the URL (`context["project"]`) may use: its SSH keys, its
    members. All known or a 422."""

    child = serializers.UUIDField()

    def __init__(self, rows, message: str, **kwargs):
        super().__init__(**kwargs)
        self.rows, self.message = rows, message

    def to_internal_value(self, data):
        wanted = set(super().to_internal_value(data))
        found = list(self.rows(self.context["project"]).filter(uuid__in=wanted))
        if len(found) != len(wanted):
            raise serializers.ValidationError(self.message)
        return found


class LenientTags(serializers.ListField):
    """Tags: a list of strings; packet-python sends `{}` for "none". How many and how long is
    the service's rule (portal.limits)."""

    child = serializers.CharField(allow_blank=False)

    def to_internal_value(self, data):
        if data in (None, {}):
            return []
        return super().to_internal_value(data)


class IPAddressInput(serializers.Serializer):
    """IPAddress of DeviceCreateInput.ip_addresses."""

    address_family = serializers.ChoiceField(choices=[4, 6])
    public = serializers.BooleanField(required=False, default=True)
    cidr = serializers.IntegerField(required=False, min_value=1, max_value=128)


class InlineSSHKey(serializers.Serializer):
    """SSHKeyInput inside DeviceCreateInput.ssh_keys: a key given for this device only."""

    label = serializers.CharField(required=False, allow_blank=True)
    key = serializers.CharField()


class DeviceSettingsInput(serializers.Serializer):
    """The settings a device is created with and may change later, alike in the create and
    update inputs (`hostname` differs: blank means "generate one" only at creation)."""

    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    billing_cycle = serializers.ChoiceField(
        choices=Device.BillingCycle.values, required=False, allow_null=True
    )
    tags = LenientTags(required=False, allow_null=True)
    userdata = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    customdata = CustomDataField(required=False, allow_null=True)
    locked = serializers.BooleanField(required=False, allow_null=True)
    always_pxe = serializers.BooleanField(required=False, allow_null=True)
    ipxe_script_url = serializers.URLField(
        required=False, allow_blank=True, allow_null=True, max_length=500
    )
    spot_instance = serializers.BooleanField(required=False, allow_null=True)

    def validate_spot_instance(self, value):
        if value:
            raise serializers.ValidationError("Spot instances are not offered here.")
        return value


class DeviceCreateInput(DeviceSettingsInput):
    """DeviceCreateInMetroInput / DeviceCreateInFacilityInput and what old clients add, read
    into the services.DeviceRequest it asks for (`device_request`); names of the catalogue and
    of the project's keys and members are resolved here, an unknown one a 422 on its field.
    Needs the project in the URL as `context["project"]`."""

    metro = Locations(Metro.objects.all(), "metro", required=False)
    facility = Locations(Facility.objects.select_related("metro"), "facility", required=False)
    plan = CatalogueName(Plan.objects.filter(active=True), "slug", "plan")
    # packet-python sends "" (with ipxe_script_url) and the generated SDKs a slug.
    operating_system = serializers.CharField(allow_blank=True)
    hostname = serializers.CharField(required=False, allow_blank=True, max_length=63)
    project_ssh_keys = ProjectRows(
        lambda project: SSHKey.objects.filter(project=project),
        "Unknown key for this project.",
        required=False,
        allow_null=True,
    )
    user_ssh_keys = ProjectRows(
        lambda project: User.objects.reaching_project(project),
        "Unknown user for this project.",
        required=False,
        allow_null=True,
    )
    ssh_keys = InlineSSHKey(many=True, required=False, allow_null=True)
    no_ssh_keys = serializers.BooleanField(required=False, default=False)
    ip_addresses = IPAddressInput(many=True, required=False, allow_empty=False)
    public_ipv4_subnet_size = serializers.IntegerField(
        required=False, allow_null=True, min_value=28, max_value=32
    )
    private_ipv4_subnet_size = serializers.IntegerField(
        required=False, allow_null=True, min_value=28, max_value=32
    )
    hardware_reservation_id = serializers.CharField(
        required=False, allow_blank=True, allow_null=True
    )
    # Sent by packet-python and old Terraform; the project is the one in the URL, and
    # `features` (a map of feature → required/preferred) picks nothing here.
    project_id = serializers.UUIDField(required=False, allow_null=True)
    features = serializers.JSONField(required=False, allow_null=True)

    def validate_hardware_reservation_id(self, value):
        if value:
            raise serializers.ValidationError("Hardware reservations are not offered here.")
        return value

    def validate_operating_system(self, value):
        name = value.strip()
        if name and name != "custom_ipxe":
            found = by_id_or_code(OperatingSystem.objects.all(), name, "slug")
            if found is None:
                raise serializers.ValidationError(f"Unknown operating system '{name}'.")
            return found
        return name  # the custom iPXE pseudo-OS, settled in validate()

    def validate(self, attrs):
        if attrs.get("metro") and attrs.get("facility"):
            raise serializers.ValidationError({"metro": "Give a metro or a facility, not both."})
        if "metro" not in attrs and "facility" not in attrs:
            raise serializers.ValidationError(
                {"metro": 'This field is required (a metro code, or "any").'}
            )
        if isinstance(attrs["operating_system"], str):
            if not attrs["operating_system"] and not attrs.get("ipxe_script_url"):
                raise serializers.ValidationError(
                    {"operating_system": "This field is required (or give an ipxe_script_url)."}
                )
            custom = OperatingSystem.objects.filter(custom_ipxe=True).first()
            if custom is None:
                raise serializers.ValidationError(
                    {"operating_system": "Unknown operating system 'custom_ipxe'."}
                )
            attrs["operating_system"] = custom
        return attrs

    @staticmethod
    def device_request(data: dict, quantity: int = 1, hostnames=()) -> DeviceRequest:
        """What a validated body (`data`) asks the services for."""
        ip_addresses = [dict(spec) for spec in data.get("ip_addresses") or DEFAULT_IPS]
        for size_field, public in (
            ("public_ipv4_subnet_size", True),
            ("private_ipv4_subnet_size", False),
        ):
            if data.get(size_field):
                for spec in ip_addresses:
                    if spec["address_family"] == 4 and spec.get("public", True) == public:
                        spec["cidr"] = data[size_field]
        keys = {
            name: data[name]
            for name in ("project_ssh_keys", "user_ssh_keys")
            if data.get(name) is not None
        }
        return DeviceRequest(
            plan=data["plan"],
            operating_system=data["operating_system"],
            metros=data.get("metro") or [],
            facilities=data.get("facility") or [],
            quantity=quantity,
            hostnames=list(hostnames) or ([data["hostname"]] if data.get("hostname") else []),
            description=data.get("description") or "",
            billing_cycle=data.get("billing_cycle") or Device.BillingCycle.HOURLY,
            tags=data.get("tags") or [],
            userdata=data.get("userdata") or "",
            customdata=data.get("customdata") or {},
            inline_ssh_keys=[k["key"] for k in data.get("ssh_keys") or ()],
            no_ssh_keys=data.get("no_ssh_keys", False),
            ip_addresses=ip_addresses,
            always_pxe=bool(data.get("always_pxe")),
            ipxe_script_url=data.get("ipxe_script_url") or "",
            locked=bool(data.get("locked")),
            **keys,
        )


class BatchItemInput(DeviceCreateInput):
    """One entry of InstancesBatchCreateInput.batches."""

    quantity = serializers.IntegerField(min_value=1, max_value=1000, required=False, default=1)
    hostnames = serializers.ListField(
        child=serializers.CharField(max_length=63), required=False, default=list
    )


class BatchCreateInput(serializers.Serializer):
    """InstancesBatchCreateInput."""

    batches = BatchItemInput(many=True, allow_empty=False)


class DeviceUpdateInput(DeviceSettingsInput):
    """DeviceUpdateInput. packet-python's Device.update() sends every field, nulls included;
    a null means "leave it"."""

    hostname = serializers.CharField(required=False, allow_null=True, max_length=63)

    def validate(self, attrs):
        attrs.pop("spot_instance", None)
        return {name: value for name, value in attrs.items() if value is not None}


class DeviceActionInput(serializers.Serializer):
    """DeviceActionInput."""

    type = serializers.ChoiceField(
        choices=["power_on", "power_off", "reboot", "rescue", "reinstall"]
    )
    operating_system = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    ipxe_script_url = serializers.URLField(required=False, allow_blank=True, allow_null=True)
    preserve_data = serializers.BooleanField(required=False, default=False)
    deprovision_fast = serializers.BooleanField(required=False, default=False)
    force_delete = serializers.BooleanField(required=False, default=False)


class IPAssignmentInput(serializers.Serializer):
    """IPAssignmentInput: an address (or subnet) out of one of the project's reservations."""

    address = serializers.CharField()
    manageable = serializers.BooleanField(required=False, allow_null=True)
    customdata = CustomDataField(required=False, allow_null=True)

    def validate_address(self, value):
        try:
            return ipaddress.ip_network(value.strip(), strict=True)
        except ValueError:
            raise serializers.ValidationError(
                "Give an address or subnet in CIDR form, e.g. 203.0.113.8/32."
            ) from None
