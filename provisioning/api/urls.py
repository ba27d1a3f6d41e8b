"""Metal v1 API for provisioning (namespace "provisioning-api")."""

from django.urls import path

from ..billing import api as u
from . import views as v

app_name = "provisioning-api"

urlpatterns = [
    path("projects/<uuid:id>/usages", u.ProjectUsagesView.as_view(), name="project-usages"),
    path("devices/<uuid:id>/usages", u.DeviceUsagesView.as_view(), name="device-usages"),
    path(
        "organizations/<uuid:id>/invoices",
        u.OrganizationInvoicesView.as_view(),
        name="organization-invoices",
    ),
    path("invoices/<uuid:id>", u.InvoiceView.as_view(), name="invoice"),
    path("projects/<uuid:id>/devices", v.ProjectDevicesView.as_view(), name="project-devices"),
    path(
        "projects/<uuid:id>/devices/batch",
        v.ProjectBatchCreateView.as_view(),
        name="project-device-batch",
    ),
    path("projects/<uuid:id>/batches", v.ProjectBatchesView.as_view(), name="project-batches"),
    path(
        "organizations/<uuid:id>/devices",
        v.OrganizationDevicesView.as_view(),
        name="organization-devices",
    ),
    path("devices/<uuid:id>", v.DeviceView.as_view(), name="device"),
    path("devices/<uuid:id>/actions", v.DeviceActionsView.as_view(), name="device-actions"),
    path("devices/<uuid:id>/events", v.DeviceEventsView.as_view(), name="device-events"),
    path("devices/<uuid:id>/ips", v.DeviceIPsView.as_view(), name="device-ips"),
    path("devices/<uuid:id>/ssh-keys", v.DeviceSSHKeysView.as_view(), name="device-ssh-keys"),
    path("devices/<uuid:id>/metadata", v.DeviceMetadataView.as_view(), name="device-metadata"),
    path("devices/<uuid:id>/userdata", v.DeviceUserdataView.as_view(), name="device-userdata"),
    path("userdata/validate", v.UserdataValidateView.as_view(), name="userdata-validate"),
    path("batches/<uuid:id>", v.BatchView.as_view(), name="batch"),
]
