"""Operator pages (staff only; anyone else gets 404) and the public catalogue page.

Catalogue editors share one list view and one edit view driven by `KINDS`; every write goes
through `inventory.services` / `inventory.enrollment`, which check `is_staff` again.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from portal.htmx import HtmxHttpRequest, navigate, render_page_or_fragment
from portal.models import Event, EventRelation
from portal.views.pages import submit

from . import bmc_access, enrollment, forms, services
from .bmc import BmcError
from .models import (
    Facility,
    IPBlock,
    Machine,
    MachineNic,
    Metro,
    OperatingSystem,
    Plan,
    ProvisioningNetwork,
)

MACHINES_PER_PAGE = 50
HISTORY_LENGTH = 50
CAPACITY_STYLES = {"normal": "success", "limited": "warning", "unavailable": "secondary"}


def operator_required(view: Callable) -> Callable:
    """Signed in (else the login page) and staff (else 404: these pages are not theirs)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise Http404
        return view(request, *args, **kwargs)

    return login_required(wrapper)


# Catalogue editors


def _join(items) -> str:
    return ", ".join(str(item) for item in items) or "—"


@dataclass(frozen=True)
class Kind:
    """One catalogue model as the editors show it: form, list rows and list columns."""

    title: str
    noun: str
    form: type[forms.CatalogueForm]
    rows: Callable[[], QuerySet]
    columns: tuple[tuple[str, Callable[[Any], Any]], ...]


KINDS: dict[str, Kind] = {
    "metros": Kind(
        "Metros",
        "metro",
        forms.MetroForm,
        lambda: Metro.objects.annotate(facility_count=Count("facilities")),
        (
            ("Code", lambda m: m.code),
            ("Name", lambda m: m.name),
            ("Country", lambda m: m.country),
            ("Facilities", lambda m: m.facility_count),
        ),
    ),
    "facilities": Kind(
        "Facilities",
        "facility",
        forms.FacilityForm,
        lambda: Facility.objects.select_related("metro"),
        (
            ("Code", lambda f: f.code),
            ("Name", lambda f: f.name),
            ("Metro", lambda f: f.metro.code),
            ("Features", lambda f: _join(f.features)),
            ("City", lambda f: (f.address or {}).get("city", "—")),
        ),
    ),
    "plans": Kind(
        "Plans",
        "plan",
        forms.PlanForm,
        lambda: Plan.objects.prefetch_related("metros"),
        (
            ("Slug", lambda p: p.slug),
            ("Name", lambda p: p.name),
            ("Type", lambda p: p.get_type_display()),
            ("Per hour", lambda p: f"${p.hourly_price:.2f}"),
            ("Metros", lambda p: _join(m.code for m in p.metros.all())),
            ("Matches", lambda p: _match_rule(p)),
            ("Active", lambda p: "yes" if p.active else "no"),
        ),
    ),
    "operating-systems": Kind(
        "Operating systems",
        "operating system",
        forms.OperatingSystemForm,
        lambda: OperatingSystem.objects.prefetch_related("provisionable_on"),
        (
            ("Slug", lambda o: o.slug),
            ("Name", lambda o: o.name),
            ("Version", lambda o: f"{o.distro} {o.version}".strip()),
            ("Plans", lambda o: _join(p.slug for p in o.provisionable_on.all())),
            ("Default", lambda o: "yes" if o.default_operating_system else ""),
            ("Licensed", lambda o: f"${o.hourly_price:.2f}/h" if o.licensed else ""),
            ("Lifecycle", lambda o: o.lifecycle_state),
        ),
    ),
    "ip-blocks": Kind(
        "IP blocks",
        "IP block",
        forms.IPBlockForm,
        lambda: IPBlock.objects.select_related("metro", "facility").annotate(
            reservation_count=Count("reservations")
        ),
        (
            ("Network", lambda b: b.network),
            ("Kind", lambda b: b.get_kind_display()),
            ("Metro", lambda b: b.metro.code if b.metro else "global"),
            ("Facility", lambda b: b.facility.code if b.facility else "—"),
            ("Reservations", lambda b: b.reservation_count),
            ("Description", lambda b: b.description or "—"),
        ),
    ),
    "provisioning-networks": Kind(
        "Provisioning networks",
        "provisioning network",
        forms.ProvisioningNetworkForm,
        lambda: ProvisioningNetwork.objects.select_related("facility").annotate(
            machine_count=Count("machines")
        ),
        (
            ("Network", lambda n: n.network),
            ("Facility", lambda n: n.facility.code),
            ("Gateway", lambda n: n.gateway or "—"),
            ("Machines", lambda n: n.machine_count),
            ("Description", lambda n: n.description or "—"),
        ),
    ),
}


def _match_rule(plan: Plan) -> str:
    parts = []
    if plan.match_cpu_count is not None:
        parts.append(f"{plan.match_cpu_count} CPU")
    if plan.match_memory_gib is not None:
        parts.append(f"{plan.match_memory_gib} GiB")
    return " · ".join(parts) or "—"


def _kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise Http404 from None


def _operator_context(tab: str) -> dict:
    return {"tab": tab, "kinds": KINDS}


@operator_required
@require_GET
def catalogue_list(request: HtmxHttpRequest, kind: str):
    """Every row of one catalogue model, linked to its editor."""
    spec = _kind(kind)
    rows = [(item, [(name, value(item)) for name, value in spec.columns]) for item in spec.rows()]
    return render_page_or_fragment(
        request,
        "inventory/catalogue_list.html",
        "catalogue-table",
        {**_operator_context(kind), "kind": kind, "spec": spec, "rows": rows},
    )


@operator_required
@require_http_methods(["GET", "POST"])
def catalogue_edit(request: HtmxHttpRequest, kind: str, item_id=None):
    """Create or edit one catalogue row; the model's validation errors land on the fields."""
    spec = _kind(kind)
    model = spec.form._meta.model
    instance = get_object_or_404(model, uuid=item_id) if item_id else None
    # Named before binding: an invalid post changes the instance in memory, not in the database.
    heading = f"Edit {spec.noun} {instance}" if instance else f"New {spec.noun}"
    form = spec.form(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        ok, item = submit(
            form,
            services.save_catalogue_item,
            instance=form.instance,
            m2m=form.m2m(),
            acting_user=request.user,
        )
        if ok:
            messages.success(request, f"{spec.noun.capitalize()} {item} saved.")
            return navigate(request, reverse("inventory:catalogue-list", args=[kind]))
    return render_page_or_fragment(
        request,
        "inventory/catalogue_edit.html",
        "catalogue-form",
        {**_operator_context(kind), "kind": kind, "spec": spec, "form": form, "heading": heading},
    )


# Machines


def _filtered_machines(request) -> tuple[forms.MachineFilterForm, QuerySet, list]:
    """The list's filter form, the filtered machines and their counts per state."""
    filters = forms.MachineFilterForm(request.GET)
    filters.is_valid()  # invalid values are dropped from cleaned_data and ignored
    data = filters.cleaned_data
    machines = Machine.objects.select_related("facility__metro", "plan", "rack")
    if q := data.get("q", "").strip():
        mac = q.lower().replace("-", ":")
        nic = MachineNic.objects.filter(machine=OuterRef("pk"), mac_address__contains=mac)
        machines = machines.filter(
            Q(name__icontains=q)
            | Q(serial_number__icontains=q)
            | Q(bmc_address__icontains=q)
            | Exists(nic)
        )
    if data.get("metro"):
        machines = machines.filter(facility__metro=data["metro"])
    if data.get("facility"):
        machines = machines.filter(facility=data["facility"])
    if data.get("plan"):
        machines = machines.filter(plan=data["plan"])
    if data.get("fault"):
        machines = machines.exclude(fault_reason="")
    # Counts cover every state under the other filters, so they read as tabs.
    counted = dict(machines.order_by().values_list("state").annotate(n=Count("pk")))
    counts = [(value, label, counted.get(value, 0)) for value, label in Machine.State.choices]
    if data.get("state"):
        machines = machines.filter(state=data["state"])
    return filters, machines, counts


def _machines_page(request, *, bulk_form=None, results=None) -> HttpResponse:
    filters, machines, counts = _filtered_machines(request)
    page = Paginator(machines, MACHINES_PER_PAGE).get_page(request.GET.get("page"))
    outcomes = [
        (name, outcome, not outcome.startswith("unchanged"))
        for name, outcome in (results or {}).items()
    ]
    return render_page_or_fragment(
        request,
        "inventory/machines.html",
        "machines",
        {
            **_operator_context("machines"),
            "filters": filters,
            "page": page,
            "counts": counts,
            "total": sum(n for _, _, n in counts),
            "bulk_form": bulk_form or forms.BulkActionForm(),
            "outcomes": outcomes,
        },
    )


@operator_required
@require_GET
def machines(request: HtmxHttpRequest):
    """All machines, filtered and searched, with bulk actions."""
    return _machines_page(request)


@operator_required
@require_POST
def machine_actions(request: HtmxHttpRequest):
    """Maintenance on/off or retire the selected machines; one outcome line per machine."""
    form = forms.BulkActionForm(request.POST)
    results = None
    if form.is_valid():
        data = form.cleaned_data
        chosen = list(data["machines"])
        if data["action"] == "retire":
            _, results = submit(
                form, services.retire_machines, machines=chosen, acting_user=request.user
            )
        else:
            _, results = submit(
                form,
                services.set_machines_maintenance,
                machines=chosen,
                acting_user=request.user,
                on=data["action"] == "maintenance_on",
                reason=data["reason"],
            )
        form = forms.BulkActionForm()
    # The list is re-rendered under the filters the operator was looking at (the query string).
    return _machines_page(request, bulk_form=form, results=results)


def _machine(machine_id) -> Machine:
    return get_object_or_404(
        Machine.objects.select_related("facility__metro", "plan", "rack", "provisioning_network"),
        uuid=machine_id,
    )


def _machine_context(machine: Machine, *, power_error: str = "") -> dict:
    involved = EventRelation.objects.filter(
        event=OuterRef("pk"), kind="machine", object_id=machine.uuid
    )
    events = (
        Event.objects.filter(Exists(involved))
        .select_related("modified_by")
        .order_by("-created_at", "-pk")[:HISTORY_LENGTH]
    )
    return {
        **_operator_context("machines"),
        "machine": machine,
        "nics": machine.nics.all(),
        "events": events,
        "power_error": power_error,
    }


@operator_required
@require_GET
def machine_detail(request: HtmxHttpRequest, machine_id):
    """A machine's facts, BMC, state, power and history (htmx asks for the history alone)."""
    machine = _machine(machine_id)
    return render_page_or_fragment(
        request, "inventory/machine_detail.html", "history", _machine_context(machine)
    )


@operator_required
@require_POST
def machine_power(request: HtmxHttpRequest, machine_id):
    """Ask the BMC for the power state now; a BMC failure is shown in the power panel."""
    machine = _machine(machine_id)
    error = ""
    try:
        bmc_access.check_power(machine, acting_user=request.user)
    except BmcError as exc:
        error = enrollment.describe_bmc_error(exc)
    machine.refresh_from_db(fields=["power_state", "power_checked_at"])
    response = render_page_or_fragment(
        request,
        "inventory/machine_detail.html",
        "power",
        _machine_context(machine, power_error=error),
    )
    # The history panel listens for this and reloads (a successful check is an audit event).
    return trigger_client_event(response, "machine-changed")


# Enrollment


@operator_required
@require_http_methods(["GET", "POST"])
def enroll(request: HtmxHttpRequest):
    """Enroll one BMC from the form, or many from CSV; one result row per BMC."""
    mode = request.POST.get("mode")
    single = forms.EnrollForm(request.POST if mode == "single" else None, prefix="single")
    many = forms.EnrollCsvForm(
        request.POST if mode == "csv" else None,
        request.FILES if mode == "csv" else None,
        prefix="csv",
    )
    submitted = {"single": single, "csv": many}.get(mode)
    results = None
    if submitted is not None and submitted.is_valid():
        # BMC conversations take seconds each; enroll_many keeps going past a bad row.
        results = enrollment.enroll_many(submitted.requests(), acting_user=request.user)
        if mode == "single" and results[0].ok:
            single = forms.EnrollForm(prefix="single")
    return render_page_or_fragment(
        request,
        "inventory/enroll.html",
        "enroll",
        {
            **_operator_context("enroll"),
            "single": single,
            "many": many,
            "results": results,
            "enrolled": sum(1 for r in results or () if r.ok),
        },
    )


# The catalogue as every signed-in user sees it


def spec_lines(specs: Any) -> list[str]:
    """Plan specs (Metal's JSON shape) as short human lines; odd shapes are skipped."""
    if not isinstance(specs, dict):
        return []

    def items(key):
        value = specs.get(key)
        return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []

    lines = [f"{c.get('count', 1)} × {c.get('type', 'CPU')}" for c in items("cpus")]
    memory = specs.get("memory")
    if isinstance(memory, dict) and memory.get("total"):
        lines.append(f"{memory['total']} RAM")
    for drive in items("drives"):
        size = " ".join(str(drive[k]) for k in ("size", "type") if drive.get(k))
        lines.append(f"{drive.get('count', 1)} × {size or 'drive'}")
    for nic in items("nics"):
        lines.append(f"{nic.get('count', 1)} × {nic.get('type', '')} NIC".replace("  ", " "))
    return lines


@login_required
@require_GET
def catalogue(request: HtmxHttpRequest):
    """Plans with specs, price and live capacity per metro; operating systems and their plans."""
    report = services.capacity_report(by="metro")
    plans = []
    for plan in Plan.objects.filter(active=True).prefetch_related("metros"):
        offered = []
        for metro in plan.metros.all():
            capacity = report.get(metro.code, {}).get(plan.slug, {})
            level = capacity.get("level", "unavailable")
            offered.append(
                {
                    "metro": metro,
                    "level": level,
                    "style": CAPACITY_STYLES.get(level, "secondary"),
                    "available": capacity.get("available_servers", 0),
                }
            )
        plans.append({"plan": plan, "specs": spec_lines(plan.specs), "metros": offered})
    systems = OperatingSystem.objects.prefetch_related(
        Prefetch("provisionable_on", queryset=Plan.objects.filter(active=True))
    )
    return render_page_or_fragment(
        request,
        "inventory/catalogue.html",
        "catalogue",
        {"plans": plans, "systems": systems},
    )
