"""Usage metering and monthly invoices.

Each device has one usage interval per priced item (its plan; a licensed OS while installed),
with the unit price copied in when it opens, so a later price change never rewrites what was
used. The services and the runner call four hooks: `open_device` at allocation, `confirm_device`
when the device first reaches active (a device that never does is never billed),
`switch_os` when a reinstall changes the OS, and `close_device` when deletion is requested.
Power-off changes nothing: the machine stays reserved, so it stays billed. When an operator
changes a price, `reprice` ends each running interval of that item at its next started hour
and opens its successor at the new price: history keeps the prices it was used at.

Quantities come from the intervals alone. In whole started hours (USAGE_METERING="hour") the
hours are counted from each interval's own start, and an hour belongs to the window in which
it starts, so consecutive windows (days, months) add up to exactly the interval's total.
"""

import calendar
import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from inventory.models import OperatingSystem
from portal import audit, hrefs
from portal.models import Organization

from ..models import Device, Invoice, InvoiceLine, UsageInterval

# Here, not in the API module: the worker issuing invoices audits them without loading URLs.
hrefs.register("invoice", "invoices")

HOUR = timedelta(hours=1)
CENT = Decimal("0.01")
UNITS = {UsageInterval.Item.PLAN: "Instance", UsageInterval.Item.OS: "License"}


def _os_priced(os_: OperatingSystem) -> bool:
    return os_.licensed and os_.hourly_price > 0


def open_device(devices: Iterable[Device]) -> None:
    """Start metering newly allocated devices (not billable until they first reach active)."""
    rows = []
    for device in devices:
        rows.append(
            UsageInterval(
                device=device,
                project_id=device.project_id,
                item=UsageInterval.Item.PLAN,
                plan=device.plan,
                unit_price=device.plan.hourly_price,
                started_at=device.created_at,
            )
        )
        if _os_priced(device.operating_system):
            rows.append(_os_interval(device, device.operating_system, device.created_at))
    UsageInterval.objects.bulk_create(rows)


def _os_interval(device: Device, os_: OperatingSystem, at: datetime, billable=False):
    return UsageInterval(
        device=device,
        project_id=device.project_id,
        item=UsageInterval.Item.OS,
        plan_id=device.plan_id,
        operating_system=os_,
        unit_price=os_.hourly_price,
        started_at=at,
        billable=billable,
    )


def confirm_device(device: Device) -> None:
    """The device reached active: everything metered since its allocation becomes billable."""
    UsageInterval.objects.filter(device=device, billable=False).update(billable=True)


def switch_os(device: Device, os_: OperatingSystem) -> None:
    """A reinstall changes the OS: the old licence stops and the new one starts, same instant."""
    now = timezone.now()
    _stop(UsageInterval.objects.filter(device=device, item=UsageInterval.Item.OS), now)
    if _os_priced(os_):
        # Reinstalls start from active or inactive only, so the device is already billable.
        _os_interval(device, os_, now, billable=True).save()


def close_device(device: Device) -> None:
    """Deletion was requested: the meters stop now (cleaning the disks is not the tenant's)."""
    _stop(UsageInterval.objects.filter(device=device), timezone.now())


def _stop(intervals: QuerySet, at: datetime) -> None:
    """End the running intervals at `at`; one queued to start later (a new price from the next
    hour on) never starts."""
    intervals.filter(ended_at__isnull=True, started_at__gt=at).delete()
    intervals.filter(ended_at__isnull=True).update(ended_at=at)


def reprice(sender, instance, at: datetime, **kwargs) -> None:
    """A plan's or licensed OS's hourly price changed: every running meter of it goes on at the
    new price from its next started hour (from `at` when metering by the second), so each
    hour is billed at the price it started at and none is counted twice. (Receiver of
    inventory.signals.price_changed.)"""
    if isinstance(instance, OperatingSystem):
        item, field = UsageInterval.Item.OS, "operating_system"
    else:
        item, field = UsageInterval.Item.PLAN, "plan"
    running = UsageInterval.objects.select_for_update().filter(
        item=item, ended_at__isnull=True, **{field: instance}
    )
    successors = []
    for interval in running:
        if interval.unit_price == instance.hourly_price:
            continue
        if interval.started_at >= at:  # queued by an earlier change, not started yet
            interval.unit_price = instance.hourly_price
            interval.save(update_fields=["unit_price"])
            continue
        split = at
        if settings.USAGE_METERING != "second":
            split = interval.started_at + HOUR * -((interval.started_at - at) // HOUR)
        interval.ended_at = split
        interval.save(update_fields=["ended_at"])
        interval.pk, interval.started_at, interval.ended_at = None, split, None
        interval.unit_price = instance.hourly_price
        successors.append(interval)
    UsageInterval.objects.bulk_create(successors)


def billed_hours(interval: UsageInterval, start: datetime, end: datetime, now: datetime):
    """Hours of the interval that fall in the window [start, end)."""
    low = max(interval.started_at, start)
    high = min(interval.ended_at or now, end)
    if high <= low:
        return Decimal(0)
    if settings.USAGE_METERING == "second":
        return Decimal((high - low) // timedelta(microseconds=1)) / Decimal(3_600_000_000)
    # Hours started before `high` minus hours started before `low`, counted from the start.
    origin = interval.started_at
    return Decimal(-((origin - high) // HOUR) - -((origin - low) // HOUR))


def month_bounds(day: date) -> tuple[datetime, datetime]:
    """The calendar month (UTC) that contains `day`, as [start, end)."""
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    days = calendar.monthrange(day.year, day.month)[1]
    return start, start + timedelta(days=days)


def month_to_date(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return month_bounds(now.astimezone(UTC).date())[0], now


def billable_in(queryset: QuerySet, start: datetime, end: datetime) -> QuerySet:
    """Billable intervals that overlap [start, end)."""
    return queryset.filter(billable=True, started_at__lt=end).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start)
    )


@dataclass
class Usage:
    """One interval's share of a window."""

    interval: UsageInterval
    hours: Decimal

    @property
    def total(self) -> Decimal:
        return self.hours * self.interval.unit_price

    @property
    def name(self) -> str:
        interval = self.interval
        if interval.item == UsageInterval.Item.OS:
            return interval.operating_system.slug
        return interval.plan.slug


def usages(queryset: QuerySet, start: datetime, end: datetime) -> list[Usage]:
    """Each billable interval of `queryset` with its hours in [start, end), in two queries."""
    now = timezone.now()
    rows = billable_in(queryset, start, end).select_related(
        "device__facility", "plan", "operating_system"
    )
    found = [Usage(row, billed_hours(row, start, end, now)) for row in rows]
    return [usage for usage in found if usage.hours]


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def number(value: Decimal) -> str:
    """A decimal as Metal's usage strings show it: no exponent, no trailing zeros."""
    text = f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def total_of(queryset: QuerySet, start: datetime, end: datetime) -> Decimal:
    """What `queryset`'s intervals cost in [start, end), to the cent."""
    return cost(usages(queryset, start, end))


def cost(rows: Iterable[Usage]) -> Decimal:
    """What these usages come to, to the cent."""
    return money(sum((u.total for u in rows), Decimal(0)))


def organization_month_to_date(organization: Organization) -> Decimal:
    """This month's spend so far, every project of the organization."""
    start, now = month_to_date()
    return total_of(UsageInterval.objects.filter(project__organization=organization), start, now)


def project_month_to_date(project) -> Decimal:
    """This month's spend so far in one project (the dashboard's figure)."""
    start, now = month_to_date()
    return total_of(UsageInterval.objects.filter(project=project), start, now)


def daily_spend(rows: list[Usage], start: datetime, end: datetime) -> dict:
    """{plan or OS slug: [amount per day]} for each UTC day of [start, end), from `usages()`."""
    days = max(1, -((start - end) // timedelta(days=1)))
    now = timezone.now()
    series: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * days)
    for row in rows:
        for n in range(days):
            day = start + timedelta(days=n)
            hours = billed_hours(row.interval, day, min(day + timedelta(days=1), end), now)
            series[row.name][n] += hours * row.interval.unit_price
    return dict(sorted(series.items()))


def invoice_lines(queryset: QuerySet, start: datetime, end: datetime) -> dict:
    """{organization id: [InvoiceLine]}: per project, item and price, hours summed."""
    grouped: dict[tuple, Decimal] = defaultdict(Decimal)
    sample: dict[tuple, Usage] = {}
    for usage in usages(queryset.select_related("project__organization"), start, end):
        row = usage.interval
        key = (row.project.organization_id, row.project_id, row.item, usage.name, row.unit_price)
        grouped[key] += usage.hours
        sample[key] = usage
    lines: dict[int, list[InvoiceLine]] = defaultdict(list)
    for key, hours in sorted(grouped.items(), key=lambda kv: kv[0][1:4]):
        row = sample[key].interval
        what = "licence" if row.item == UsageInterval.Item.OS else "servers"
        lines[key[0]].append(
            InvoiceLine(
                project=row.project,
                project_name=row.project.name,
                item=row.item,
                plan=row.plan,
                name=key[3],
                description=f"{key[3]} {what}, project {row.project.name}",
                quantity=hours,
                unit_price=row.unit_price,
                amount=money(hours * row.unit_price),
            )
        )
    return lines


def previous_month(today: date | None = None) -> date:
    first = (today or timezone.now().astimezone(UTC).date()).replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def generate_invoices(month: date) -> list[Invoice]:
    """Invoice every organization that used anything in `month`; an organization already
    invoiced for it is left alone, so running this twice gives one invoice each."""
    start, end = month_bounds(month)
    done = set(
        Invoice.objects.filter(period_start=start.date()).values_list("organization_id", flat=True)
    )
    per_org = invoice_lines(
        UsageInterval.objects.exclude(project__organization__in=done), start, end
    )
    organizations = Organization.objects.in_bulk(per_org)
    created = []
    for org_id, lines in per_org.items():
        invoice = _issue(organizations[org_id], start.date(), (end - HOUR).date(), lines)
        if invoice is not None:
            created.append(invoice)
    return created


def _issue(org: Organization, first: date, last: date, lines: list[InvoiceLine]):
    try:
        with transaction.atomic():
            invoice = Invoice.objects.create(
                organization=org,
                number=f"IY-{first:%Y%m}-{org.short_id}",
                period_start=first,
                period_end=last,
                amount=sum((line.amount for line in lines), Decimal(0)),
                currency=settings.BILLING_CURRENCY,
                due_on=last + timedelta(days=1 + settings.INVOICE_DUE_DAYS),
            )
            for line in lines:
                line.invoice = invoice
            InvoiceLine.objects.bulk_create(lines)
            audit.record(
                "invoice.created",
                actor=None,
                text=f"Invoice {invoice.number} for {first:%B %Y}: "
                f"{invoice.amount} {invoice.currency}",
                organization=org,
                objects=[invoice],
            )
    except IntegrityError:
        return None  # another run issued it between our check and our insert
    return invoice


def invoice_csv(invoice: Invoice) -> str:
    """The invoice as CSV: one row per line, then the total."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["project", "item", "description", "quantity", "unit", "unit_price", "amount"])
    for line in invoice.lines.all():
        writer.writerow(
            [
                line.project_name,
                line.name,
                line.description,
                number(line.quantity),
                line.unit,
                number(line.unit_price),
                f"{line.amount:.2f}",
            ]
        )
    writer.writerow(["", "", "Total", "", "", "", f"{invoice.amount:.2f}"])
    return out.getvalue()


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as a one-table PDF (fpdf2's core fonts: Latin-1 text only)."""
    from fpdf import FPDF

    def text(value) -> str:
        return str(value).encode("latin-1", "replace").decode("latin-1")

    pdf = FPDF()
    pdf.set_title(text(f"Invoice {invoice.number}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, text(f"Invoice {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for label in (
        invoice.organization.name,
        f"Period {invoice.period_start:%d %b %Y} - {invoice.period_end:%d %b %Y}",
        f"Due {invoice.due_on:%d %b %Y}",
    ):
        pdf.cell(0, 6, text(label), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    aligns = ("LEFT", "RIGHT", "RIGHT", "RIGHT")
    with pdf.table(col_widths=(70, 25, 30, 30), text_align=aligns) as t:
        t.row(["Description", "Hours", "Unit price", f"Amount ({invoice.currency})"])
        for line in invoice.lines.all():
            t.row(
                [
                    text(line.description),
                    number(line.quantity),
                    number(line.unit_price),
                    f"{line.amount:.2f}",
                ]
            )
        t.row(["Total", "", "", f"{invoice.amount:.2f}"])
    return bytes(pdf.output())
