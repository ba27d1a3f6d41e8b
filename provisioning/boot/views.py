"""Machine-facing endpoints: plain views, no sessions, no CSRF (machines have neither).

A caller is known only by its source address (`audit.client_ip`, which honours
X-Forwarded-For only from TRUSTED_PROXIES), and only if Ironyard assigned it: a machine's
provisioning address or an address IPAM gave its device. What a request says (a MAC, a token)
is checked against that machine, never used to find one, and no request changes who an address
belongs to. The agent API also wants a bearer token bound to one running operation and usable
from its machine's address alone. Errors are `{"errors": [...]}` JSON, as on the Metal API.
"""

import json
import logging

from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from inventory.models import Machine
from portal import audit, limits
from portal.api.errors import json_errors

from .. import artifacts, ledger
from ..ledger import sql
from ..models import Device, Operation
from . import agent, scripts
from .metadata import (
    boot_base_url,
    build_metadata,
    ec2_tree,
    nocloud_meta_data,
    nocloud_user_data,
    nocloud_vendor_data,
)

logger = logging.getLogger(__name__)

USER_STATES = ("running", "succeeded", "failed")
# Progress reports one agent call may carry (a step's end and the next one's start, or a few
# the agent queued while the portal did not answer).
MAX_REPORTS = 20


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


class BadBody(Exception):
    """The request body is not the JSON object the endpoint expects."""


def _json(request: HttpRequest) -> dict:
    if not request.body.strip():
        return {}
    too_deep = BadBody(f"The body must not nest more than {limits.MAX_JSON_DEPTH} levels deep.")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody("The body must be JSON.") from exc
    except RecursionError:
        raise too_deep from None  # nested past what the decoder can follow
    if limits.json_too_deep(body, limits.MAX_JSON_DEPTH):
        raise too_deep
    if not isinstance(body, dict):
        raise BadBody("The body must be a JSON object.")
    return body


# iPXE


def _refuse(machine: Machine, address: str | None, what: str) -> JsonResponse:
    """A request from a machine's address that does not fit the machine: refused, and kept on
    the machine's history (someone on its address claims to be something else)."""
    logger.warning("boot path: %s from %s (%s)", what, address, machine.name)
    audit.record(
        "machine.boot_identity_refused",
        actor=None,
        text=f"Refused a boot request from {address}, {machine.name}'s address: {what}",
        objects=[machine],
    )
    return json_errors(403, f"Refused: {what}.")


@require_GET
def ipxe(request: HttpRequest) -> HttpResponse:
    """GET /boot/ipxe[?mac=…]: the script for the machine at the caller's address; without a
    MAC, a chain back here that carries the MAC (what DHCP's boot file points at), which must
    then be one of that machine's."""
    address = audit.client_ip(request)
    machine = sql.machine_at(address)
    if machine is None:
        logger.warning(
            "iPXE boot from %s, an address Ironyard gave no machine: mac=%r uuid=%r serial=%r",
            address,
            request.GET.get("mac", "")[:64],
            request.GET.get("uuid", "")[:64],
            request.GET.get("serial", "")[:64],
        )
        return _text(scripts.unknown_machine(address), status=404)
    raw_mac = request.GET.get("mac", "")
    if not raw_mac.strip():
        return _text(scripts.CHAIN_WITH_IDENTITY)
    mac = scripts.normalise_mac(raw_mac)
    if mac is None or not sql.has_nic(machine, mac):
        return _refuse(machine, address, f"MAC {raw_mac[:64]!r} is not one of its NICs")
    with transaction.atomic():
        script = scripts.script_for(machine, address, boot_base_url(request))
    logger.info(
        "iPXE boot of %s (mac %s) from %s: %s",
        machine.name,
        mac,
        address,
        script.splitlines()[1].split(" ", 1)[0] if "\n" in script else "script",
    )
    return _text(script)


# Installer agent


def _agent_operation(request: HttpRequest) -> tuple[Operation | None, JsonResponse | None]:
    """The running operation the bearer token belongs to, or the error response."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None, json_errors(
            401,
            "An installer token is required (Authorization: Bearer …).",
            **{"WWW-Authenticate": "Bearer"},
        )
    operation = agent.operation_for_token(token)
    if operation is None:
        return None, json_errors(
            401,
            "This installer token is not valid (or was replaced by a newer boot).",
            **{"WWW-Authenticate": "Bearer"},
        )
    # A token works only from the machine's address it was handed to.
    address = audit.client_ip(request)
    if address is None or address != operation.agent_address:
        return None, _refuse(
            operation.machine, address, "its installer token was presented from elsewhere"
        )
    if operation.state != Operation.State.RUNNING:
        return None, json_errors(410, f"This operation is over ({operation.state}).")
    ledger.heartbeat(operation)  # every call is one
    return operation, None


@require_GET
def agent_instructions(request: HttpRequest) -> JsonResponse:
    """GET /boot/agent/v1/instructions: the steps the installer runs."""
    operation, error = _agent_operation(request)
    if error is not None:
        return error
    document = agent.instructions(operation, boot_base_url(request))
    device = operation.device
    steps = ", ".join(step["name"].replace("_", " ") for step in document["steps"])
    audit.record(
        "provisioning.installer_booted",
        actor=None,
        text=f"The installer booted over the network on {device.hostname}: {steps}",
        project=device.project,
        objects=[device],
    )
    return JsonResponse(document)


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _reports(body: dict) -> tuple[list[tuple[str, int, str]], list[str]]:
    """Progress reports carried by an agent call: `reports`, a list of {step, percent,
    message} in the order they happened (a step's end and the next one's start travel in one
    call). Returns the reports and the problems found."""
    reports = body.get("reports", [])
    if not isinstance(reports, list) or len(reports) > MAX_REPORTS:
        return [], [f"reports: a list of at most {MAX_REPORTS} progress reports is required."]
    problems, valid = [], []
    for n, report in enumerate(reports):
        where = f"reports[{n}]."
        if not isinstance(report, dict):
            problems.append(f"reports[{n}]: must be an object.")
            continue
        found = _report_problems(report, where)
        if found:
            problems += found
        else:
            valid.append(_report(report))
    return valid, problems


def _report_problems(report: dict, where: str = "") -> list[str]:
    step, percent, message = report.get("step"), report.get("percent"), report.get("message", "")
    problems = []
    if not isinstance(step, str) or not step.strip() or len(step) > 64:
        problems.append(f"{where}step: a non-empty string of at most 64 characters is required.")
    if not _int_in(percent, 0, 100):
        problems.append(f"{where}percent: an integer from 0 to 100 is required.")
    if not isinstance(message, str):
        problems.append(f"{where}message: must be a string.")
    return problems


def _report(report: dict) -> tuple[str, int, str]:
    return report["step"].strip(), report["percent"], report.get("message", "")[:2000]


def _agent_body(request: HttpRequest) -> tuple[dict, list, JsonResponse | None]:
    """The JSON body of an agent call and the progress reports it carries, or the 422."""
    try:
        body = _json(request)
    except BadBody as exc:
        return {}, [], json_errors(422, str(exc))
    reports, problems = _reports(body)
    if problems:
        return {}, [], json_errors(422, *problems)
    return body, reports, None


@csrf_exempt
@require_POST
def agent_progress(request: HttpRequest) -> HttpResponse:
    """POST /boot/agent/v1/progress {step, percent, message}, or {reports: [...]} for several
    at once: timeline and progress bar."""
    operation, error = _agent_operation(request)
    if error is not None:
        return error
    body, reports, error = _agent_body(request)
    if error is not None:
        return error
    if "reports" not in body:
        problems = _report_problems(body)
        if problems:
            return json_errors(422, *problems)
        reports = [_report(body)]
    with audit.batch():
        ledger.record_progress(operation, reports)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def agent_done(request: HttpRequest) -> HttpResponse:
    """POST /boot/agent/v1/done [{reports: [...]}]: the installer finished (its last progress
    reports may come along); the workflow moves on."""
    operation, error = _agent_operation(request)
    if error is not None:
        return error
    _, reports, error = _agent_body(request)
    if error is not None:
        return error
    device = operation.device
    with transaction.atomic(), audit.batch():
        # The installer's end hands the progress bar back to the workflow's next step.
        ledger.record_progress(operation, reports, move_bar=False)
        finished = ledger.advance_waiting(
            operation,
            "await_agent",
            record_event=lambda: audit.record(
                "provisioning.agent_done",
                actor=None,
                text=f"Installer finished on {device.hostname}",
                project=device.project,
                objects=[device],
            ),
        )
        if not finished:
            transaction.set_rollback(True)
            return json_errors(409, "This operation is not waiting for the installer.")
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def agent_fail(request: HttpRequest) -> HttpResponse:
    """POST /boot/agent/v1/fail {step, message[, reports: [...]]}: the installer gave up (a
    machine fault)."""
    operation, error = _agent_operation(request)
    if error is not None:
        return error
    body, reports, error = _agent_body(request)
    if error is not None:
        return error
    step, message = body.get("step"), body.get("message", "")
    # The agent says whether the machine is to blame (a disk error: it goes to maintenance) or
    # what it was asked to install (an image that does not verify: the device fails alone).
    machine_fault = body.get("machine_fault", True)
    if not isinstance(machine_fault, bool):
        return json_errors(422, "machine_fault: true or false.")
    if not isinstance(step, str) or not step.strip() or not isinstance(message, str):
        return json_errors(422, "step (a non-empty string) and message (a string) are required.")
    with transaction.atomic(), audit.batch():
        ledger.record_progress(operation, reports, move_bar=False)
        ledger.fail(operation, f"{step.strip()}: {message}"[:2000], machine_fault=machine_fault)
    return HttpResponse(status=204)


# Metadata service


def _caller_id(request: HttpRequest) -> int | None:
    """The id of the live device the caller's address belongs to."""
    return sql.live_device_id_at(audit.client_ip(request))


def _caller_with_metadata(request: HttpRequest) -> Device | None:
    pk = _caller_id(request)
    return None if pk is None else sql.device_for_metadata(pk)


def _unknown_caller() -> JsonResponse:
    return json_errors(404, "No server is known at this address.")


@require_GET
def metadata(request: HttpRequest) -> JsonResponse:
    """GET /metadata: the calling server's Metal metadata."""
    device = _caller_with_metadata(request)
    if device is None:
        return _unknown_caller()
    return JsonResponse(build_metadata(device, boot_base_url(request)))


@require_GET
def nocloud(request: HttpRequest, document: str) -> HttpResponse:
    """GET /nocloud/meta-data, user-data, vendor-data: the calling server's cloud-init seed
    (NoCloud over HTTP), which the installed system reads at every boot."""
    device = _caller_with_metadata(request)
    if device is None:
        return _unknown_caller()
    if document == "user-data":
        return _text(nocloud_user_data(device))
    described = build_metadata(device, boot_base_url(request))
    if document == "meta-data":
        return _text(nocloud_meta_data(described))
    if document == "vendor-data":
        return _text(nocloud_vendor_data(described))
    return json_errors(404, f"No NoCloud document {document}.")


@require_GET
def userdata(request: HttpRequest) -> HttpResponse:
    """GET /userdata (and /2009-04-04/user-data): the calling server's raw user data."""
    device = sql.live_device_at(audit.client_ip(request))
    if device is None:
        return _unknown_caller()
    if not device.userdata:
        return json_errors(404, "This server has no user data.")
    return _text(device.userdata)


def _ec2_render(node) -> str:
    if isinstance(node, dict):
        return "\n".join(f"{k}/" if isinstance(v, dict) else k for k, v in node.items())
    if isinstance(node, list):
        return "\n".join(str(item) for item in node)
    return str(node)


@require_GET
def ec2_metadata(request: HttpRequest, key: str = "") -> HttpResponse:
    """GET /2009-04-04/meta-data[/key[/…]]: EC2-style listing or value."""
    device = _caller_with_metadata(request)
    if device is None:
        return _unknown_caller()
    node = ec2_tree(build_metadata(device, boot_base_url(request)))
    for part in [p for p in key.split("/") if p]:
        if not isinstance(node, dict) or part not in node:
            return json_errors(404, f"No meta-data at {key}.")
        node = node[part]
    return _text(_ec2_render(node))


@csrf_exempt
@require_POST
def phone_home(request: HttpRequest) -> HttpResponse:
    """POST /phone-home (any body): the installed OS booted; the workflow moves on."""
    pk = _caller_id(request)
    if pk is None:
        return _unknown_caller()
    # The server's running operation, if any, brings the device along.
    operation = sql.running_operation_of(pk)
    device = (
        operation.device
        if operation is not None
        else Device.objects.select_related("project__organization").filter(pk=pk).first()
    )
    if device is None:
        return _unknown_caller()

    def record(first_boot: bool) -> None:
        audit.record(
            "device.phoned_home",
            actor=None,
            text=f"{device.hostname} phoned home"
            + (" (first boot of the installed system)" if first_boot else ""),
            project=device.project,
            objects=[device],
        )

    with transaction.atomic(), audit.batch():
        if operation is None or not ledger.advance_waiting(
            operation, "await_phone_home", record_event=lambda: record(True)
        ):
            record(False)
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def user_state(request: HttpRequest) -> HttpResponse:
    """POST /user-state {state, code, message}: a user script's own progress report."""
    pk = _caller_id(request)
    device = (
        None
        if pk is None
        else Device.objects.select_related("project__organization").filter(pk=pk).first()
    )
    if device is None:
        return _unknown_caller()
    try:
        body = _json(request)
    except BadBody as exc:
        return json_errors(422, str(exc))
    state, code, message = body.get("state"), body.get("code"), body.get("message", "")
    problems = []
    if state not in USER_STATES:
        problems.append(f"state: must be one of {', '.join(USER_STATES)}.")
    if not _int_in(code, 1000, 1099):
        problems.append("code: an integer from 1000 to 1099 is required.")
    if not isinstance(message, str):
        problems.append("message: must be a string.")
    if problems:
        return json_errors(422, *problems)
    audit.record(
        f"user_state.{state}",
        actor=None,
        text=f"{device.hostname} reported {state} ({code})" + (f": {message}" if message else ""),
        project=device.project,
        objects=[device],
    )
    return HttpResponse(status=204)


@require_GET
def files(request: HttpRequest, path: str) -> HttpResponse:
    """GET /boot/files/<kind>/<build>/<name>: the installer and images Ironyard built
    (provisioning.artifacts), streamed; any HTTP server can serve ARTIFACTS_DIR instead."""
    found = artifacts.serve_path(path)
    if found is None:
        return json_errors(404, f"No built file {path[:200]}.")
    return FileResponse(found.open("rb"), content_type="application/octet-stream")
