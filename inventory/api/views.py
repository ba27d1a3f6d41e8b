"""Metal v1 endpoints for the catalogue, capacity and project IP reservations.

The catalogue (plans, metros, facilities, operating systems) is the same for every caller;
only the project- and organization-scoped variants check visibility. IP reservations are read
through `visible()` and written through inventory.services with acting_user.
"""

import ipaddress
from itertools import islice

from django.db.models import QuerySet
from django.http import Http404
from rest_framework import serializers as drf
from rest_framework.response import Response

from portal.api.metal import ALL_METHODS, MetalView, by_id_or_code, list_param, scope_to_project
from portal.models import Organization, Project

from .. import ipam, services
from ..models import Facility, IPReservation, Metro, OperatingSystem, Plan
from . import assignments
from . import serializers as s

scope_to_project(IPReservation, "project")

# /ips/{id}/available on a large IPv6 reservation could list 2^64 subnets; Metal pages nothing
# here, so the answer stops at this many.
MAX_AVAILABLE = 1024
IPS_PER_PAGE = 250  # the spec's own default for GET /projects/{id}/ips


# Catalogue


def catalogue_plans(request) -> QuerySet:
    """Offered plans with Metal's filters: `categories[]` (any of), `type`, `slug`."""
    plans = Plan.objects.filter(active=True)
    plan_type = request.query_params.get("type")
    if plan_type:
        if plan_type not in Plan.Type.values:
            raise drf.ValidationError({"type": f"Must be one of {', '.join(Plan.Type.values)}."})
        plans = plans.filter(type=plan_type)
    slug = request.query_params.get("slug")
    if slug:
        plans = plans.filter(slug=slug)
    wanted = set(list_param(request, "categories[]", "categories"))
    if wanted:
        # JSON containment is not portable to SQLite; the catalogue is small, so match here.
        rows = plans.values_list("pk", "categories")
        matching = [pk for pk, categories in rows if wanted & set(categories)]
        plans = plans.filter(pk__in=matching)
    return plans


class PlanListView(MetalView):
    """/plans"""

    def get(self, request):
        return self.render_list(s.PlanSerializer, catalogue_plans(request), "plans")


class ProjectPlansView(MetalView):
    """/projects/{id}/plans: every project may deploy the whole catalogue."""

    def get(self, request, id):
        self.get_visible(Project, id)
        return self.render_list(s.PlanSerializer, catalogue_plans(request), "plans")


class OrganizationPlansView(MetalView):
    """/organizations/{id}/plans"""

    project_token_denied = ALL_METHODS

    def get(self, request, id):
        self.get_visible(Organization, id)
        return self.render_list(s.PlanSerializer, catalogue_plans(request), "plans")


class MetroListView(MetalView):
    """/locations/metros"""

    def get(self, request):
        return self.render_list(s.MetroSerializer, Metro.objects.order_by("code"), "metros")


class MetroView(MetalView):
    """/locations/metros/{id}: the id, or the metro code as clients often pass."""

    def get(self, request, id):
        metro = by_id_or_code(Metro.objects.all(), id, "code")
        if metro is None:
            raise Http404
        return self.render(s.MetroSerializer, metro)


class FacilityListView(MetalView):
    """/facilities (legacy, removed from the 2026 API; packet-python's list_facilities)."""

    def get(self, request):
        facilities = Facility.objects.order_by("code")
        return self.render_list(s.FacilitySerializer, facilities, "facilities")


class OperatingSystemListView(MetalView):
    """/operating-systems"""

    ordering = ("distro", "slug")

    def get(self, request):
        systems = OperatingSystem.objects.order_by(*self.ordering)
        return self.render_list(s.OperatingSystemSerializer, systems, "operating_systems")


class OperatingSystemVersionListView(OperatingSystemListView):
    """/operating-system-versions: every image, grouped by distro and ordered by version."""

    ordering = ("distro", "version", "slug")


class OrganizationOperatingSystemsView(OperatingSystemListView):
    """/organizations/{id}/operating-systems"""

    project_token_denied = ALL_METHODS

    def get(self, request, id):
        self.get_visible(Organization, id)
        return super().get(request)


# Capacity


class FacilityCapacityView(MetalView):
    """/capacity: GET the facility-level report; POST the legacy facility check."""

    query_methods = frozenset({"POST"})
    location, model = "facility", Facility
    legacy_modes = ("only", "include", "exclude")

    def get(self, request):
        legacy = request.query_params.get("legacy")
        if legacy and legacy not in self.legacy_modes:
            raise drf.ValidationError({"legacy": f"Must be one of {', '.join(self.legacy_modes)}."})
        if legacy == "only":
            return Response({"capacity": {}})  # no plan here is a legacy plan
        report = services.capacity_report(by="facility")
        # The facility report is level-only in the spec (the legacy shape).
        capacity = {
            code: {slug: {"level": entry["level"]} for slug, entry in plans.items()}
            for code, plans in report.items()
        }
        return Response({"capacity": capacity})

    def post(self, request):
        data = self.validated(s.CapacityInput, location=self.location)
        counts = services.available_machine_counts(by=self.location)
        by_key = self._index(self.model.objects.all(), "code")
        plans = self._index(Plan.objects.filter(active=True), "slug")
        errors, checks = {}, []
        for n, server in enumerate(data["servers"]):
            location = by_key.get(server[self.location])
            plan = plans.get(server["plan"])
            if location is None:
                errors[f"servers.{n}.{self.location}"] = f"Unknown {self.location}."
            if plan is None:
                errors[f"servers.{n}.plan"] = "Unknown plan."
            if location and plan:
                available = counts.get((location.code, plan.slug), 0) >= server["quantity"]
                checks.append(
                    {
                        self.location: server[self.location],
                        "plan": server["plan"],
                        "quantity": str(server["quantity"]),
                        "available": available,
                    }
                )
        if errors:
            raise drf.ValidationError(errors)
        return Response({"servers": checks})

    @staticmethod
    def _index(queryset: QuerySet, code_field: str) -> dict:
        """Rows by code/slug and by id, so a check may name either."""
        index = {}
        for row in queryset:
            index[getattr(row, code_field)] = row
            index[str(row.uuid)] = row
        return index


class MetroCapacityView(FacilityCapacityView):
    """/capacity/metros: GET the report with available servers; POST a deploy check."""

    location, model = "metro", Metro

    def get(self, request):
        return Response({"capacity": services.capacity_report(by="metro")})


# IP reservations


def _reservation_location(data: dict) -> tuple[Metro | None, Facility | None]:
    """The metro and facility a reservation request names (code or id); 422 if unknown."""
    metro = facility = None
    if data.get("facility"):
        facilities = Facility.objects.select_related("metro")
        facility = by_id_or_code(facilities, data["facility"], "code")
        if facility is None:
            raise drf.ValidationError({"facility": "Unknown facility."})
    if data.get("metro"):
        metro = by_id_or_code(Metro.objects.all(), data["metro"], "code")
        if metro is None:
            raise drf.ValidationError({"metro": "Unknown metro."})
        if facility is not None and facility.metro_id != metro.pk:
            raise drf.ValidationError({"facility": f"Not in metro {metro.code}."})
    return metro, facility


class ProjectIPsView(MetalView):
    """/projects/{id}/ips"""

    def get(self, request, id):
        project = self.get_visible(Project, id)
        reservations = self.visible(IPReservation).filter(project=project)
        types = list_param(request, "types")
        if types:
            reservations = reservations.filter(block__kind__in=types)
        return self.render_list(
            s.IPReservationSerializer,
            reservations,
            "ip_addresses",
            paged=True,
            per_page=IPS_PER_PAGE,
        )

    def post(self, request, id):
        project = self.get_visible(Project, id)
        data = self.validated(s.IPReservationInput)
        metro, facility = _reservation_location(data)
        reservation = services.reserve_ips(
            project=project,
            acting_user=request.user,
            kind=data["type"],
            quantity=data["quantity"],
            metro=metro,
            facility=facility,
            details=data.get("details") or "",
            comments=data.get("comments") or "",
            tags=data.get("tags") or (),
            customdata=data.get("customdata") or {},
        )
        return self.render(s.IPReservationSerializer, reservation, status=201)


class IPView(MetalView):
    """/ips/{id}: a reservation, or (served by provisioning) a device's assignment."""

    def dispatch(self, request, *args, **kwargs):
        view = assignments.view()
        if view is not None and not IPReservation.objects.filter(uuid=kwargs["id"]).exists():
            return view(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, id):
        return self.render_visible(s.IPReservationSerializer, IPReservation, id)

    def patch(self, request, id):
        reservation = self.get_visible(IPReservation, id)
        reservation = services.update_ip_reservation(
            reservation=reservation,
            acting_user=request.user,
            **self.validated(s.IPReservationUpdateInput),
        )
        return self.render(s.IPReservationSerializer, reservation)

    put = patch

    def delete(self, request, id):
        reservation = self.get_visible(IPReservation, id)
        services.release_ips(reservation=reservation, acting_user=request.user)
        return self.gone()


def assigned_networks(reservation: IPReservation) -> list[ipam.Network]:
    """Subnets of the reservation held by devices."""
    return [
        ipaddress.ip_network(network)
        for _, network in assignments.held([reservation.pk]).get(reservation.pk, [])
    ]


class IPAvailabilityView(MetalView):
    """/ips/{id}/available?cidr=N: free /N subnets inside the reservation."""

    def get(self, request, id):
        reservation = self.get_visible(IPReservation, id)
        network = reservation.ip_network
        raw = request.query_params.get("cidr", "")
        try:
            prefix = int(raw)
        except ValueError:
            raise drf.ValidationError({"cidr": "Give a prefix length, e.g. cidr=32."}) from None
        if not network.prefixlen <= prefix <= network.max_prefixlen:
            raise drf.ValidationError(
                {"cidr": f"Must be between {network.prefixlen} and {network.max_prefixlen}."}
            )
        free = ipam.free_subnets(network, prefix, assigned_networks(reservation))
        return Response({"available": [str(net) for net in islice(free, MAX_AVAILABLE)]})
