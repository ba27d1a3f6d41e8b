"""Root URLs: the three apps' pages and the Metal v1 API, wired together here only."""

from django.urls import include, path

urlpatterns = [
    path("metal/v1/", include("portal.api.urls")),
    path("", include("portal.urls")),
]

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"
