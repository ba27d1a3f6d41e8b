"""Metal v1 endpoints for devices (namespace "provisioning-api"); so far the owner's view of
what the metadata service tells the server itself."""

from rest_framework.response import Response

from portal.api.metal import MetalView, scope_to_project

from ..boot.metadata import api_metadata
from ..models import Device

scope_to_project(Device, "project")

_METADATA_RELATIONS = ("plan", "metro", "facility", "operating_system", "machine", "project")


class DeviceMetadataView(MetalView):
    """/devices/{id}/metadata"""

    def get(self, request, id):
        queryset = self.visible(Device).select_related(*_METADATA_RELATIONS)
        return Response(api_metadata(self.get_visible(Device, id, queryset)))


class DeviceUserdataView(MetalView):
    """/devices/{id}/userdata"""

    def get(self, request, id):
        device = self.get_visible(Device, id)
        return Response({"userdata": device.userdata})
