"""OpenAPI generation (drf-spectacular) for Ironyard's own Metal v1 API.

Metal endpoints are plain `MetalView`s that validate with an input serializer and render with
an output serializer inside their handlers, so there is no `serializer_class` to introspect.
Rather than decorate every handler, this schema class documents what all of them share — the
X-Auth-Token scheme, `{"errors": [...]}` for 401/403/404/422/429, `include`/`exclude`,
`Idempotency-Key` on POSTs — and takes bodies from `input`/`serializer` attributes where a view
declares them (ObjectView), a free-form object elsewhere. `@extend_schema` still overrides it.
"""

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_array_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ErrorSerializer(serializers.Serializer):
    """Metal's error body."""

    errors = serializers.ListField(child=serializers.CharField())


_ERRORS = {
    401: "No API key, or an invalid one.",
    403: "Visible, but the key or the role does not allow this.",
    404: "Does not exist, or not visible to the caller.",
    422: "The request is invalid; every message says why.",
    429: "Rate limit reached; retry after the Retry-After header's seconds.",
}


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """portal.api.auth.TokenAuthentication: Metal's `X-Auth-Token` header."""

    target_class = "portal.api.auth.TokenAuthentication"
    name = "x_auth_token"  # the scheme's name in Metal's own spec, which the SDKs generate from

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}


class RefField(OpenApiSerializerFieldExtension):
    """portal.api.metal.Ref: `{"href": ...}`, or the whole object under `?include=`."""

    target_class = "portal.api.metal.Ref"

    def map_serializer_field(self, auto_schema, direction):
        reference = {
            "type": "object",
            "properties": {"href": {"type": "string"}},
            "additionalProperties": True,
        }
        return build_array_type(reference) if self.target.many else reference


class MetalAutoSchema(AutoSchema):
    """Shared conventions of every Metal endpoint (see the module docstring)."""

    def get_operation_id(self) -> str:
        # One view class per path, so "getProjectList", "deleteProject" are unique and stable.
        return self.method.lower() + type(self.view).__name__.removesuffix("View")

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "GET":
            for name in ("include", "exclude"):
                parameters.append(
                    OpenApiParameter(
                        name,
                        str,
                        description=f"Comma-separated references to {name} (a.b for nested).",
                    )
                )
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    description="Replays the first response for 24 h instead of repeating it.",
                )
            )
        return parameters

    def get_request_serializer(self):
        if self.method not in BODY_METHODS:
            return None
        return getattr(self.view, "input", None) or OpenApiTypes.OBJECT

    def get_response_serializers(self):
        if self.method == "DELETE":
            success = {204: OpenApiResponse(description="Deleted.")}
        else:
            body = getattr(self.view, "serializer", None) or OpenApiTypes.OBJECT
            success = {200 if self.method != "POST" else 201: body}
        errors = {
            code: OpenApiResponse(ErrorSerializer, description=text)
            for code, text in _ERRORS.items()
        }
        return {**success, **errors}
