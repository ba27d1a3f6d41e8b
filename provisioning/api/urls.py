"""Metal v1 API for provisioning (namespace "provisioning-api")."""

from django.urls import path

from . import views as v

app_name = "provisioning-api"

urlpatterns = [
    path("devices/<uuid:id>/metadata", v.DeviceMetadataView.as_view(), name="device-metadata"),
    path("devices/<uuid:id>/userdata", v.DeviceUserdataView.as_view(), name="device-userdata"),
]
