"""Devices (a tenant's server, bound to one machine while it lives), batches, the IP addresses
assigned to them, and the ledger of operations and steps that changes them."""

import ipaddress
from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property

from inventory import ipam
from inventory.models import Facility, IPReservation, Machine, Metro, OperatingSystem, Plan
from portal.crypto import EncryptedTextField
from portal.models import Project, SSHKey, User, UUIDModel

from .querysets import DeviceQuerySet, ProjectScopedQuerySet


def duration_words(delta: timedelta) -> str:
    """A duration as people say it: "45 s", "2 min 12 s", "1 h 5 min"."""
    seconds = max(0, round(delta.total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


class Device(UUIDModel):
    """A tenant's server. Its `state` is exactly Metal's enum; the machine does the work."""

    class State(models.TextChoices):
        QUEUED = "queued"
        PROVISIONING = "provisioning"
        DEPROVISIONING = "deprovisioning"
        REINSTALLING = "reinstalling"
        ACTIVE = "active"
        INACTIVE = "inactive"
        FAILED = "failed"
        POWERING_ON = "powering_on"
        POWERING_OFF = "powering_off"
        DELETED = "deleted"

    class BillingCycle(models.TextChoices):
        HOURLY = "hourly"
        DAILY = "daily"
        MONTHLY = "monthly"
        YEARLY = "yearly"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="devices")
    hostname = models.CharField(max_length=63)
    description = models.TextField(blank=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="devices")
    metro = models.ForeignKey(Metro, on_delete=models.PROTECT, related_name="devices")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="devices")
    operating_system = models.ForeignKey(
        OperatingSystem, on_delete=models.PROTECT, related_name="devices"
    )
    # Bound while the device lives; the one-to-one makes double allocation impossible.
    machine = models.OneToOneField(
        Machine, on_delete=models.PROTECT, null=True, blank=True, related_name="device"
    )
    batch = models.ForeignKey(
        "Batch", on_delete=models.SET_NULL, null=True, blank=True, related_name="devices"
    )
    billing_cycle = models.CharField(
        max_length=16, choices=BillingCycle.choices, default=BillingCycle.HOURLY
    )
    tags = models.JSONField(default=list, blank=True)
    userdata = models.TextField(blank=True)
    customdata = models.JSONField(default=dict, blank=True)
    ssh_keys = models.ManyToManyField(SSHKey, blank=True, related_name="devices")
    # Inline keys given at create time (not stored as SSHKey rows), installed as given.
    extra_ssh_keys = models.JSONField(default=list, blank=True)
    always_pxe = models.BooleanField(default=False)
    ipxe_script_url = models.URLField(max_length=500, blank=True)
    locked = models.BooleanField(default=False)
    root_password = EncryptedTextField(blank=True)
    root_password_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    provisioning_percentage = models.PositiveSmallIntegerField(null=True, blank=True)
    # From creation to active (its provision's success, failovers included).
    time_to_active = models.DurationField(null=True, blank=True)
    current_step = models.CharField(max_length=100, blank=True)
    failure_reason = models.TextField(blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["project", "state", "-created_at"]),
            # A project's list, newest first, pages without sorting the whole project.
            models.Index(fields=["project", "-created_at", "-id"], name="device_project_newest"),
        ]
        constraints = [
            # A live hostname is one slot per project; concurrent batches cannot both take it.
            models.UniqueConstraint(
                "project",
                "hostname",
                condition=~Q(state="deleted"),
                name="device_unique_live_hostname",
            ),
            models.CheckConstraint(
                condition=Q(
                    state__in=[
                        "queued",
                        "provisioning",
                        "deprovisioning",
                        "reinstalling",
                        "active",
                        "inactive",
                        "failed",
                        "powering_on",
                        "powering_off",
                        "deleted",
                    ]
                ),
                name="device_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.hostname

    @property
    def readable_root_password(self) -> str | None:
        """The initial root password during its first day, as on Metal; afterwards None (the
        stored value stops meaning anything once the owner changes it)."""
        expires = self.root_password_expires_at
        if self.root_password and expires is not None and timezone.now() < expires:
            return self.root_password
        return None

    @property
    def time_to_active_words(self) -> str:
        return duration_words(self.time_to_active) if self.time_to_active is not None else ""

    @property
    def fills_progress_bar(self) -> bool:
        """The device is being installed or deleted: the states whose operations fill the
        progress bar (a power action only names its step)."""
        return self.state in {
            self.State.QUEUED,
            self.State.PROVISIONING,
            self.State.REINSTALLING,
            self.State.DEPROVISIONING,
        }

    @property
    def is_settled(self) -> bool:
        """No operation is moving this device (pages stop polling)."""
        return self.state in {
            self.State.ACTIVE,
            self.State.INACTIVE,
            self.State.FAILED,
            self.State.DELETED,
        }


class Batch(UUIDModel):
    """A request for several devices at once (POST /projects/{id}/devices/batch)."""

    class State(models.TextChoices):
        QUEUED = "queued"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="batches")
    quantity = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    error_messages = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = ProjectScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"batch of {self.quantity}"


class IPAssignment(UUIDModel):
    """An address (a subnet of a reservation) bound to a device."""

    reservation = models.ForeignKey(
        IPReservation, on_delete=models.PROTECT, related_name="assignments"
    )
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="ip_assignments")
    network = models.CharField(max_length=64, help_text="CIDR of the assigned address(es)")
    public = models.BooleanField(default=True)
    management = models.BooleanField(default=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            # One assignment per address inside a reservation.
            models.UniqueConstraint(fields=["reservation", "network"], name="ipassignment_unique")
        ]

    def __str__(self) -> str:
        return self.network

    @cached_property
    def subnet(self) -> ipam.Network:
        return ipaddress.ip_network(self.network)

    @property
    def address(self) -> str:
        """The server's own address in the subnet (what the metadata service tells it)."""
        return str(ipam.server_address(self.subnet))


class Operation(UUIDModel):
    """One change of a device (provision, power_off, …) as an ordered list of steps."""

    class Kind(models.TextChoices):
        PROVISION = "provision"
        POWER_ON = "power_on"
        POWER_OFF = "power_off"
        REBOOT = "reboot"
        REINSTALL = "reinstall"
        RESCUE = "rescue"
        DEPROVISION = "deprovision"

    class State(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    OPEN_STATES = ("running",)

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="operations")
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="operations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    params = models.JSONField(default=dict, blank=True)
    # The installer agent's bearer token for this operation, stored as a digest.
    agent_token_digest = models.CharField(max_length=64, blank=True, db_index=True)
    # The address the token was handed to (the machine's): the only one it works from.
    agent_address = models.GenericIPAddressField(null=True, blank=True)
    # The installer's last sign of life (its network boot, then each of its calls): the
    # reconciler restarts or fails an installer silent for AGENT_SILENCE_SECONDS.
    agent_seen_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    deadline = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["device"],
                condition=Q(state="running"),
                name="operation_one_open_per_device",
            ),
            models.UniqueConstraint(
                fields=["machine"],
                condition=Q(state="running"),
                name="operation_one_open_per_machine",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.device}"


class Step(models.Model):
    """One idempotent check-then-act piece of an operation, run under a fenced lease."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        WAITING = "waiting"
        DONE = "done"
        FAILED = "failed"
        SKIPPED = "skipped"

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    # Lease fencing: every take bumps the generation; a result carrying an older one is stale.
    generation = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    raw = models.JSONField(default=dict, blank=True, help_text="The BMC's own answer, if any.")

    class Meta:
        ordering = ["operation_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "index"], name="step_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.index}. {self.name} ({self.state})"


class UsageInterval(models.Model):
    """A stretch of billable time for one device and one priced item (its plan, or a licensed
    OS), its unit price frozen when it opened. Opened at allocation, billable once the device
    first reaches active, closed when the device is deleted (see provisioning.billing.usage)."""

    class Item(models.TextChoices):
        PLAN = "plan"
        OS = "os"

    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="usage_intervals")
    # The device's project, copied so project and organization totals need no join.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    item = models.CharField(max_length=8, choices=Item.choices)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    operating_system = models.ForeignKey(
        OperatingSystem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    unit_price = models.DecimalField(max_digits=10, decimal_places=4)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    billable = models.BooleanField(default=False)

    objects = ProjectScopedQuerySet.as_manager()

    class Meta:
        ordering = ["started_at", "pk"]
        indexes = [models.Index(fields=["project", "started_at"])]
        constraints = [
            # One running meter per device and item: no double counting, whatever the caller.
            models.UniqueConstraint(
                fields=["device", "item"],
                condition=Q(ended_at__isnull=True),
                name="usage_one_open_per_item",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="usage_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(item="plan") | Q(operating_system__isnull=False),
                name="usage_os_item_names_os",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item} of {self.device_id} from {self.started_at:%Y-%m-%d %H:%M}"


class InvoiceQuerySet(models.QuerySet):
    """Invoices are the organization's owners', admins' and billing members' business only."""

    def for_user(self, user):
        if not user.is_authenticated:
            return self.none()
        from portal.models import Member
        from portal.roles import BILLING_READERS

        readers = Member.objects.filter(
            user=user, organization=models.OuterRef("organization"), role__in=BILLING_READERS
        )
        return self.filter(models.Exists(readers))


class Invoice(UUIDModel):
    """An organization's bill for one calendar month (UTC); at most one per month."""

    organization = models.ForeignKey(
        "portal.Organization", on_delete=models.PROTECT, related_name="invoices"
    )
    number = models.CharField(max_length=32, unique=True)
    period_start = models.DateField()
    period_end = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, default="open")
    due_on = models.DateField()

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-period_start", "-pk"]
        constraints = [
            # The monthly job may run twice (beat restarts, a retried task): one invoice stays.
            models.UniqueConstraint(
                fields=["organization", "period_start"], name="invoice_one_per_org_month"
            )
        ]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(models.Model):
    """What one project spent on one plan (or OS licence) at one price during the month."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Names as they were when invoiced: a renamed project or plan does not rewrite the bill.
    project_name = models.CharField(max_length=100)
    item = models.CharField(max_length=8, choices=UsageInterval.Item.choices)
    plan = models.ForeignKey(
        Plan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=14, decimal_places=4)
    unit = models.CharField(max_length=16, default="hour")
    unit_price = models.DecimalField(max_digits=10, decimal_places=4)
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["project_name", "-item", "name", "pk"]  # servers, then licences

    def __str__(self) -> str:
        return self.description
