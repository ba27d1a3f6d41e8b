"""Error pages: Metal's JSON shape on the API, the site's own pages elsewhere."""

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from ..api.errors import json_404, json_500, json_errors, too_big_message


def bad_request(request, exception=None):
    """400, or 413 for a body over the upload limits: JSON for the API, a page for people.

    Rendered without the request's context, as Django's own 400 is: the request may be what is
    wrong (a disallowed Host)."""
    too_big = isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent)
    status = 413 if too_big else 400
    if request.path.startswith("/metal/v1/"):
        return json_errors(status, too_big_message() if too_big else "Bad request")
    return HttpResponse(render_to_string("400.html", {"too_big": too_big}), status=status)


def not_found(request, exception=None):
    """404: JSON for the API, a page for people."""
    if request.path.startswith("/metal/v1/"):
        return json_404(request, exception)
    return render(request, "404.html", status=404)


def server_error(request):
    """500: JSON for the API; a page that needs neither the database nor the session."""
    if request.path.startswith("/metal/v1/"):
        return json_500(request)
    return HttpResponse(render_to_string("500.html"), status=500)
