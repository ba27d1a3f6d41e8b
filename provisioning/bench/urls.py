"""The real URLs plus /bench/baseline: a bare Django view returning the bytes of the API
response under test, read once from IRONYARD_BENCH_BODY. It goes through the same middleware,
so API ÷ baseline is what DRF, the view, the queries and the serialization cost."""

import os
from pathlib import Path

from django.http import HttpResponse
from django.urls import path

from portal.root_urls import handler404, handler500
from portal.root_urls import urlpatterns as app_urlpatterns

_BODY = Path(os.environ["IRONYARD_BENCH_BODY"]).read_bytes()


def baseline(request):
    return HttpResponse(_BODY, content_type="application/json")


urlpatterns = [path("bench/baseline", baseline), *app_urlpatterns]

__all__ = ["handler404", "handler500", "urlpatterns"]
