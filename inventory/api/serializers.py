"""Metal v1 shapes for the catalogue (plans, metros, facilities, operating systems) and for
project IP reservations. Output serializers follow the SDK-patched spec, whose generated
clients reject wrong scalar types and unknown enum values; inputs only validate shape."""

from rest_framework import serializers

from portal.api.metal import MetalSerializer, Ref, Timestamp
from portal.api.serializers import CustomDataField, ProjectSerializer
from portal.hrefs import href_for

from .. import ipam
from ..models import Facility, IPBlock
from . import assignments

# The SDKs validate these enums; anything else an operator typed in is left out, not sent.
DEPLOYMENT_TYPES = ("on_demand", "spot_market")
ADDRESS_KEYS = ("address", "address2", "city", "state", "zip_code", "country")


def _price(value) -> dict:
    # Decimal → JSON number: the SDK's price.hour is StrictFloat | StrictInt, never a string.
    return {"hour": float(value)}


class MetroSerializer(MetalSerializer):
    """Metal Metro."""

    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    country = serializers.CharField(read_only=True)


class FacilitySerializer(MetalSerializer):
    """Metal Facility (legacy location): enum-only features, an Address, and its metro."""

    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    features = serializers.SerializerMethodField()
    address = serializers.SerializerMethodField()
    ip_ranges = serializers.SerializerMethodField()
    metro = Ref(MetroSerializer, expand=True)

    def get_features(self, obj) -> list[str]:
        return [f for f in obj.features if f in Facility.Feature.values]

    def get_address(self, obj) -> dict:
        raw = obj.address if isinstance(obj.address, dict) else {}
        return {k: str(raw[k]) for k in ADDRESS_KEYS if raw.get(k) not in (None, "")}

    def get_ip_ranges(self, obj) -> list[str]:
        return []  # no GeoIP ranges are kept per facility


class PlanSerializer(MetalSerializer):
    """Metal Plan: one hourly price, offered in its metros and in every facility of them."""

    prefetch = ("metros__facilities",)

    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    line = serializers.CharField(read_only=True)
    type = serializers.CharField(read_only=True)
    categories = serializers.ListField(child=serializers.CharField(), read_only=True)
    deployment_types = serializers.SerializerMethodField()
    legacy = serializers.SerializerMethodField()
    specs = serializers.JSONField(read_only=True)
    pricing = serializers.SerializerMethodField()
    available_in = serializers.SerializerMethodField()
    available_in_metros = serializers.SerializerMethodField()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["class"] = instance.plan_class or instance.slug  # a Python keyword as a field name
        return data

    def get_deployment_types(self, obj) -> list[str]:
        return [t for t in obj.deployment_types if t in DEPLOYMENT_TYPES]

    def get_legacy(self, obj) -> bool:
        return False  # the spec: "Deprecated. Always return false"

    def get_pricing(self, obj) -> dict:
        return _price(obj.hourly_price)

    def get_available_in(self, obj) -> list[dict]:
        # Prefetched: no query per plan or per metro.
        facilities = [f for metro in obj.metros.all() for f in metro.facilities.all()]
        return [
            {"href": href_for(f), "price": _price(obj.hourly_price)}
            for f in sorted(facilities, key=lambda f: f.code)
        ]

    def get_available_in_metros(self, obj) -> list[dict]:
        return [
            {"href": href_for(m), "price": _price(obj.hourly_price)}
            for m in sorted(obj.metros.all(), key=lambda m: m.code)
        ]


class OperatingSystemSerializer(MetalSerializer):
    """Metal OperatingSystem; the boot path's URLs stay internal."""

    prefetch = ("provisionable_on",)

    slug = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    distro = serializers.CharField(read_only=True)
    distro_label = serializers.CharField(read_only=True)
    version = serializers.CharField(read_only=True)
    provisionable_on = serializers.SerializerMethodField()
    default_operating_system = serializers.BooleanField(read_only=True)
    licensed = serializers.BooleanField(read_only=True)
    preinstallable = serializers.BooleanField(read_only=True)
    pricing = serializers.SerializerMethodField()
    lifecycle_state = serializers.CharField(read_only=True)
    release_date = serializers.DateField(read_only=True)
    deprecation_date = serializers.DateField(read_only=True)
    end_of_service_date = serializers.DateField(read_only=True)
    end_of_life_date = serializers.DateField(read_only=True)

    def get_provisionable_on(self, obj) -> list[str]:
        return sorted(plan.slug for plan in obj.provisionable_on.all())

    def get_pricing(self, obj) -> dict:
        return _price(obj.hourly_price) if obj.hourly_price else {}


class SubnetSerializer(MetalSerializer):
    """What Metal derives from a subnet, alike for reservations and device assignments;
    subclasses say which subnet (`subnet`) and which address in it is the object's."""

    address = serializers.SerializerMethodField()
    address_family = serializers.SerializerMethodField()
    cidr = serializers.SerializerMethodField()
    netmask = serializers.SerializerMethodField()
    network = serializers.SerializerMethodField()
    gateway = serializers.SerializerMethodField()

    def subnet(self, obj) -> ipam.Network:
        raise NotImplementedError

    def get_address(self, obj) -> str:
        return str(self.subnet(obj).network_address)

    def get_address_family(self, obj) -> int:
        return self.subnet(obj).version

    def get_cidr(self, obj) -> int:
        return self.subnet(obj).prefixlen

    def get_netmask(self, obj) -> str:
        return str(self.subnet(obj).netmask)

    def get_network(self, obj) -> str:
        return str(self.subnet(obj).network_address)

    def get_gateway(self, obj) -> str:
        return str(ipam.gateway_address(self.subnet(obj)))


class IPReservationSerializer(SubnetSerializer):
    """Metal IPReservation. It carries `type` and never `assigned_to`: the SDK resolves the
    oneOf of GET /ips/{id} by exactly that difference from an IPAssignment."""

    select = ("block",)

    type = serializers.CharField(source="block.kind", read_only=True)
    public = serializers.SerializerMethodField()
    global_ip = serializers.SerializerMethodField()
    management = serializers.BooleanField(read_only=True)
    manageable = serializers.SerializerMethodField()
    addon = serializers.SerializerMethodField()
    bill = serializers.SerializerMethodField()
    enabled = serializers.SerializerMethodField()
    metro = Ref(MetroSerializer, expand=True)
    facility = Ref(FacilitySerializer, expand=True)
    project = Ref(ProjectSerializer)
    project_lite = serializers.SerializerMethodField()
    assignments = serializers.SerializerMethodField()
    available = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    details = serializers.CharField(read_only=True)
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    customdata = serializers.JSONField(read_only=True)
    # No updated_at: the spec's IPReservation allows no property beyond its own.
    created_at = Timestamp(read_only=True)

    def subnet(self, obj) -> ipam.Network:
        return obj.ip_network

    def get_public(self, obj) -> bool:
        return obj.block.kind != IPBlock.Kind.PRIVATE_IPV4

    def get_global_ip(self, obj) -> bool:
        return obj.block.kind == IPBlock.Kind.GLOBAL_IPV4

    def get_manageable(self, obj) -> bool:
        return not obj.management  # a server's own addresses go with the server

    def get_addon(self, obj) -> bool:
        return not obj.management

    def get_bill(self, obj) -> bool:
        return False

    def get_enabled(self, obj) -> bool:
        return True

    def get_project_lite(self, obj) -> dict:
        return {"href": href_for(obj.project)}

    def get_assignments(self, obj) -> list[dict]:
        # Looked up once for every reservation being rendered, not once per row.
        held = self.context.get("_held_assignments")
        if held is None or obj.pk not in held:
            siblings = getattr(self.parent, "instance", None) if self.parent else None
            many = siblings is not None and getattr(self.parent, "many", False)
            rows = list(siblings) if many else [obj]
            held = self.context["_held_assignments"] = assignments.held(
                {row.pk for row in rows} | {obj.pk}
            )
        return [{"href": f"/metal/v1/ips/{key}"} for key, _ in held.get(obj.pk, [])]

    def get_available(self, obj) -> str:
        return f"{href_for(obj)}/available"

    def get_state(self, obj) -> str:
        return "created"


# Inputs


class IPReservationInput(serializers.Serializer):
    """IPReservationRequestInput; the location is resolved by the view, the rest by the service."""

    type = serializers.ChoiceField(choices=IPBlock.Kind.values)
    quantity = serializers.IntegerField(min_value=1)
    metro = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    facility = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    # packet-python sends details and comments as null when not given.
    details = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    comments = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    tags = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, allow_null=True
    )
    customdata = CustomDataField(required=False, allow_null=True)
    # Nothing here waits for approval, so the flag never changes the outcome.
    fail_on_approval_required = serializers.BooleanField(required=False)


class IPReservationUpdateInput(serializers.Serializer):
    """IPAssignmentUpdateInput: what PATCH /ips/{id} takes, for reservations and assignments."""

    details = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    customdata = CustomDataField(required=False)


class ServerInfoInput(serializers.Serializer):
    """One ServerInfo of a capacity check: a location (metro or facility), plan and quantity."""

    metro = serializers.CharField(required=False)
    facility = serializers.CharField(required=False)
    plan = serializers.CharField()
    # The spec says string, packet-python sends what it was given (usually an int).
    quantity = serializers.CharField()

    def validate_quantity(self, value):
        try:
            quantity = int(str(value).strip())
        except ValueError:
            raise serializers.ValidationError("Must be a whole number.") from None
        if quantity < 1:
            raise serializers.ValidationError("Must be at least 1.")
        return quantity

    def validate(self, attrs):
        location = self.context["location"]
        if not attrs.get(location):
            raise serializers.ValidationError({location: "This field is required."})
        return attrs


class CapacityInput(serializers.Serializer):
    """CapacityInput: `{"servers": [ServerInfo, …]}`."""

    servers = ServerInfoInput(many=True, allow_empty=False)
