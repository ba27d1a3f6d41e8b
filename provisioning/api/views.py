"""Metal v1 endpoints for devices, batches, device IP assignments and device events
(namespace "provisioning-api").

Reads start from `visible()` (for_user, narrowed to a project key's project); writes go through
provisioning.services with acting_user, which re-check the caller's role (403) and the device's
state (422). Names in request bodies (plan, metro, OS, keys) are resolved here, so an unknown
one is a 422 on its own field before any service runs.
"""

import ipaddress

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpResponse
from rest_framework import serializers as drf
from rest_framework.response import Response

from inventory.api import assignments as inventory_assignments
from inventory.api.serializers import IPReservationUpdateInput
from inventory.models import IPReservation, OperatingSystem
from portal.api.metal import (
    ALL_METHODS,
    MetalView,
    by_id_or_code,
    list_param,
    page_keys,
    scope_to_project,
)
from portal.api.serializers import EventSerializer, SSHKeySerializer
from portal.models import Event, EventRelation, Organization, Project

from .. import services
from ..boot.metadata import METADATA_RELATED, api_metadata
from ..filters import DeviceFilter
from ..forms import clean_userdata
from ..models import Batch, Device, IPAssignment
from . import render
from . import serializers as s
from .render import DeviceList

scope_to_project(Device, "project")
scope_to_project(Batch, "project")
scope_to_project(IPAssignment, "device__project")

DEVICES_PER_PAGE = 20  # the spec's default for device lists
BOOLEAN_WORDS = {"true": True, "1": True, "false": False, "0": False}


def _boolean_param(request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() not in BOOLEAN_WORDS:
        raise drf.ValidationError({name: "Must be true or false."})
    return BOOLEAN_WORDS[raw.lower()]


def filter_devices(request, devices: QuerySet) -> QuerySet:
    """Metal's device list filters, from the query string (provisioning.filters decides)."""
    params = request.query_params
    reserved = _boolean_param(request, "reserved") or _boolean_param(
        request, "has_termination_time"
    )
    return DeviceFilter(
        search=params.get("search") or "",
        hostname=params.get("hostname") or "",
        tag=params.get("tag") or "",
        states=list_param(request, "state"),
        plan=params.get("plan") or "",
        metro=params.get("metro") or "",
        facility=params.get("facility") or "",
        device_type=params.get("type") or "",
        mac_address=params.get("mac_address") or "",
        plan_categories=list_param(request, "categories", "categories[]"),
        reserved_only=bool(reserved),
    ).apply(devices)


class DeviceListMixin:
    def render_devices(self, devices: QuerySet) -> HttpResponse:
        """A page of devices, rendered without DRF's per-field machinery (see render.py)."""
        keys, meta = self.page_of(devices)
        body = {"devices": DeviceList(self.metal_context()).page(keys), "meta": meta}
        return HttpResponse(render.encode(body), content_type="application/json")

    def page_of(self, devices: QuerySet) -> tuple[list[int], dict]:
        """The keys and `meta` of the page the request asks for, its filters applied."""
        return page_keys(self.request, filter_devices(self.request, devices), DEVICES_PER_PAGE)


class ProjectDevicesView(DeviceListMixin, MetalView):
    """/projects/{id}/devices: what clients and Terraform poll while servers provision."""

    def get(self, request, id):
        project_id = self.visible(Project).filter(uuid=id).values_list("pk", flat=True).first()
        if project_id is None:
            raise Http404
        # The caller sees the project, so every live device in it: no visibility test per row.
        return self.render_devices(Device.objects.live().filter(project_id=project_id))

    def post(self, request, id):
        project = self.get_visible(Project, id)
        data = self.validated(s.DeviceCreateInput, project=project)
        [device] = services.create_devices(
            project=project,
            acting_user=request.user,
            request=s.DeviceCreateInput.device_request(data),
        )
        return self.render(s.DeviceSerializer, device, status=201)


class OrganizationDevicesView(DeviceListMixin, MetalView):
    """/organizations/{id}/devices: every visible device in the organization's projects."""

    project_token_denied = ALL_METHODS

    def get(self, request, id):
        organization = self.get_visible(Organization, id)
        return self.render_devices(self.visible(Device).filter(project__organization=organization))


class DeviceView(MetalView):
    """/devices/{id}: read, update (PUT or PATCH), delete (`force_delete`)."""

    def get(self, request, id):
        return self.render_visible(s.DeviceSerializer, Device, id)

    def put(self, request, id):
        device = self.get_visible(Device, id)
        changes = self.validated(s.DeviceUpdateInput)
        device = services.update_device(device=device, acting_user=request.user, **changes)
        return self.render(s.DeviceSerializer, device)

    patch = put

    def delete(self, request, id):
        device = self.get_visible(Device, id)
        force = _boolean_param(request, "force_delete") or False
        services.delete_device(device=device, acting_user=request.user, force=force)
        return self.gone()


class DeviceActionsView(MetalView):
    """/devices/{id}/actions: 202 with an empty body; the operation runs on a worker."""

    def post(self, request, id):
        device = self.get_visible(Device, id)
        data = self.validated(s.DeviceActionInput)
        operating_system = None
        os_name = (data.get("operating_system") or "").strip()
        if data["type"] == "reinstall" and os_name:
            operating_system = by_id_or_code(OperatingSystem.objects.all(), os_name, "slug")
            if operating_system is None:
                raise drf.ValidationError(
                    {"operating_system": f"Unknown operating system '{os_name}'."}
                )
        services.perform_action(
            device=device,
            acting_user=request.user,
            action=data["type"],
            operating_system=operating_system,
            preserve_data=data["preserve_data"],
            deprovision_fast=data["deprovision_fast"],
        )
        return Response(status=202)


class DeviceEventsView(MetalView):
    """/devices/{id}/events: the audit events that name the device, newest first."""

    def get(self, request, id):
        device = self.get_visible(Device, id)
        names_device = EventRelation.objects.filter(
            event=OuterRef("pk"), kind="device", object_id=device.uuid
        )
        events = self.visible(Event).filter(Exists(names_device))
        return self.render_list(EventSerializer, events, "events", paged=True)


class DeviceIPsView(MetalView):
    """/devices/{id}/ips"""

    def get(self, request, id):
        device = self.get_visible(Device, id)
        assignments = self.visible(IPAssignment).filter(device=device)
        return self.render_list(s.IPAssignmentSerializer, assignments, "ip_addresses")

    def post(self, request, id):
        device = self.get_visible(Device, id)
        network = self.validated(s.IPAssignmentInput)["address"]
        # The address may be a whole reservation or a subnet of one (a /32 of a /29).
        reservations = (
            self.visible(IPReservation)
            .filter(project=device.project, management=False)
            .select_related("block", "metro")
        )
        reservation = next(
            (
                r
                for r in reservations
                if network.version == ipaddress.ip_network(r.network).version
                and network.subnet_of(ipaddress.ip_network(r.network))
            ),
            None,
        )
        if reservation is None:
            raise drf.ValidationError(
                {"address": f"{network} is not inside one of this project's IP reservations."}
            )
        assignment = services.assign_ip(
            reservation=reservation, device=device, acting_user=request.user, network=str(network)
        )
        return self.render(s.IPAssignmentSerializer, assignment, status=201)


class DeviceSSHKeysView(MetalView):
    """/devices/{id}/ssh-keys: the keys installed on the device."""

    def get(self, request, id):
        device = self.get_visible(Device, id)
        return self.render_list(SSHKeySerializer, device.ssh_keys.all(), "ssh_keys")


class DeviceMetadataView(MetalView):
    """/devices/{id}/metadata"""

    def get(self, request, id):
        queryset = self.visible(Device).select_related(*METADATA_RELATED)
        return Response(api_metadata(self.get_visible(Device, id, queryset)))


class DeviceUserdataView(MetalView):
    """/devices/{id}/userdata"""

    def get(self, request, id):
        device = self.get_visible(Device, id)
        return Response({"userdata": device.userdata})


class UserdataValidateView(MetalView):
    """/userdata/validate?userdata=…: 204 if cloud-init could read it, 422 otherwise."""

    query_methods = frozenset({"POST"})

    def post(self, request):
        # The spec passes it in the query string: MetalRequest reads it from there or the body.
        userdata = request.data.get("userdata", "") if isinstance(request.data, dict) else ""
        try:
            clean_userdata(userdata)
        except ValidationError as exc:
            raise drf.ValidationError({"userdata": exc.messages}) from None
        return Response(status=204)


class ProjectBatchCreateView(MetalView):
    """/projects/{id}/devices/batch: every batch is created, or none is (422)."""

    def post(self, request, id):
        project = self.get_visible(Project, id)
        data = self.validated(s.BatchCreateInput, project=project)
        requests = [
            s.DeviceCreateInput.device_request(item, item["quantity"], item["hostnames"])
            for item in data["batches"]
        ]
        batches = services.create_batches(
            project=project, acting_user=request.user, requests=requests
        )
        rows = Batch.objects.filter(pk__in=[b.pk for b in batches]).order_by("pk")
        response = self.render_list(s.BatchSerializer, rows, "batches")
        response.status_code = 201
        return response


class ProjectBatchesView(MetalView):
    """/projects/{id}/batches"""

    def get(self, request, id):
        project = self.get_visible(Project, id)
        batches = self.visible(Batch).filter(project=project)
        return self.render_list(s.BatchSerializer, batches, "batches")


class BatchView(MetalView):
    """/batches/{id}: read, delete (`remove_associated_instances` deletes its devices too)."""

    def get(self, request, id):
        return self.render_visible(s.BatchSerializer, Batch, id)

    def delete(self, request, id):
        batch = self.get_visible(Batch, id)
        services.delete_batch(
            batch=batch,
            acting_user=request.user,
            remove_devices=_boolean_param(request, "remove_associated_instances") or False,
        )
        return self.gone()


class IPAssignmentView(MetalView):
    """/ips/{id} for a device's assignment (inventory hands these ids over)."""

    def get(self, request, id):
        return self.render_visible(s.IPAssignmentSerializer, IPAssignment, id)

    def patch(self, request, id):
        assignment = services.update_ip_assignment(
            assignment=self.get_visible(IPAssignment, id),
            acting_user=request.user,
            **self.validated(IPReservationUpdateInput),
        )
        return self.render(s.IPAssignmentSerializer, assignment)

    put = patch  # Metal's Rails routes sent PUT and PATCH alike to an update

    def delete(self, request, id):
        assignment = self.get_visible(IPAssignment, id)
        services.unassign_ip(assignment=assignment, acting_user=request.user)
        return self.gone()


def _held(reservation_ids: list[int]) -> dict[int, list[tuple]]:
    held: dict[int, list[tuple]] = {}
    rows = IPAssignment.objects.filter(reservation_id__in=reservation_ids).order_by("pk")
    for reservation_id, key, network in rows.values_list("reservation_id", "uuid", "network"):
        held.setdefault(reservation_id, []).append((key, network))
    return held


inventory_assignments.register(view=IPAssignmentView.as_view(), held=_held)
