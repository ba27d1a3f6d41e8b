"""Root URLs: the three apps' pages, the Metal v1 API and the monitoring endpoints, wired
together here only."""

from django.urls import include, path

from portal import health
from provisioning import scrape

urlpatterns = [
    # Resolution tries patterns in order: the paths clients poll (devices) come first.
    path("metal/v1/", include("provisioning.api.urls")),
    path("metal/v1/", include("portal.api.urls")),
    path("metal/v1/", include("inventory.api.urls")),
    path("", include("provisioning.boot.urls")),  # boot/…, metadata, phone-home (machines)
    path("", include("inventory.urls")),  # operator/… (staff) and catalogue/ (signed in)
    path("", include("provisioning.urls")),  # projects/…/servers/, servers/…, projects/…/ips/
    path("", include("provisioning.billing.urls")),  # projects/…/usage/, orgs/…/billing/
    path("", include("portal.urls")),
    # For operators' monitoring: Prometheus scrapes (restricted), health probes (open).
    path("metrics", scrape.metrics, name="metrics"),
    path("health/", health.health, name="health"),
    path("health/live", health.live, name="health-live"),
]

handler400 = "portal.views.errors.bad_request"
handler404 = "portal.views.errors.not_found"
handler500 = "portal.views.errors.server_error"
