"""Metal's error shape, `{"errors": [...]}`, for every API failure; validation is 422."""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from portal.errors import ServiceError


def _flatten(detail, prefix: str = "") -> list[str]:
    """DRF's nested error detail as flat human sentences: "plan: This field is required."."""
    if isinstance(detail, dict):
        messages = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "detail") else str(key)
            nested = f"{prefix}.{name}" if prefix and name else (name or prefix)
            messages.extend(_flatten(value, nested))
        return messages
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    text = str(detail)
    return [f"{prefix}: {text}" if prefix else text]


def error_response(messages: list[str], status_code: int, headers=None) -> Response:
    return Response({"errors": messages}, status=status_code, headers=headers)


def exception_handler(exc, context):
    """DRF exception handler: map every known failure to Metal's shape and status codes."""
    headers = {}
    if isinstance(exc, RequestDataTooBig):
        # Django's answer would be its HTML 400 page.
        set_rollback()
        return error_response([too_big_message()], status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, ServiceError):
        set_rollback()
        messages = [f"{exc.field}: {m}" if exc.field else m for m in exc.messages]
        return error_response(messages, exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    set_rollback()
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(int(exc.wait) + 1)
    if isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
        code = status.HTTP_422_UNPROCESSABLE_ENTITY
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = status.HTTP_401_UNAUTHORIZED
    else:
        code = exc.status_code
    return error_response(_flatten(exc.detail), code, headers=headers)


def too_big_message() -> str:
    return f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


def json_errors(status: int, *messages: str, **headers) -> JsonResponse:
    """Metal's error shape outside DRF views (plain Django views, error handlers)."""
    return JsonResponse({"errors": list(messages)}, status=status, headers=headers or None)


def json_404(request, exception=None):
    """Unknown API paths answer in JSON too."""
    return json_errors(404, "Not found")


def json_500(request):
    return json_errors(500, "Internal server error")
