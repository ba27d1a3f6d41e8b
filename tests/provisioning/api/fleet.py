"""A fixture fleet whose every rendered byte is the same on every run: the demo catalogue, two
tenants, and devices in the states, locations and shapes a device list shows, with ids, times,
passwords and keys fixed. The golden renderings in golden/ were taken from it."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import time_machine
from django.apps import apps

from inventory import demo
from inventory.models import Facility, IPBlock, Metro, OperatingSystem, Plan
from portal import services as portal_services
from portal.models import Project, User
from provisioning import services
from provisioning.models import Device, Operation
from tests import factories
from tests.inventory import factories as inv

NOW = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
NAMESPACE = uuid.UUID("5b0a7e4c-2f53-4d57-9a3c-6a1e8e0f2b11")
KEYS = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILnCcwb6yCpNxBJos06V6X0YYaw9A9r0lFRJwCQCWARL deploy@ci",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhL5liZgQOoUWtL39SeilIxK6ADmFbiqLD28DhxyCjE ana@laptop",
)


@dataclass
class Fleet:
    project: Project
    owner: User
    devices: list[Device]


def frozen():
    """The fleet's clock: build and render it inside this."""
    return time_machine.travel(NOW, tick=False)


def build() -> Fleet:
    """Make the fleet (call inside `frozen()`)."""
    demo.seed_catalogue()
    for kind, network in (("public_ipv4", "198.51.101.0/24"), ("private_ipv4", "10.11.0.0/16")):
        IPBlock.objects.get_or_create(
            network=network, defaults={"kind": kind, "metro": Metro.objects.get(code="ny")}
        )
    small, large = Plan.objects.get(slug="c3.small.x86"), Plan.objects.get(slug="m3.large.x86")
    for facility in Facility.objects.filter(code__in=["sv15", "ny5"]):
        for plan in (small, small, small, large):
            inv.make_machine(facility, plan)
    ana = factories.make_user("ana@example.com", first_name="Ana", staff=False)
    bo = factories.make_user("bo@example.com", first_name="Bo")
    project = Project.objects.for_user(ana).get()
    factories.add_member(project.organization, bo, "collaborator", projects=[project])
    deploy_key = portal_services.create_ssh_key(
        acting_user=ana, project=project, label="deploy", key=KEYS[0], tags=["ci"]
    )
    portal_services.create_ssh_key(acting_user=ana, label="laptop", key=KEYS[1])
    ubuntu, debian = (OperatingSystem.objects.get(slug=s) for s in ("ubuntu_24_04", "debian_12"))
    sv, ny = Metro.objects.get(code="sv"), Metro.objects.get(code="ny")

    def deploy(user, hostname, plan, os_, metro, **fields) -> Device:
        request = services.DeviceRequest(
            plan=plan, operating_system=os_, metros=[metro], hostnames=[hostname], **fields
        )
        [device] = services.create_devices(project=project, acting_user=user, request=request)
        return device

    devices = [
        deploy(ana, "web-01", small, ubuntu, sv, tags=["web", "prod"], description="front"),
        deploy(
            bo,
            "db-01",
            large,
            debian,
            sv,
            customdata={"role": "db", "replicas": [1, 2], "nested": {"a": None, "b": True}},
            userdata="#cloud-config\npackages: [postgresql]\n",
            locked=True,
        ),
        deploy(ana, "edge-01", small, ubuntu, ny, project_ssh_keys=[deploy_key]),
        deploy(ana, "pxe-01", small, ubuntu, ny, always_pxe=True, ipxe_script_url="http://x/i"),
        deploy(bo, "batch-01", small, debian, sv, no_ssh_keys=True, tags=[]),
    ]
    _settle(devices)
    _fix_identities()
    project.refresh_from_db()
    return Fleet(
        project=project,
        owner=ana,
        devices=list(Device.objects.filter(pk__in=[d.pk for d in devices]).order_by("pk")),
    )


def _settle(devices: list[Device]) -> None:
    """Each device in a state of its own, as the runner leaves them."""
    states = [
        ("active", 100, ""),
        ("active", 100, ""),
        ("provisioning", 62, "Running the installer"),
        ("inactive", 100, ""),
        ("failed", None, ""),
    ]
    for device, (state, percentage, step) in zip(devices, states, strict=True):
        if state != "provisioning":
            Operation.objects.filter(device=device).update(state="succeeded", finished_at=NOW)
        Device.objects.filter(pk=device.pk).update(
            state=state,
            provisioning_percentage=percentage,
            current_step=step,
            root_password=f"pw-{device.hostname}",
        )
    # One whose first day is over: its root password is no longer shown.
    Device.objects.filter(pk=devices[3].pk).update(root_password_expires_at=NOW)


def _fix_identities() -> None:
    """Every public id, by model and creation order."""
    for model in apps.get_models():
        if not any(field.name == "uuid" for field in model._meta.concrete_fields):
            continue
        label = model._meta.label_lower
        for n, pk in enumerate(model._default_manager.order_by("pk").values_list("pk", flat=True)):
            model._default_manager.filter(pk=pk).update(uuid=uuid.uuid5(NAMESPACE, f"{label}:{n}"))
