"""The one place that decides between a whole page and an HTMX fragment, and how to navigate."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through HtmxMiddleware (for type checkers)."""

    htmx: HtmxDetails


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """A targeted htmx request (not hx-boost, not a history restore) gets only the fragment."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page_or_fragment(
    request: HtmxHttpRequest, template_name: str, fragment: str, context: dict, *, status=200
) -> HttpResponse:
    """Render `template_name`, or only its `fragment` partial for htmx; always Vary on it."""
    if wants_fragment(request):
        response = render(request, f"{template_name}#{fragment}", context, status=status)
        # Flash messages queued by this request ride along out-of-band into #messages.
        oob = render_to_string("includes/messages.html", {"oob": True}, request=request)
        response.content += oob.encode()
    else:
        response = render(request, template_name, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def navigate(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """After a good POST: full navigation (HX-Redirect for htmx, a 302 otherwise)."""
    response = HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    patch_vary_headers(response, ["HX-Request"])
    return response
