"""The product's URLs plus one view that fails, so tests can see the real 500 page (set
ROOT_URLCONF to this module)."""

from django.urls import path

from portal.root_urls import handler404, handler500
from portal.root_urls import urlpatterns as product_urls

BOOM_PATH = "/test-only/boom/"


def boom(request):
    raise RuntimeError("a failing view, on purpose")


urlpatterns = [path(BOOM_PATH.strip("/") + "/", boom), *product_urls]

__all__ = ["handler404", "handler500", "urlpatterns"]
