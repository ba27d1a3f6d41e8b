"""Metal v1 usages and invoices: /projects/{id}/usages, /devices/{id}/usages,
/organizations/{id}/invoices, /invoices/{id}."""

from datetime import UTC, datetime, time

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from portal.api.metal import MetalView, Timestamp, paginate, scope_to_project
from portal.hrefs import href, href_for
from portal.models import Organization, Project
from portal.permissions import can_read_billing, require

from ..models import Device, Invoice, UsageInterval
from . import usage

scope_to_project(UsageInterval, "project")


def _moment(raw: str, name: str) -> datetime:
    """An RFC 3339 time or a plain date (midnight UTC); naive times are UTC."""
    value = parse_datetime(raw)
    if value is None and (day := parse_date(raw)) is not None:
        value = datetime.combine(day, time.min)
    if value is None:
        raise exceptions.ValidationError({name: "Give a date or an RFC 3339 date-time."})
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def window(request) -> tuple[datetime, datetime]:
    """created[after] / created[before], month-to-date by default."""
    start, end = usage.month_to_date()
    params = request.query_params
    try:
        if raw := params.get("created[after]"):
            start = _moment(raw, "created[after]")
        if raw := params.get("created[before]"):
            end = _moment(raw, "created[before]")
    except ValueError as exc:  # a well-formed but impossible date (2031-02-30)
        raise exceptions.ValidationError({"created": str(exc)}) from exc
    if end <= start:
        raise exceptions.ValidationError({"created[before]": "Must be after created[after]."})
    return start, end


def _project_usage(row: usage.Usage) -> dict:
    interval = row.interval
    return {
        "name": interval.device.hostname,
        "type": usage.UNITS[interval.item],
        "plan": row.name,
        "plan_version": "1",
        "facility": interval.device.facility.code,
        "unit": "hour",
        "price": usage.number(interval.unit_price),
        "quantity": usage.number(row.hours),
        "total": usage.number(usage.money(row.total)),
    }


class ProjectUsagesView(MetalView):
    """/projects/{id}/usages: one entry per device and priced item."""

    def get(self, request, id):
        project = self.get_visible(Project, id)
        start, end = window(request)
        rows = usage.usages(self.visible(UsageInterval).filter(project=project), start, end)
        return Response({"usages": [_project_usage(row) for row in rows]})


class DeviceUsagesView(MetalView):
    """/devices/{id}/usages: the device's plan and licence hours."""

    def get(self, request, id):
        device = self.get_visible(Device, id)
        start, end = window(request)
        rows = usage.usages(self.visible(UsageInterval).filter(device=device), start, end)
        return Response(
            {
                "usages": [
                    {
                        "unit": "hour",
                        "quantity": usage.number(row.hours),
                        "total": usage.number(usage.money(row.total)),
                    }
                    for row in rows
                ]
            }
        )


class LineItemSerializer(serializers.Serializer):
    """Metal's LineItem (amounts are JSON numbers here, unlike usages)."""

    description = serializers.CharField()
    details = serializers.CharField(source="project_name")
    item_type = serializers.CharField(source="item")
    unit = serializers.CharField()
    quantity = serializers.FloatField()
    unit_price = serializers.FloatField()
    amount = serializers.FloatField()
    currency = serializers.CharField(source="invoice.currency")
    start_date = serializers.DateField(source="invoice.period_start")
    end_date = serializers.DateField(source="invoice.period_end")
    project = serializers.SerializerMethodField()
    plan = serializers.SerializerMethodField()

    def get_project(self, line) -> dict:
        if line.project is None:  # the project was deleted since; the name stays
            return {"name": line.project_name}
        return {
            "id": str(line.project.uuid),
            "name": line.project_name,
            "href": href_for(line.project),
        }

    def get_plan(self, line) -> dict | None:
        if line.plan is None:
            return {"name": line.name}
        return {
            "id": str(line.plan.uuid),
            "name": line.plan.slug,
            "href": href("plans", line.plan.uuid),
        }


class InvoiceSerializer(serializers.Serializer):
    """Metal's Invoice; no payments here, so the balance is the amount."""

    id = serializers.UUIDField(source="uuid")
    href = serializers.SerializerMethodField()
    number = serializers.CharField()
    reference_number = serializers.CharField(source="number")
    status = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.FloatField()
    balance = serializers.FloatField(source="amount")
    credit_amount = serializers.SerializerMethodField()
    credits_applied = serializers.SerializerMethodField()
    created_on = serializers.SerializerMethodField()
    target_date = serializers.DateField(source="period_end")
    due_on = serializers.DateField()
    created_at = Timestamp()
    items = LineItemSerializer(source="lines", many=True)

    def get_href(self, invoice) -> str:
        return href_for(invoice)

    def get_credit_amount(self, invoice) -> float:
        return 0.0

    get_credits_applied = get_credit_amount

    def get_created_on(self, invoice) -> str:
        return invoice.created_at.astimezone(UTC).date().isoformat()


def _invoices(queryset):
    # Prefetching the lines also sets each line's invoice, so currency and dates cost nothing.
    return queryset.prefetch_related("lines__project", "lines__plan")


class OrganizationInvoicesView(MetalView):
    """/organizations/{id}/invoices: owners, admins and billing members."""

    project_token_denied = frozenset({"GET"})

    def get(self, request, id):
        organization = self.get_visible(Organization, id)
        require(
            can_read_billing(request.user, organization),
            "Only owners, admins and billing members see invoices.",
        )
        invoices = self.visible(Invoice).filter(organization=organization)
        if status := request.query_params.get("status"):
            invoices = invoices.filter(status=status)
        rows, meta = paginate(request, _invoices(invoices))
        return Response({"invoices": InvoiceSerializer(rows, many=True).data, "meta": meta})


class InvoiceView(MetalView):
    """/invoices/{id}"""

    project_token_denied = frozenset({"GET"})

    def get(self, request, id):
        invoice = self.get_visible(Invoice, id, _invoices(self.visible(Invoice)))
        return Response(InvoiceSerializer(invoice).data)
