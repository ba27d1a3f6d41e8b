"""The real URLs plus two views for `make bench-api`, both returning the bytes of the API
response under test, read once from IRONYARD_BENCH_BODY, through the same middleware:

- /bench/baseline: a bare Django view. API ÷ baseline is what DRF, the view, the queries and
  the serialization cost.
- /bench/floor/projects/{id}/devices: the device list's own view doing everything but render
  its page (the token and its rate limits, the project's visibility, the filters, the page's
  count and keys). Floor ÷ baseline bounds what any rendering of the page could reach.
"""

import os
from pathlib import Path

from django.http import HttpResponse
from django.urls import path

from portal.root_urls import handler404, handler500
from portal.root_urls import urlpatterns as app_urlpatterns
from provisioning.api import views

_BODY = Path(os.environ["IRONYARD_BENCH_BODY"]).read_bytes()


def baseline(request):
    return HttpResponse(_BODY, content_type="application/json")


class FloorView(views.ProjectDevicesView):
    def render_devices(self, devices):
        self.page_of(devices)
        return HttpResponse(_BODY, content_type="application/json")


urlpatterns = [
    path("bench/baseline", baseline),
    path("bench/floor/projects/<uuid:id>/devices", FloorView.as_view()),
    *app_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
