"""Metal v1 API for the inventory (namespace "inventory-api")."""

from django.urls import path

from . import views as v

app_name = "inventory-api"

urlpatterns = [
    path("plans", v.PlanListView.as_view(), name="plans"),
    path("projects/<uuid:id>/plans", v.ProjectPlansView.as_view(), name="project-plans"),
    path(
        "organizations/<uuid:id>/plans",
        v.OrganizationPlansView.as_view(),
        name="organization-plans",
    ),
    path("locations/metros", v.MetroListView.as_view(), name="metros"),
    path("locations/metros/<str:id>", v.MetroView.as_view(), name="metro"),
    path("facilities", v.FacilityListView.as_view(), name="facilities"),
    path("operating-systems", v.OperatingSystemListView.as_view(), name="operating-systems"),
    path(
        "operating-system-versions",
        v.OperatingSystemVersionListView.as_view(),
        name="operating-system-versions",
    ),
    path(
        "organizations/<uuid:id>/operating-systems",
        v.OrganizationOperatingSystemsView.as_view(),
        name="organization-operating-systems",
    ),
    path("capacity", v.FacilityCapacityView.as_view(), name="capacity"),
    path("capacity/metros", v.MetroCapacityView.as_view(), name="capacity-metros"),
    path("projects/<uuid:id>/ips", v.ProjectIPsView.as_view(), name="project-ips"),
    path("ips/<uuid:id>", v.IPView.as_view(), name="ip"),
    path("ips/<uuid:id>/available", v.IPAvailabilityView.as_view(), name="ip-available"),
]
