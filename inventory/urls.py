"""Inventory pages (namespace "inventory"): the operator console under operator/, and the
catalogue every signed-in user can read."""

from django.urls import path

from . import views

app_name = "inventory"

urlpatterns = [
    path("catalogue/", views.catalogue, name="catalogue"),
    path("operator/", views.machines, name="machines"),
    path("operator/machines/actions/", views.machine_actions, name="machine-actions"),
    path("operator/machines/<uuid:machine_id>/", views.machine_detail, name="machine"),
    path("operator/machines/<uuid:machine_id>/power/", views.machine_power, name="machine-power"),
    path("operator/enroll/", views.enroll, name="enroll"),
    path("operator/catalogue/<slug:kind>/", views.catalogue_list, name="catalogue-list"),
    path("operator/catalogue/<slug:kind>/new/", views.catalogue_edit, name="catalogue-new"),
    path(
        "operator/catalogue/<slug:kind>/<uuid:item_id>/",
        views.catalogue_edit,
        name="catalogue-edit",
    ),
]
