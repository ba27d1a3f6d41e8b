"""Server pages (namespace "provisioning"); the API lives in provisioning.api.urls."""

from django.urls import path

from . import views

app_name = "provisioning"

urlpatterns = [
    path("projects/<uuid:project_id>/servers/", views.device_list, name="devices"),
    path("projects/<uuid:project_id>/servers/actions/", views.device_bulk, name="device-bulk"),
    path("projects/<uuid:project_id>/servers/new/", views.deploy, name="deploy"),
    path("projects/<uuid:project_id>/ips/", views.ip_list, name="ips"),
    path("servers/<uuid:device_id>/", views.device_detail, name="device"),
    path("servers/<uuid:device_id>/badge/", views.device_badge, name="device-badge"),
    path("servers/<uuid:device_id>/actions/", views.device_action, name="device-action"),
    path("servers/<uuid:device_id>/delete/", views.device_delete, name="device-delete"),
    path("servers/<uuid:device_id>/settings/", views.device_settings, name="device-settings"),
    path("servers/<uuid:device_id>/password/", views.device_password, name="device-password"),
    path("ips/<uuid:reservation_id>/release/", views.ip_release, name="ip-release"),
    path("ips/<uuid:reservation_id>/assign/", views.ip_assign, name="ip-assign"),
    path("ip-assignments/<uuid:assignment_id>/unassign/", views.ip_unassign, name="ip-unassign"),
]
