"""Server pages: the project dashboard panel, the servers list, the deploy page, a server's
detail and the project's IPs. Reads start from `for_user()` (not visible → 404); writes go
through provisioning/inventory services (a refusal lands on the form or as a message)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HTMX_STOP_POLLING

from inventory import services as inventory_services
from inventory.models import IPReservation
from portal.errors import Forbidden, ServiceError
from portal.htmx import HtmxHttpRequest, navigate, render_page_or_fragment, wants_fragment
from portal.models import Event
from portal.permissions import can_manage_project, can_operate_project
from portal.querysets import visible_project_q
from portal.views.pages import forbid_unless, perform, project_context, project_for, submit

from . import forms, services
from .billing import usage
from .filters import DeviceFilter
from .models import Device, IPAssignment, Operation

SERVERS_PER_PAGE = 25
TIMELINE_LENGTH = 20
POWER_ACTIONS = (
    Operation.Kind.POWER_ON,
    Operation.Kind.POWER_OFF,
    Operation.Kind.REBOOT,
    Operation.Kind.RESCUE,
    Operation.Kind.REINSTALL,
)


def _devices(user):
    return Device.objects.for_user(user).select_related(
        "plan", "metro", "facility", "operating_system", "project"
    )


def _device(request, device_id) -> Device:
    """The server if the caller can see it (else 404)."""
    return get_object_or_404(
        _devices(request.user).select_related("project__organization"), uuid=device_id
    )


def _device_context(request, device: Device) -> dict:
    context = project_context(request, device.project, "servers")
    context.update(
        device=device,
        can_operate=can_operate_project(request.user, device.project),
        reinstall_form=forms.ReinstallForm(device=device),
        password_available=device.readable_root_password is not None,
        events=_timeline(request, device),
        # A status fragment (polled while the server works, or answering an action) also
        # brings the timeline up to date, out of band.
        timeline_oob=wants_fragment(request),
    )
    return context


def _settled_response(response: HttpResponse, settled: bool) -> HttpResponse:
    # 286 tells htmx to stop polling; the settled fragment also carries no trigger.
    if settled:
        response.status_code = HTMX_STOP_POLLING
    return response


# The project's overview panel (registered in apps.ready; the portal never imports us)


def project_panel(request, project) -> SafeString:
    """Servers by state, the newest servers, this month's usage spot and a quick deploy."""
    counts = dict(
        Device.objects.for_user(request.user)
        .filter(project=project)
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    recent = (
        Device.objects.for_user(request.user)
        .filter(project=project)
        .select_related("plan", "metro")
        .order_by("-created_at", "-pk")[:5]
    )
    return render_to_string(
        "provisioning/project_panel.html",
        {
            "project": project,
            "counts": [(s, label, counts.get(s, 0)) for s, label in Device.State.choices],
            "total": sum(counts.values()),
            "recent": recent,
            "can_manage": can_manage_project(request.user, project),
            "usage_so_far": usage.project_month_to_date(project),
        },
        request=request,
    )


# Servers list


def _filter(devices, filters: forms.DeviceFilterForm):
    if not filters.is_bound:
        return devices
    if not filters.is_valid():
        return devices.none()  # an unknown metro, plan or state matches no server
    data = filters.cleaned_data
    return DeviceFilter(
        search=data["q"],
        tag=data["tag"],
        states=[data["state"]] if data["state"] else [],
        metro=data["metro"],
        plan=data["plan"],
    ).apply(devices)


def _list_context(request, project, outcomes=None, bulk_form=None) -> dict:
    filters = forms.DeviceFilterForm(request.GET or None)
    devices = _filter(
        _devices(request.user)
        .filter(project=project)
        .prefetch_related(
            Prefetch("ip_assignments", queryset=IPAssignment.objects.filter(public=True))
        ),
        filters,
    )
    page = Paginator(devices, SERVERS_PER_PAGE).get_page(request.GET.get("page"))
    return {
        **project_context(request, project, "servers"),
        "filters": filters,
        "page": page,
        "outcomes": outcomes,
        "bulk_form": bulk_form,
        "bulk_actions": forms.BULK_ACTIONS,
        "can_operate": can_operate_project(request.user, project),
    }


@login_required
@require_GET
def device_list(request: HtmxHttpRequest, project_id):
    """The project's servers: filters, search, pagination, live badges and bulk actions."""
    project = project_for(request, project_id)
    return render_page_or_fragment(
        request, "provisioning/devices.html", "devices", _list_context(request, project)
    )


def _bulk_one(request, device: Device, action: str) -> tuple[bool, str]:
    try:
        if action == "delete":
            services.delete_device(device=device, acting_user=request.user)
            return True, "deleting"
        services.perform_action(device=device, acting_user=request.user, action=action)
    except ServiceError as exc:
        return False, " ".join(exc.messages)
    return True, f"{forms.BULK_ACTIONS[action].lower()} requested"


@login_required
@require_POST
def device_bulk(request: HtmxHttpRequest, project_id):
    """Run one action on the selected servers; each server gets its own result line."""
    project = project_for(request, project_id)
    visible = Device.objects.for_user(request.user).filter(project=project)
    form = forms.BulkActionForm(request.POST, devices=visible)
    outcomes = None
    if form.is_valid():
        action = form.cleaned_data["action"]
        allowed = (
            can_manage_project(request.user, project)
            if action == "delete"
            else can_operate_project(request.user, project)
        )
        forbid_unless(allowed)
        outcomes = []
        for device in form.cleaned_data["devices"].select_related("project", "facility", "plan"):
            ok, text = _bulk_one(request, device, action)
            outcomes.append((device.hostname, text, ok))
    return render_page_or_fragment(
        request,
        "provisioning/devices.html",
        "devices",
        _list_context(request, project, outcomes=outcomes, bulk_form=form),
    )


@login_required
@require_GET
def device_badge(request: HtmxHttpRequest, device_id):
    """One row's state badge, polled until the server settles."""
    device = _device(request, device_id)
    response = render_page_or_fragment(
        request, "provisioning/device_badge.html", "device-badge", {"device": device}
    )
    return _settled_response(response, device.is_settled)


# Deploy


def _refresh_initial(post) -> dict:
    """A half-filled form's choices as initial values: a refresh re-renders, never judges."""
    initial = {name: post.get(name) for name in forms.DeployForm.base_fields}
    initial["ssh_keys"] = post.getlist("ssh_keys")
    initial["user_keys"] = post.getlist("user_keys")
    return initial


def _suggested_hostnames(project, form: forms.DeployForm, quantity) -> str:
    if form.picked_plan is None:
        return ""
    try:
        count = max(1, min(int(quantity or 1), forms.MAX_QUANTITY))
    except (TypeError, ValueError):
        count = 1
    request = services.DeviceRequest(plan=form.picked_plan, operating_system=None, quantity=count)
    # With no names given the service numbers free slots; it is the rule the deploy will use.
    return "\n".join(services.hostnames_for(project, request))


@login_required
@require_http_methods(["GET", "POST"])
def deploy(request: HtmxHttpRequest, project_id):
    """One page that follows the choices (metro → plan → OS → …) and deploys on submit."""
    project = project_for(request, project_id)
    forbid_unless(can_manage_project(request.user, project))
    capacity = inventory_services.capacity_report()
    refresh = request.method == "POST" and request.POST.get("refresh") == "1"
    auto = request.POST.get("auto_hostnames", "")
    if request.method == "GET" or refresh:
        initial = _refresh_initial(request.POST) if refresh else {}
        if not refresh:
            initial = {
                "ssh_keys": list(project.ssh_keys.values_list("pk", flat=True)),
                "quantity": 1,
                "ip_option": "public",
            }
        form = forms.DeployForm(initial=initial, project=project, capacity=capacity)
        if not refresh:
            form.initial["user_keys"] = list(form.fields["user_keys"].queryset.values_list("pk"))
            form.initial["user_keys"] = [pk for (pk,) in form.initial["user_keys"]]
        plan = form.picked_plan
        if plan is not None:
            oses = form.fields["operating_system"].queryset
            if not oses.filter(pk=form.initial.get("operating_system") or 0).exists():
                default = oses.filter(default_operating_system=True).first() or oses.first()
                form.initial["operating_system"] = default.pk if default else None
        # Names the user has not edited follow the plan and quantity.
        hostnames = (form.initial.get("hostname") or "").strip()
        if not hostnames or hostnames == auto.strip():
            auto = _suggested_hostnames(project, form, form.initial.get("quantity"))
            form.initial["hostname"] = auto
    else:
        form = forms.DeployForm(request.POST, project=project, capacity=capacity)
        if form.is_valid():
            ok, devices = submit(
                form,
                services.create_devices,
                project=project,
                acting_user=request.user,
                request=services.DeviceRequest(**form.device_request_fields()),
            )
            if ok:
                names = ", ".join(d.hostname for d in devices)
                messages.success(request, f"Deploying {names}.")
                return navigate(request, reverse("provisioning:devices", args=[project.uuid]))
    chosen = form.cleaned_data if form.is_bound and form.is_valid() else form.initial
    quantity = chosen.get("quantity") or 1
    try:
        quantity = max(1, int(quantity))
    except (TypeError, ValueError):
        quantity = 1
    plan = form.picked_plan
    os_ = None
    os_pk = getattr(chosen.get("operating_system"), "pk", chosen.get("operating_system"))
    if os_pk:
        os_ = form.fields["operating_system"].queryset.filter(pk=os_pk).first()
    hourly = None
    if plan is not None:
        hourly = (plan.hourly_price + (os_.hourly_price if os_ else 0)) * quantity
    return render_page_or_fragment(
        request,
        "provisioning/deploy.html",
        "deploy-form",
        {
            **project_context(request, project, "servers"),
            "form": form,
            "plans": [(p, form.level(p)) for p in form.fields["plan"].queryset],
            "auto_hostnames": auto,
            "summary": {"plan": plan, "os": os_, "quantity": quantity, "hourly": hourly},
            "examples": forms.USERDATA_EXAMPLES,
            "show_errors": form.is_bound,
        },
    )


# One server


def _timeline(request, device: Device):
    return (
        Event.objects.for_user(request.user)
        .filter(relations__kind="device", relations__object_id=device.uuid)
        .select_related("modified_by")
        .order_by("-created_at", "-pk")[:TIMELINE_LENGTH]
    )


def _ssh_command(device: Device, addresses) -> str:
    """How the owner logs in: by the machine's "SSH via" (a NAT or port forward) where the
    operator set one, else at the server's own public IPv4; empty without either."""
    via = device.machine.ssh_via if device.machine_id else ""
    if via:
        host, port = via.rsplit(":", 1)
        return f"ssh -p {port} root@{host}"
    for assignment in addresses:
        if assignment.public and assignment.subnet.version == 4:
            return f"ssh root@{assignment.address}"
    return ""


@login_required
@require_GET
def device_detail(request: HtmxHttpRequest, device_id):
    """Overview, live progress, actions, timeline and settings; htmx polls the status part."""
    device = _device(request, device_id)
    context = _device_context(request, device)
    if wants_fragment(request):
        response = render_page_or_fragment(
            request, "provisioning/device_detail.html", "device-status", context
        )
        return _settled_response(response, device.is_settled)
    context.update(
        addresses=list(
            device.ip_assignments.select_related("reservation").order_by("-public", "network")
        ),
        settings_form=forms.DeviceSettingsForm.for_device(device),
    )
    context["ssh_command"] = _ssh_command(device, context["addresses"])
    return render_page_or_fragment(
        request, "provisioning/device_detail.html", "device-status", context
    )


@login_required
@require_POST
def device_action(request: HtmxHttpRequest, device_id):
    """Power on/off, reboot, rescue or reinstall; answers with the refreshed status."""
    device = _device(request, device_id)
    action = request.POST.get("action", "")
    if action not in POWER_ACTIONS:
        messages.error(request, "Unknown action.")
    else:
        params = {}
        if action == Operation.Kind.REINSTALL:
            forbid_unless(can_manage_project(request.user, device.project))
            form = forms.ReinstallForm(request.POST, device=device)
            if form.is_valid():
                params["operating_system"] = form.cleaned_data["operating_system"]
        else:
            forbid_unless(can_operate_project(request.user, device.project))
        if perform(
            request,
            services.perform_action,
            device=device,
            acting_user=request.user,
            action=action,
            **params,
        ):
            messages.success(request, f"{action.replace('_', ' ').capitalize()} requested.")
    if not request.htmx:
        return navigate(request, reverse("provisioning:device", args=[device.uuid]))
    device = _device(request, device_id)
    return render_page_or_fragment(
        request,
        "provisioning/device_detail.html",
        "device-status",
        _device_context(request, device),
    )


@login_required
@require_POST
def device_delete(request: HtmxHttpRequest, device_id):
    """Delete (deprovision) after the page's confirmation; locked servers refuse."""
    device = _device(request, device_id)
    forbid_unless(can_manage_project(request.user, device.project))
    if perform(request, services.delete_device, device=device, acting_user=request.user):
        messages.success(request, f"Deleting {device.hostname}.")
        return navigate(request, reverse("provisioning:devices", args=[device.project.uuid]))
    return navigate(request, reverse("provisioning:device", args=[device.uuid]))


@login_required
@require_POST
def device_settings(request: HtmxHttpRequest, device_id):
    """Hostname, description, tags, user data, lock and boot options."""
    device = _device(request, device_id)
    forbid_unless(can_manage_project(request.user, device.project))
    form = forms.DeviceSettingsForm.for_device(device, request.POST)
    if form.is_valid():
        ok, _ = submit(
            form,
            services.update_device,
            device=device,
            acting_user=request.user,
            **form.cleaned_data,
        )
        if ok:
            messages.success(request, "Server settings saved.")
            return navigate(request, reverse("provisioning:device", args=[device.uuid]))
        device.refresh_from_db()
    return render_page_or_fragment(
        request,
        "provisioning/device_detail.html",
        "settings-form",
        {**_device_context(request, device), "settings_form": form},
    )


@login_required
@require_GET
def device_password(request: HtmxHttpRequest, device_id):
    """The root password, for people who may manage the server, during its first 24 hours."""
    device = _device(request, device_id)
    forbid_unless(can_manage_project(request.user, device.project))
    return render_page_or_fragment(
        request,
        "provisioning/device_detail.html",
        "root-password",
        _device_context(request, device),
    )


# IPs


def _ips_context(request, project, form=None) -> dict:
    reservations = (
        IPReservation.objects.filter(project=project)
        .select_related("metro", "block")
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=IPAssignment.objects.select_related("device").exclude(
                    device__state=Device.State.DELETED
                ),
            )
        )
        .order_by("management", "-created_at", "-pk")
    )
    page = Paginator(reservations, SERVERS_PER_PAGE).get_page(request.GET.get("page"))
    devices = Device.objects.for_user(request.user).filter(project=project).order_by("hostname")
    return {
        **project_context(request, project, "ips"),
        "page": page,
        "form": form or forms.ReserveIPsForm(),
        "devices": list(devices.only("uuid", "hostname", "metro_id")),
    }


@login_required
@require_http_methods(["GET", "POST"])
def ip_list(request: HtmxHttpRequest, project_id):
    """The project's reservations and where they are assigned; request a new block."""
    project = project_for(request, project_id)
    form = None
    if request.method == "POST":
        forbid_unless(can_manage_project(request.user, project))
        form = forms.ReserveIPsForm(request.POST)
        if form.is_valid():
            ok, reservation = submit(
                form,
                inventory_services.reserve_ips,
                project=project,
                acting_user=request.user,
                **form.cleaned_data,
            )
            if ok:
                messages.success(request, f"Reserved {reservation.network}.")
                return navigate(request, reverse("provisioning:ips", args=[project.uuid]))
    return render_page_or_fragment(
        request, "provisioning/ips.html", "reserve-form", _ips_context(request, project, form)
    )


def _reservation(request, reservation_id) -> IPReservation:
    return get_object_or_404(
        IPReservation.objects.filter(
            visible_project_q(request.user, "project", "project__organization")
        ).select_related("project", "metro", "block"),
        uuid=reservation_id,
    )


def _ip_write(request, project, service, **kwargs) -> HttpResponse:
    forbid_unless(can_manage_project(request.user, project))
    try:
        service(acting_user=request.user, **kwargs)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    except ServiceError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return navigate(request, reverse("provisioning:ips", args=[project.uuid]))


@login_required
@require_POST
def ip_release(request: HtmxHttpRequest, reservation_id):
    reservation = _reservation(request, reservation_id)
    return _ip_write(
        request, reservation.project, inventory_services.release_ips, reservation=reservation
    )


@login_required
@require_POST
def ip_assign(request: HtmxHttpRequest, reservation_id):
    reservation = _reservation(request, reservation_id)
    devices = Device.objects.for_user(request.user).filter(project=reservation.project)
    form = forms.AssignIPForm(request.POST, devices=devices)
    if not form.is_valid():
        forbid_unless(can_manage_project(request.user, reservation.project))
        messages.error(request, "Choose a server of this project.")
        return navigate(request, reverse("provisioning:ips", args=[reservation.project.uuid]))
    return _ip_write(
        request,
        reservation.project,
        services.assign_ip,
        reservation=reservation,
        device=form.cleaned_data["device"],
    )


@login_required
@require_POST
def ip_unassign(request: HtmxHttpRequest, assignment_id):
    assignment = get_object_or_404(
        IPAssignment.objects.filter(
            device__in=Device.objects.for_user(request.user)
        ).select_related("device__project", "reservation"),
        uuid=assignment_id,
    )
    return _ip_write(
        request, assignment.device.project, services.unassign_ip, assignment=assignment
    )
