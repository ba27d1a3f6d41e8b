"""Request plumbing: Metal path normalisation, audit context, the user's time zone."""

import re
import zoneinfo

from django.conf import settings
from django.http.request import split_domain_port
from django.utils import timezone

from . import audit

_SLASHES = re.compile(r"/{2,}")
_API_PREFIX = "/metal/v1"


def normalise_metal_path(path: str, *, api_host: bool = False) -> str:
    """Collapse runs of '/' and a repeated /metal/v1 prefix (packet-python builds both). On the
    API's own host name a root path is the API's: `/projects` is `/metal/v1/projects`."""
    path = _SLASHES.sub("/", path)
    if api_host and not (path + "/").startswith(_API_PREFIX + "/"):
        path = _API_PREFIX + path
    while path.startswith(_API_PREFIX + _API_PREFIX + "/") or path == _API_PREFIX * 2:
        path = path[len(_API_PREFIX) :]
    return path


def on_api_host(request) -> bool:
    """Whether the request came to METAL_API_HOST, where the API also answers at the root, as
    api.packet.net and api.equinix.com did (packet-python's default endpoint uses root paths)."""
    api_host = settings.METAL_API_HOST
    return bool(api_host) and split_domain_port(request.get_host())[0] == api_host


class MetalPathMiddleware:
    """Runs first, before URL resolution and CommonMiddleware's slash handling."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        api_host = on_api_host(request)
        if api_host or "//" in request.path_info or request.path_info.startswith(_API_PREFIX * 2):
            normalised = normalise_metal_path(request.path_info, api_host=api_host)
            request.path_info = normalised
            request.path = request.META.get("SCRIPT_NAME", "").rstrip("/") + normalised
        via = "api" if request.path_info.startswith(_API_PREFIX + "/") else "web"
        token = audit.set_context(audit.AuditContext(ip=audit.client_ip(request), via=via))
        try:
            return self.get_response(request)
        finally:
            audit.reset_context(token)


class UserTimezoneMiddleware:
    """Show times in the signed-in user's time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.timezone != "UTC":
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.timezone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)
