"""Usage and billing pages: a project's usage (daily spend by plan as server-drawn SVG, and a
table), an organization's billing (month-to-date and invoices) and invoice downloads."""

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from portal.permissions import can_read_billing
from portal.views.pages import (
    forbid_unless,
    org_context,
    organization_for,
    project_context,
    project_for,
)

from ..models import Invoice, UsageInterval
from . import usage

# Plan colours in the chart, in the order plans sort; they repeat past the eighth plan.
PALETTE = ("#0d6efd", "#fd7e14", "#198754", "#6f42c1", "#d63384", "#20c997", "#ffc107", "#6c757d")
CHART_WIDTH, CHART_HEIGHT, LEFT, BOTTOM = 720, 220, 56, 24


class MonthForm(forms.Form):
    month = forms.DateField(
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month", "class": "form-control"}),
        error_messages={"invalid": "Give a month as YYYY-MM."},
    )

    def clean_month(self):
        month = self.cleaned_data["month"]
        if month and month > timezone.now().astimezone(UTC).date():
            raise forms.ValidationError("That month has not started yet.")
        return month


def chart(series: dict, start: datetime) -> dict:
    """Stacked bars, one per day, as rectangles in SVG user units (the template draws them)."""
    days = len(next(iter(series.values()), []))
    totals = [sum(values[n] for values in series.values()) for n in range(days)]
    peak = max(totals, default=Decimal(0)) or Decimal(1)
    plot_height = CHART_HEIGHT - BOTTOM
    step = (CHART_WIDTH - LEFT) / max(days, 1)
    bars, legend = [], []
    stacked = defaultdict(float)
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        legend.append({"name": name, "colour": colour, "total": usage.money(sum(values))})
        for n, amount in enumerate(values):
            if not amount:
                continue
            height = float(amount / peak) * plot_height
            stacked[n] += height
            bars.append(
                {
                    "x": round(LEFT + n * step + step * 0.15, 2),
                    "y": round(plot_height - stacked[n], 2),
                    "width": round(step * 0.7, 2),
                    "height": round(height, 2),
                    "colour": colour,
                    "title": f"{start.day + n:02d}: {name} {usage.money(amount)}",
                }
            )
    labels = [
        {"x": round(LEFT + n * step + step / 2, 2), "text": n + 1}
        for n in range(days)
        if n % 5 == 0
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": LEFT,
        "plot_height": plot_height,
        "peak": usage.money(peak),
        "bars": bars,
        "labels": labels,
        "legend": legend,
    }


@login_required
@require_GET
def project_usage(request, project_id):
    """What the project spent in a month (this month so far by default), by day and plan."""
    project = project_for(request, project_id)
    form = MonthForm(request.GET or None)
    month = form.cleaned_data["month"] if form.is_valid() else None
    start, end = usage.month_bounds(month) if month else usage.month_to_date()
    end = min(end, timezone.now())
    intervals = UsageInterval.objects.for_user(request.user).filter(project=project)
    rows = usage.usages(intervals, start, end)
    series = usage.daily_spend(rows, start, end)
    context = {
        **project_context(request, project, "usage"),
        "form": form,
        "start": start,
        "end": end,
        "rows": sorted(rows, key=lambda u: (u.interval.device.hostname, u.interval.item)),
        "total": usage.cost(rows),
        "currency": settings.BILLING_CURRENCY,
        "chart": chart(series, start) if series else None,
    }
    return render(request, "provisioning/usage/project_usage.html", context)


@login_required
@require_GET
def org_billing(request, org_id):
    """Month-to-date total and the invoices (owners, admins and billing members)."""
    org = organization_for(request, org_id)
    forbid_unless(can_read_billing(request.user, org))
    invoices = Invoice.objects.for_user(request.user).filter(organization=org)
    context = {
        **org_context(request, org, "billing"),
        "month_to_date": usage.organization_month_to_date(org),
        "currency": settings.BILLING_CURRENCY,
        "invoices": invoices,
    }
    return render(request, "provisioning/usage/org_billing.html", context)


@login_required
@require_GET
def invoice_download(request, invoice_id, fmt: str):
    """The invoice as CSV or PDF (whoever may see the invoice)."""
    if fmt not in ("csv", "pdf"):
        raise Http404
    invoice = get_object_or_404(
        Invoice.objects.for_user(request.user)
        .select_related("organization")
        .prefetch_related("lines"),
        uuid=invoice_id,
    )
    if fmt == "csv":
        response = HttpResponse(usage.invoice_csv(invoice), content_type="text/csv")
    else:
        response = HttpResponse(usage.invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.{fmt}"'
    return response
