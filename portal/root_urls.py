"""Root URLs: the three apps' pages and the Metal v1 API, wired together here only."""

from django.urls import include, path

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
]

handler400 = "portal.views.errors.bad_request"
handler404 = "portal.views.errors.not_found"
handler500 = "portal.views.errors.server_error"
