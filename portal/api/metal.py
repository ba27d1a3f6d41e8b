"""Reusable Metal v1 API layer: token scoping, `{href}` references with ?include/?exclude,
query optimisation that follows the references, paged lists with Metal's `meta`, and write
parameters read from the query string as well as the body.

Later apps (inventory, provisioning) build on these: declare output serializers with `Ref`
fields, register how their models narrow to a project token with `scope_to_project`, and
subclass `MetalView`.
"""

import math
import uuid
from collections.abc import Iterable
from datetime import UTC

from django.db import transaction
from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from rest_framework import exceptions, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from portal.hrefs import href_for
from portal.models import ApiKey
from portal.querysets import visible_project_q

from . import idempotency, throttles

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 1000
MAX_PAGE = 100_000
ALL_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
# Writes whose parameters may come in the query string as well as in the body.
PARAMETER_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Query parameters that tell the API how to answer (what to expand, which page, which renderer),
# never a field of what is written: they stay out of a write's parameters.
RESERVED_PARAMETERS = frozenset(
    {"include", "exclude", "page", "per_page", "sort_by", "sort_direction", "search", "format"}
)

# Model → lookup from the model to its project, used to narrow a project token's reach.
# A model that is not registered is out of a project token's reach entirely.
_project_paths: dict[type[Model], str] = {}


def scope_to_project(model: type[Model], path: str) -> None:
    """Declare how rows of `model` narrow to one project ("project", "pk", "device__project")."""
    _project_paths[model] = path


def visible(request, model: type[Model]) -> QuerySet:
    """Rows the caller may see: `for_user()`, narrowed to the token's project if it has one.

    A model without its own `for_user()` (an inventory IP reservation) is visible wherever its
    project is, through the path registered with `scope_to_project`.
    """
    if hasattr(model.objects, "for_user"):
        queryset = model.objects.for_user(request.user)
    elif not request.user.is_authenticated:
        queryset = model.objects.none()
    else:
        path = _project_paths[model]
        queryset = model.objects.filter(
            visible_project_q(request.user, path, f"{path}__organization")
        )
    key = request.auth
    if isinstance(key, ApiKey) and key.project_id is not None:
        path = _project_paths.get(model)
        if path is None:
            return queryset.none()
        queryset = queryset.filter(**{path: key.project_id})
    return queryset


class MetalTokenPermission(BasePermission):
    """One rule for every endpoint: a key is required, read-only keys never write, and project
    keys are refused (403) on the methods a view marks as user-level."""

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False  # DRF turns this into 401 because no authenticator succeeded
        reads = request.method in SAFE_METHODS or request.method in getattr(
            view, "query_methods", ()
        )
        if key.read_only and not reads:
            self.message = "This API key is read-only."
            return False
        if key.project_id is not None and request.method in view.project_token_denied:
            self.message = "A project API key cannot use this endpoint."
            return False
        return True


def parse_paths(raw: str | None) -> dict:
    """`a,b.c` → {"a": {}, "b": {"c": {}}} (Metal's include/exclude syntax, 3 levels deep)."""
    tree: dict = {}
    for item in (raw or "").split(","):
        node = tree
        for part in [p for p in item.strip().split(".") if p][:3]:
            node = node.setdefault(part, {})
    return tree


def expanded(name: str, default: bool, include: dict, exclude: dict) -> bool:
    """Is the reference `name` rendered whole (else as `{href}`) under include/exclude?"""
    # exclude=x (a leaf) collapses x; exclude=x.y still lets x expand but collapses its y.
    if name in exclude and not exclude[name]:
        return False
    return default or name in include


_serializers: dict[str, type["MetalSerializer"]] = {}


class Ref(serializers.Field):
    """A reference: `{"href": ...}` by default, the full object under `?include=<name>`.

    `serializer` may be a class or its name (for cycles); `many` renders a list from a related
    manager; `through` picks an attribute of each related row (member → its project rows).
    A missing reference is left out of the output, never null or `{}`.
    """

    shared = False

    def __init__(self, serializer, *, many=False, through=None, expand=False, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)
        self.serializer, self.many, self.through, self.expand = serializer, many, through, expand

    @property
    def target(self) -> type["MetalSerializer"]:
        if isinstance(self.serializer, str):
            return _serializers[self.serializer]
        return self.serializer

    def lookup(self, name: str) -> str:
        """The ORM lookup that loads this reference when declared under `name`."""
        path = (self.source or name).replace(".", "__")
        return f"{path}__{self.through}" if self.through else path

    def to_representation(self, value):
        include, exclude = self.context.get("include", {}), self.context.get("exclude", {})
        expand = expanded(self.field_name, self.expand, include, exclude)
        context = {
            **self.context,
            "include": include.get(self.field_name, {}),
            "exclude": exclude.get(self.field_name, {}),
        }

        def render(obj):
            return self.target(obj, context=context).data if expand else {"href": href_for(obj)}

        if not self.many:
            return render(value)
        rows = value.all() if hasattr(value, "all") else value
        if self.through:
            rows = [getattr(row, self.through) for row in rows]
        return [render(obj) for obj in rows]


class Timestamp(serializers.DateTimeField):
    """RFC 3339 in UTC whatever time zone is active (the SDKs parse these strictly)."""

    def to_representation(self, value):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


class MetalSerializer(serializers.Serializer):
    """Output serializer for a Metal object: adds `id` and `href`, leaves absent values out.

    `select` / `prefetch` name the relations its own non-Ref fields read, so `optimize()` can
    load them up front wherever the serializer is used, nested or not.
    """

    select: tuple[str, ...] = ()
    prefetch: tuple[str, ...] = ()

    id = serializers.UUIDField(source="uuid", read_only=True)
    href = serializers.SerializerMethodField()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _serializers[cls.__name__] = cls

    def get_href(self, obj) -> str:
        return href_for(obj)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # Neither Metal spec lets any of these objects' fields be null, and every client reads
        # a missing field as unset: an absent value (a date not set, a reference to nothing,
        # a user who never logged in) is left out.
        return {name: value for name, value in data.items() if value is not None}


def _lookups(serializer, include: dict, exclude: dict, prefix: str, in_prefetch: bool):
    """(select_related, prefetch_related) lookups a serializer needs for the given include."""
    selects, prefetches = [], []
    own = prefetches if in_prefetch else selects
    own.extend(prefix + p for p in serializer.select)
    prefetches.extend(prefix + p for p in serializer.prefetch)
    for name, field in serializer._declared_fields.items():
        if not isinstance(field, Ref):
            continue
        path = prefix + field.lookup(name)
        # A shared reference (a catalogue row most rows of a page point at) is prefetched, not
        # joined: one instance per row loaded, so its own nested lookups run once per distinct
        # row instead of once per page row.
        nested_prefetch = in_prefetch or field.many or field.shared
        (prefetches if nested_prefetch else selects).append(path)
        if expanded(name, field.expand, include, exclude):
            s, p = _lookups(
                field.target,
                include.get(name, {}),
                exclude.get(name, {}),
                path + "__",
                nested_prefetch,
            )
            selects += s
            prefetches += p
    return selects, prefetches


def optimize(queryset: QuerySet, serializer, context: dict) -> QuerySet:
    """Load everything `serializer` will render (references and included objects) in a
    constant number of queries, whatever the number of rows."""
    selects, prefetches = _lookups(
        serializer, context.get("include", {}), context.get("exclude", {}), "", False
    )
    if selects:
        queryset = queryset.select_related(*selects)
    if prefetches:
        queryset = queryset.prefetch_related(*prefetches)
    return queryset


def _positive_int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise exceptions.ValidationError({name: "Must be a positive integer."})
    return value


def paginate(
    request, queryset: QuerySet, default_per_page: int = DEFAULT_PER_PAGE
) -> tuple[list, dict]:
    """One page of `queryset` (`page`, `per_page`) and Metal's `meta` block for it."""
    keys, meta = page_keys(request, queryset, default_per_page)
    # The page's keys are picked first, then those rows loaded with their joins: sorting only
    # (pk, ordering columns) costs a fraction of sorting every joined row of a large list.
    by_key = queryset.filter(pk__in=keys).in_bulk() if keys else {}
    return [by_key[key] for key in keys if key in by_key], meta


def page_keys(
    request, queryset: QuerySet, default_per_page: int = DEFAULT_PER_PAGE
) -> tuple[list, dict]:
    """The primary keys of one page of `queryset` (`page`, `per_page`), in order, and Metal's
    `meta` block for it."""
    page = _positive_int(request, "page", 1)
    if page > MAX_PAGE:
        # Metal's documented maximum. Far past it the row offset outgrew PostgreSQL's bigint
        # (a 500); no list here has that many pages.
        raise exceptions.ValidationError({"page": f"Must be at most {MAX_PAGE}."})
    per_page = min(_positive_int(request, "per_page", default_per_page), MAX_PER_PAGE)
    total = queryset.count()
    last_page = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    keys = list(queryset.values_list("pk", flat=True)[start : start + per_page])
    url = request.get_full_path()

    def link(number: int | None):
        if number is None:
            return None
        with_page = replace_query_param(url, "page", number)
        return {"href": replace_query_param(with_page, "per_page", per_page)}

    meta = {
        "first": link(1),
        "previous": link(min(page - 1, last_page)) if page > 1 else None,
        "self": link(page),
        "next": link(page + 1) if page < last_page else None,
        "last": link(last_page),
        "total": total,
        "current_page": page,
        "last_page": last_page,
    }
    # A link to no page is left out, as the spec's Meta wants (an Href, never null), except
    # `next`: packet-python reads meta["next"] and stops on null, and the SDKs stop on None.
    if meta["previous"] is None:
        del meta["previous"]
    return keys, meta


def list_param(request, *names: str) -> list[str]:
    """A list query parameter, repeated (`a=x&a=y`), comma-joined (`a=x,y`) or both."""
    values = []
    for name in names:
        for raw in request.query_params.getlist(name):
            values += [v.strip() for v in raw.split(",") if v.strip()]
    return values


def as_uuid(value: str) -> uuid.UUID | None:
    """`value` as a UUID, or None when it is not one (ids and names share query parameters)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def by_id_or_code(queryset: QuerySet, value: str, code_field: str):
    """The row whose id (a UUID) or code/slug is `value`, or None: Metal clients name plans,
    metros, facilities and operating systems either way."""
    key = as_uuid(value)
    return queryset.filter(**({"uuid": key} if key else {code_field: value})).first()


def query_parameters(query) -> dict:
    """A write's parameters as the query string gives them, the way Rails reads them: `name[]`
    (repeated) is a list, any other name its last value; reserved names are left out."""
    parameters = {}
    for key, values in query.lists():
        name, value = (key[:-2], values) if key.endswith("[]") else (key, values[-1])
        if name and name not in RESERVED_PARAMETERS:
            parameters[name] = value
    return parameters


class MetalRequest(Request):
    """A request whose write parameters are read from the query string as well as the JSON
    body: Metal's Rails API merged the two, and clients rely on it (`POST /devices/{id}/actions
    ?type=reboot` with no body). Where both name a parameter, the body wins."""

    def _parse(self):
        # DRF parses a request's body here, once, whichever reader asks first (a view, the
        # idempotency fingerprint): every reader sees the merged parameters.
        data, files = super()._parse()
        if self.method in PARAMETER_METHODS and isinstance(data, dict):
            data = {**query_parameters(self.query_params), **data}
        return data, files


class JSONNegotiation(DefaultContentNegotiation):
    """Metal endpoints render JSON only: when the client takes JSON, or anything, as every
    Metal client does, there is nothing to negotiate and the Accept header is not parsed."""

    _TAKES_JSON = frozenset({"*/*", "application/json"})

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1 and request.META.get("HTTP_ACCEPT", "*/*") in self._TAKES_JSON:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


class MetalView(APIView):
    """Base for every Metal endpoint: the token rule, visibility and the response shapes."""

    content_negotiation_class = JSONNegotiation
    permission_classes = [MetalTokenPermission]
    throttle_classes = []  # portal.api.throttles, counted before authentication
    # Methods a project-scoped key may not use here (user- and organization-level endpoints).
    project_token_denied: frozenset[str] = frozenset()
    # Methods that only read here (POST /capacity/metros checks), so read-only keys may use them.
    query_methods: frozenset[str] = frozenset()
    _idempotency_claim = None

    def initialize_request(self, request, *args, **kwargs):
        # APIView's own, with the request class that merges query parameters into writes.
        return MetalRequest(
            request,
            parsers=self.get_parsers(),
            authenticators=self.get_authenticators(),
            negotiator=self.get_content_negotiator(),
            parser_context=self.get_parser_context(request),
        )

    def dispatch(self, request, *args, **kwargs):
        if not idempotency.requested(request):
            return super().dispatch(request, *args, **kwargs)
        # The key's row is claimed inside the request's transaction (see
        # portal.api.idempotency): its side effects and its stored response commit together,
        # or neither does.
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)

    def perform_authentication(self, request):
        # The rate limits are counted (one cache round trip) before the key is checked, so that
        # guessed tokens count too.
        wait = throttles.over_limit(request)
        if wait is not None:
            self.throttled(request, wait)
        super().perform_authentication(request)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # No text column of PostgreSQL can hold NUL: a filter carrying one is the caller's
        # mistake (422), not a database error (500).
        if any("\x00" in key + "".join(values) for key, values in request.query_params.lists()):
            raise exceptions.ValidationError("Query parameters must not contain NUL characters.")
        # After authentication, permissions and rate limits: refusals are never stored.
        if idempotency.requested(request):
            self._idempotency_claim = idempotency.claim(request)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._idempotency_claim is not None:
            idempotency.store(self._idempotency_claim, response)
        return response

    def visible(self, model: type[Model]) -> QuerySet:
        return visible(self.request, model)

    def get_visible(self, model: type[Model], uuid, queryset: QuerySet | None = None):
        """The object by id, or 404 when it does not exist or the caller cannot see it."""
        return get_object_or_404(
            queryset if queryset is not None else self.visible(model), uuid=uuid
        )

    def metal_context(self) -> dict:
        params = self.request.query_params
        return {
            "request": self.request,
            "include": parse_paths(params.get("include")),
            "exclude": parse_paths(params.get("exclude")),
        }

    def validated(self, serializer_class, **context) -> dict:
        """Validate the request body's shape (422 on failure) and return the clean data."""
        serializer = serializer_class(
            data=self.request.data, context={"request": self.request, **context}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def render(self, serializer_class, instance, status: int = 200, **extra) -> Response:
        """One object; reloaded through `optimize` so includes cost a fixed number of queries."""
        context = {**self.metal_context(), **extra}
        if isinstance(instance, Model):
            queryset = optimize(
                type(instance)._default_manager.filter(pk=instance.pk), serializer_class, context
            )
            instance = queryset.get()
        return Response(serializer_class(instance, context=context).data, status=status)

    def render_visible(self, serializer_class, model: type[Model], uuid) -> Response:
        """GET of one object: found among the visible ones and loaded for rendering by the
        same query (`render` would load it a second time)."""
        context = self.metal_context()
        queryset = optimize(self.visible(model), serializer_class, context)
        return Response(
            serializer_class(self.get_visible(model, uuid, queryset), context=context).data
        )

    def render_list(
        self,
        serializer_class,
        rows: QuerySet | Iterable,
        key: str,
        paged: bool = False,
        per_page: int = DEFAULT_PER_PAGE,
    ) -> Response:
        """A list under `key`; paged lists carry `meta` (`per_page` is the default page size)."""
        context = self.metal_context()
        if isinstance(rows, QuerySet):
            rows = optimize(rows, serializer_class, context)
        meta = None
        if paged:
            rows, meta = paginate(self.request, rows, per_page)
        body = {key: serializer_class(rows, many=True, context=context).data}
        if meta is not None:
            body["meta"] = meta
        return Response(body)

    def gone(self) -> Response:
        return Response(status=204)
