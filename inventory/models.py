"""The datacenter as operators load it: where (metros, facilities, racks), what can be deployed
(plans, operating systems), the physical machines with their BMCs, and IP space."""

import ipaddress
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator, URLValidator
from django.db import models

from portal.crypto import EncryptedTextField
from portal.models import Project, UUIDModel

code_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{1,15}$", "Lower-case letters, digits, dashes.")
slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9._-]{1,63}$", "Lower-case slug (c3.small.x86).")
checksum_validator = RegexValidator(
    r"^sha256:[0-9a-f]{64}$", "sha256: followed by the 64 lower-case hex digits of the SHA-256."
)
_http_url = URLValidator(schemes=["http", "https"])
ssh_via_validator = RegexValidator(
    r"^[A-Za-z0-9._-]{1,253}:[0-9]{1,5}$", "host:port, e.g. bastion.example.com:2201."
)
# What the portal serves itself: the builds in ARTIFACTS_DIR (provisioning.artifacts).
PORTAL_FILES = "/boot/files/"


def validate_image_location(value: str) -> None:
    """An http(s) URL, or a path under the portal's own /boot/files/ (the machine fetches it
    from the portal's address as it reaches it)."""
    if value.startswith(PORTAL_FILES):
        if ".." in value.split("/") or any(c.isspace() for c in value):
            raise ValidationError("Not a file the portal serves.")
        return
    _http_url(value)


ROOT_DEVICE_HINTS = {"min_size_gb": int, "serial": str, "wwn": str, "model": str}


def validate_root_device(value) -> None:
    """Root-disk rules (Ironic's root device hints): the smallest disk matching them all."""
    if not isinstance(value, dict):
        raise ValidationError('An object such as {"min_size_gb": 200}.')
    for key, item in value.items():
        kind = ROOT_DEVICE_HINTS.get(key)
        if kind is None:
            raise ValidationError(
                f"Unknown rule {key!r}; use {', '.join(sorted(ROOT_DEVICE_HINTS))}."
            )
        if kind is int and (isinstance(item, bool) or not isinstance(item, int) or item < 1):
            raise ValidationError(f"{key}: a whole number of GB, at least 1.")
        if kind is str and (not isinstance(item, str) or not item.strip() or len(item) > 128):
            raise ValidationError(f"{key}: text of 1 to 128 characters.")


class Metro(UUIDModel):
    """A city-level location (Metal's metro), e.g. "sv" Silicon Valley."""

    code = models.CharField(max_length=16, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Facility(UUIDModel):
    """A datacenter in a metro; the legacy location unit that old clients still name."""

    class Feature(models.TextChoices):
        BAREMETAL = "baremetal"
        BACKEND_TRANSFER = "backend_transfer"
        LAYER_2 = "layer_2"
        GLOBAL_IPV4 = "global_ipv4"
        IBX = "ibx"

    code = models.CharField(max_length=16, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    metro = models.ForeignKey(Metro, on_delete=models.PROTECT, related_name="facilities")
    features = models.JSONField(default=list, blank=True)
    address = models.JSONField(
        default=dict, blank=True, help_text="address, address2, city, state, zip_code, country"
    )

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "facilities"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        unknown = set(self.features) - set(self.Feature.values)
        if unknown:
            raise ValidationError({"features": f"Unknown features: {', '.join(sorted(unknown))}"})


class Rack(UUIDModel):
    """A rack in a facility; machines name their position in it."""

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="racks")
    name = models.CharField(max_length=64)
    units = models.PositiveSmallIntegerField(default=42)

    class Meta:
        ordering = ["facility_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "name"], name="rack_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.facility.code}/{self.name}"


class Plan(UUIDModel):
    """A hardware class users deploy (c3.small.x86): specs, price, and where it is offered."""

    class Type(models.TextChoices):
        STANDARD = "standard"
        WORKLOAD_OPTIMIZED = "workload_optimized"
        CUSTOM = "custom"

    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=100)
    plan_class = models.CharField("class", max_length=64, blank=True)
    line = models.CharField(max_length=32, default="baremetal")
    type = models.CharField(max_length=32, choices=Type.choices, default=Type.STANDARD)
    categories = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    specs = models.JSONField(
        default=dict, blank=True, help_text="cpus, memory, drives, nics, features (Metal shape)"
    )
    hourly_price = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    deployment_types = models.JSONField(default=list, blank=True)
    metros = models.ManyToManyField(Metro, blank=True, related_name="plans")
    # What enrollment matches discovered hardware against.
    match_cpu_count = models.PositiveSmallIntegerField(null=True, blank=True)
    match_memory_gib = models.PositiveIntegerField(null=True, blank=True)
    root_device = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_root_device],
        help_text="Which disk the OS goes on: the smallest matching all of min_size_gb, serial, "
        "wwn, model (none: the smallest disk).",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["hourly_price", "slug"]

    def __str__(self) -> str:
        return self.slug


class ImageFormat(models.TextChoices):
    """What an image is (a root filesystem tarball or a whole-disk image) and how it is
    compressed; the installer decompresses it as it streams."""

    TAR = "tar", "Root filesystem tarball"
    TAR_GZ = "tar+gz", "Root filesystem tarball, gzip"
    TAR_XZ = "tar+xz", "Root filesystem tarball, xz"
    TAR_ZST = "tar+zst", "Root filesystem tarball, zstd"
    RAW = "raw", "Raw disk image"
    RAW_GZ = "raw+gz", "Raw disk image, gzip"
    RAW_XZ = "raw+xz", "Raw disk image, xz"
    RAW_ZST = "raw+zst", "Raw disk image, zstd"


class OperatingSystem(UUIDModel):
    """An installable OS image and what the boot path needs to install it."""

    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=100)
    distro = models.CharField(max_length=64)
    distro_label = models.CharField(max_length=100, blank=True)
    version = models.CharField(max_length=32, blank=True)
    provisionable_on = models.ManyToManyField(Plan, blank=True, related_name="operating_systems")
    default_operating_system = models.BooleanField(default=False)
    licensed = models.BooleanField(default=False)
    hourly_price = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    preinstallable = models.BooleanField(default=False)
    # Boot path: kernel + initrd of the installer, and the image it writes (or a custom iPXE).
    custom_ipxe = models.BooleanField(default=False, help_text="Boots the user's iPXE script.")
    kernel_url = models.CharField(max_length=500, blank=True, validators=[validate_image_location])
    initrd_url = models.CharField(max_length=500, blank=True, validators=[validate_image_location])
    image_url = models.CharField(max_length=500, blank=True, validators=[validate_image_location])
    image_checksum = models.CharField(max_length=200, blank=True, validators=[checksum_validator])
    image_format = models.CharField(
        max_length=16,
        blank=True,
        choices=ImageFormat.choices,
        help_text="Blank: from the image's name (.tar.zst, .raw.gz, …).",
    )
    # Lifecycle.
    lifecycle_state = models.CharField(max_length=32, default="active")
    release_date = models.DateField(null=True, blank=True)
    deprecation_date = models.DateField(null=True, blank=True)
    end_of_service_date = models.DateField(null=True, blank=True)
    end_of_life_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["distro", "slug"]

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        if not self.custom_ipxe and not (self.kernel_url and self.image_url):
            raise ValidationError("An installable OS needs a kernel URL and an image URL.")
        if self.image_url and not self.image_checksum:
            # The installer writes only what verifies: an image without a checksum never would.
            raise ValidationError({"image_checksum": "An image needs its SHA-256 checksum."})


class Machine(UUIDModel):
    """A physical server in the inventory. Tenants never see it; their device points at it."""

    class State(models.TextChoices):
        ENROLLING = "enrolling"
        AVAILABLE = "available"
        ALLOCATED = "allocated"
        DEPLOYING = "deploying"
        IN_USE = "in_use"
        CLEANING = "cleaning"
        MAINTENANCE = "maintenance"
        RETIRED = "retired"

    class PowerState(models.TextChoices):
        ON = "on"
        OFF = "off"
        UNKNOWN = "unknown"

    class Driver(models.TextChoices):
        REDFISH = "redfish", "Redfish"
        IPMI = "ipmi", "IPMI"

    name = models.CharField(max_length=64, unique=True)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="machines")
    rack = models.ForeignKey(
        Rack, on_delete=models.SET_NULL, null=True, blank=True, related_name="machines"
    )
    rack_unit = models.PositiveSmallIntegerField(null=True, blank=True)
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="machines"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.ENROLLING)
    fault_reason = models.TextField(blank=True)
    # Hardware facts, as discovered through the BMC.
    system_uuid = models.UUIDField(null=True, blank=True)
    serial_number = models.CharField(max_length=100, blank=True)
    manufacturer = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=100, blank=True)
    cpu_count = models.PositiveSmallIntegerField(null=True, blank=True)
    cpu_model = models.CharField(max_length=200, blank=True)
    cpu_cores = models.PositiveIntegerField(null=True, blank=True)
    memory_gib = models.PositiveIntegerField(null=True, blank=True)
    disks = models.JSONField(default=list, blank=True)
    # The BMC. Credentials are encrypted at rest (portal.crypto).
    bmc_driver = models.CharField(max_length=16, choices=Driver.choices)
    bmc_address = models.CharField(max_length=255)
    bmc_system_id = models.CharField(max_length=255, blank=True)
    bmc_username = EncryptedTextField()
    bmc_password = EncryptedTextField()
    bmc_verify_tls = models.BooleanField(default=True)
    bmc_ca_certificate = models.TextField(blank=True, help_text="PEM; empty uses system CAs.")
    power_state = models.CharField(
        max_length=8, choices=PowerState.choices, default=PowerState.UNKNOWN
    )
    power_checked_at = models.DateTimeField(null=True, blank=True)
    # Its boot identity: the address Ironyard gave it on its facility's provisioning network at
    # enrollment, which DHCP hands to its MACs and nothing else. The boot path knows the
    # machine by this address alone; no request ever changes it.
    provisioning_network = models.ForeignKey(
        "ProvisioningNetwork",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="machines",
    )
    # Where users reach the server by SSH when its public address is not reachable from where
    # they are: a NAT or port forward (the virtual rack's VMs: a port on 127.0.0.1).
    ssh_via = models.CharField(
        "SSH via",
        max_length=255,
        blank=True,
        validators=[ssh_via_validator],
        help_text="host:port users SSH to instead of the server's public IPv4 (empty: that).",
    )
    provisioning_address = models.GenericIPAddressField(
        protocol="IPv4", null=True, blank=True, unique=True
    )

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["plan", "state", "facility"]),
            # The claim (provisioning.allocation): a plan's available machines, longest
            # enrolled first, without stepping over the (in a busy datacenter, many more)
            # machines in use.
            models.Index(
                fields=["plan", "created_at", "id"],
                condition=models.Q(state="available"),
                name="machine_available",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["bmc_address", "bmc_system_id"], name="machine_unique_bmc_system"
            ),
            models.UniqueConstraint(
                fields=["rack", "rack_unit"],
                condition=models.Q(rack__isnull=False, rack_unit__isnull=False),
                name="machine_unique_rack_unit",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    state__in=[
                        "enrolling",
                        "available",
                        "allocated",
                        "deploying",
                        "in_use",
                        "cleaning",
                        "maintenance",
                        "retired",
                    ]
                ),
                name="machine_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    provisioning_network__isnull=True, provisioning_address__isnull=True
                )
                | models.Q(provisioning_network__isnull=False, provisioning_address__isnull=False),
                name="machine_provisioning_address_in_network",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MachineNic(models.Model):
    """A network interface of a machine; iPXE and the boot path find machines by MAC."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="nics")
    name = models.CharField(max_length=32)
    mac_address = models.CharField(max_length=17, unique=True)

    class Meta:
        ordering = ["machine_id", "name"]

    def __str__(self) -> str:
        return f"{self.machine.name} {self.name} {self.mac_address}"


class ProvisioningNetwork(UUIDModel):
    """The network a facility's machines boot on (DHCP, PXE, the installer). Each machine
    enrolled in the facility gets one address in it, and the DHCP configuration Ironyard
    generates serves exactly those reservations (`manage.py dhcp_config`)."""

    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, related_name="provisioning_networks"
    )
    network = models.CharField(
        max_length=64, unique=True, help_text="IPv4 CIDR, e.g. 10.250.0.0/22"
    )
    gateway = models.GenericIPAddressField(
        protocol="IPv4",
        null=True,
        blank=True,
        help_text="The router DHCP hands out; never given to a machine.",
    )
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["facility_id", "network"]

    def __str__(self) -> str:
        return self.network

    @property
    def ip_network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.network)

    def clean(self) -> None:
        try:
            net = ipaddress.ip_network(self.network, strict=True)
        except ValueError as exc:
            raise ValidationError({"network": str(exc)}) from exc
        if net.version != 4 or net.prefixlen > 30:
            raise ValidationError(
                {"network": "A provisioning network is IPv4 (DHCP and PXE), /30 or larger."}
            )
        self.network = str(net)
        if self.gateway and ipaddress.ip_address(self.gateway) not in net:
            raise ValidationError({"gateway": f"The gateway must be inside {net}."})
        others = ProvisioningNetwork.objects.exclude(pk=self.pk).select_related("facility")
        clash = next((o for o in others if o.ip_network.overlaps(net)), None)
        if clash is not None:
            raise ValidationError(
                {
                    "network": f"Overlaps {clash} (facility {clash.facility.code}): a boot "
                    "address must name one machine."
                }
            )
        if self.pk is not None:
            stored = ProvisioningNetwork.objects.get(pk=self.pk)
            moved = stored.network != self.network or stored.facility_id != self.facility_id
            if moved and stored.machines.exists():
                raise ValidationError(
                    "Machines have addresses in this network: its network and facility can no "
                    "longer change."
                )
            gateway_taken = self.gateway and stored.machines.filter(
                provisioning_address=self.gateway
            )
            if gateway_taken and gateway_taken.exists():
                raise ValidationError({"gateway": "A machine has this address."})


class IPBlock(UUIDModel):
    """Address space an operator hands to Ironyard for one metro (optionally one facility)."""

    class Kind(models.TextChoices):
        PUBLIC_IPV4 = "public_ipv4"
        PRIVATE_IPV4 = "private_ipv4"
        PUBLIC_IPV6 = "public_ipv6"
        GLOBAL_IPV4 = "global_ipv4"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    network = models.CharField(max_length=64, unique=True, help_text="CIDR, e.g. 198.51.100.0/24")
    metro = models.ForeignKey(
        Metro, on_delete=models.PROTECT, null=True, blank=True, related_name="ip_blocks"
    )
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, null=True, blank=True, related_name="ip_blocks"
    )
    description = models.CharField(max_length=200, blank=True)
    # Where the allocator starts looking, by prefix length ({"31": "198.51.100.8"}): no free
    # subnet of that size lies below that address. Written under the block's row lock by
    # inventory.services; a hint too high only delays reuse, never double-allocates.
    next_free = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["kind", "network"]

    def __str__(self) -> str:
        return self.network

    @property
    def ip_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.network)

    def clean(self) -> None:
        try:
            net = ipaddress.ip_network(self.network, strict=True)
        except ValueError as exc:
            raise ValidationError({"network": str(exc)}) from exc
        family = 6 if self.kind == self.Kind.PUBLIC_IPV6 else 4
        if net.version != family:
            raise ValidationError({"network": f"A {self.kind} block must be IPv{family}."})
        if self.kind != self.Kind.GLOBAL_IPV4 and self.metro_id is None:
            raise ValidationError({"metro": "Blocks other than global IPv4 belong to a metro."})


class IPReservationQuerySet(models.QuerySet):
    """Reservations; bulk_create fills in each one's address span, as save() does."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for reservation in objs:
            reservation.set_span()
        return super().bulk_create(objs, *args, **kwargs)


class IPReservation(UUIDModel):
    """A subnet carved from a block for a project (an elastic block, or a device's default)."""

    block = models.ForeignKey(IPBlock, on_delete=models.PROTECT, related_name="reservations")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="ip_reservations")
    network = models.CharField(max_length=64, help_text="CIDR of the reserved subnet")
    metro = models.ForeignKey(
        Metro, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    facility = models.ForeignKey(
        Facility, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Device defaults (the /31 and /127 each server gets) are "management" reservations.
    management = models.BooleanField(default=False)
    details = models.TextField(blank=True)
    comments = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    customdata = models.JSONField(default=dict, blank=True)
    # The subnet's first and last address, packed big-endian (4 bytes, or 16 for IPv6), so that
    # byte order is address order on every database: allocation walks a block's reservations
    # in address order from an index instead of reading and parsing them all. Always derived
    # from `network` (save and bulk_create set them).
    first_packed = models.BinaryField(max_length=16, editable=False)
    last_packed = models.BinaryField(max_length=16, editable=False)

    objects = IPReservationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # Allocation locks the block row; this is the database's own backstop.
            models.UniqueConstraint(fields=["block", "network"], name="ipreservation_unique")
        ]
        indexes = [
            # The allocator's walk: a block's reservations ending at or above an address.
            models.Index(fields=["block", "last_packed", "first_packed"], name="ipreservation_span")
        ]

    def __str__(self) -> str:
        return self.network

    def set_span(self) -> None:
        """Derive first_packed and last_packed from network."""
        net = ipaddress.ip_network(self.network)
        self.first_packed = net.network_address.packed
        self.last_packed = net.broadcast_address.packed

    def save(self, *args, **kwargs) -> None:
        self.set_span()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "network" in update_fields:
            kwargs["update_fields"] = {*update_fields, "first_packed", "last_packed"}
        super().save(*args, **kwargs)

    @property
    def ip_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.network)
