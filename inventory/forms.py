"""Operator forms: catalogue editors (model-validated), machine filters, bulk actions, enrollment.

Catalogue forms are ModelForms so the model's own validation (validators, `clean()`) lands next
to the field it names; the view hands the unsaved instance to `save_catalogue_item`, which
validates again and writes with an audit event.
"""

import json

from django import forms

from portal.errors import ServiceError
from portal.forms import BootstrapMixin

from . import enrollment
from .models import Facility, IPBlock, Machine, Metro, OperatingSystem, Plan, ProvisioningNetwork

DEPLOYMENT_TYPES = [("on_demand", "On demand"), ("spot_market", "Spot market")]
ADDRESS_KEYS = [
    ("address", "Street address"),
    ("address2", "Address line 2"),
    ("city", "City"),
    ("state", "State / region"),
    ("zip_code", "Postal code"),
    ("country", "Country"),
]
# The Metal plan `specs` shape: which keys hold lists of objects and which hold one object.
SPEC_LISTS = {"cpus", "drives", "nics"}
SPEC_OBJECTS = {"memory", "features"}


class ListField(forms.CharField):
    """Comma-separated words into a list."""

    def to_python(self, value):
        words = (super().to_python(value) or "").split(",")
        return [word.strip() for word in words if word.strip()]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class SpecsField(forms.JSONField):
    """Plan specs as JSON, checked against the Metal shape so the API can serve them as is."""

    def to_python(self, value):
        specs = super().to_python(value)
        if specs in (None, ""):
            return {}
        if not isinstance(specs, dict):
            raise forms.ValidationError('Specs must be a JSON object, e.g. {"cpus": [...]}.')
        unknown = set(specs) - SPEC_LISTS - SPEC_OBJECTS
        if unknown:
            raise forms.ValidationError(f"Unknown spec keys: {', '.join(sorted(unknown))}.")
        for key in SPEC_LISTS & set(specs):
            items = specs[key]
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise forms.ValidationError(f'"{key}" must be a list of objects.')
        for key in SPEC_OBJECTS & set(specs):
            if not isinstance(specs[key], dict):
                raise forms.ValidationError(f'"{key}" must be an object.')
        return specs

    def prepare_value(self, value):
        # Indented, so an operator edits one spec per line.
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class _NamedChoices(forms.ModelMultipleChoiceField):
    """Related rows as checkboxes, by UUID, labelled by their string form."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, queryset, **kwargs):
        super().__init__(queryset, to_field_name="uuid", required=False, **kwargs)


def _monospace(form: forms.Form, *names: str) -> None:
    # BootstrapMixin sets each widget's class, so extra classes are added after it ran.
    for name in names:
        form.fields[name].widget.attrs["class"] += " font-monospace"


class CatalogueForm(BootstrapMixin, forms.ModelForm):
    """Base for the editors: m2m fields go to the service, never through `form.save()`."""

    m2m_fields: tuple[str, ...] = ()

    def m2m(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.m2m_fields}


class MetroForm(CatalogueForm):
    """A metro."""

    class Meta:
        model = Metro
        fields = ["code", "name", "country"]


class FacilityForm(CatalogueForm):
    """A facility: its metro, features and postal address."""

    features = forms.MultipleChoiceField(
        label="Features",
        choices=Facility.Feature.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Facility
        fields = ["code", "name", "metro", "features"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        address = self.instance.address or {}
        for key, label in ADDRESS_KEYS:
            self.fields[f"address_{key}"] = forms.CharField(
                label=label,
                required=False,
                max_length=100,
                initial=address.get(key, ""),
                widget=forms.TextInput(attrs={"class": "form-control"}),
            )

    def clean(self):
        data = super().clean()
        # The address is one JSON column; only non-empty parts are kept.
        self.instance.address = {
            key: data[f"address_{key}"] for key, _ in ADDRESS_KEYS if data.get(f"address_{key}")
        }
        return data


class PlanForm(CatalogueForm):
    """A plan: identity, price, specs, where it is offered and how enrollment matches it."""

    m2m_fields = ("metros",)
    categories = ListField(label="Categories", required=False, help_text="Comma-separated.")
    deployment_types = forms.MultipleChoiceField(
        label="Deployment types",
        choices=DEPLOYMENT_TYPES,
        required=False,
        initial=["on_demand"],
        widget=forms.CheckboxSelectMultiple,
    )
    specs = SpecsField(
        label="Specs (JSON)",
        required=False,
        # A new plan starts from the empty Metal shape rather than `null`.
        initial=lambda: {"cpus": [], "memory": {}, "drives": [], "nics": [], "features": {}},
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="Keys: cpus, drives, nics (lists), memory, features (objects). Example: "
        '{"cpus": [{"count": 1, "type": "Intel Xeon E-2278G"}], "memory": {"total": "32GB"}}',
    )
    metros = _NamedChoices(Metro.objects.all(), label="Offered in metros")

    class Meta:
        model = Plan
        fields = [
            "slug",
            "name",
            "plan_class",
            "type",
            "categories",
            "description",
            "hourly_price",
            "specs",
            "deployment_types",
            "metros",
            "match_cpu_count",
            "match_memory_gib",
            "root_device",
            "active",
        ]
        labels = {
            "hourly_price": "Hourly price (USD)",
            "match_cpu_count": "Match: CPU sockets",
            "match_memory_gib": "Match: memory (GiB)",
            "root_device": "Root disk rules (JSON)",
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "root_device": forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _monospace(self, "specs")
        _monospace(self, "root_device")


class _DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


class OperatingSystemForm(CatalogueForm):
    """An operating system and its boot path."""

    m2m_fields = ("provisionable_on",)
    provisionable_on = _NamedChoices(Plan.objects.all(), label="Provisionable on plans")

    class Meta:
        model = OperatingSystem
        fields = [
            "slug",
            "name",
            "distro",
            "distro_label",
            "version",
            "provisionable_on",
            "default_operating_system",
            "licensed",
            "hourly_price",
            "custom_ipxe",
            "kernel_url",
            "initrd_url",
            "image_url",
            "image_checksum",
            "image_format",
            "lifecycle_state",
            "release_date",
            "deprecation_date",
            "end_of_service_date",
            "end_of_life_date",
        ]
        labels = {
            "default_operating_system": "Default operating system",
            "hourly_price": "License price per hour (USD)",
            "custom_ipxe": "Custom iPXE",
            "kernel_url": "Installer kernel URL",
            "initrd_url": "Installer initrd URL",
            "image_url": "Image URL",
            "image_checksum": "Image checksum",
            "image_format": "Image format",
        }
        help_texts = {
            "kernel_url": "An http(s) URL, or a path the portal serves (/boot/files/…, "
            "from manage.py build_installer).",
            "image_checksum": "sha256:<64 hex digits>; the installer writes nothing else.",
        }
        widgets = {
            "release_date": _DateInput(),
            "deprecation_date": _DateInput(),
            "end_of_service_date": _DateInput(),
            "end_of_life_date": _DateInput(),
        }


class IPBlockForm(CatalogueForm):
    """A block of address space handed to Ironyard."""

    class Meta:
        model = IPBlock
        fields = ["kind", "network", "metro", "facility", "description"]
        labels = {"network": "Network (CIDR)"}


class ProvisioningNetworkForm(CatalogueForm):
    """A facility's provisioning network: its machines' boot addresses come from it."""

    class Meta:
        model = ProvisioningNetwork
        fields = ["facility", "network", "gateway", "description"]
        labels = {"network": "Network (IPv4 CIDR)"}


class MachineFilterForm(BootstrapMixin, forms.Form):
    """The machine list's filters (GET); invalid values are ignored, not shown as errors."""

    q = forms.CharField(label="Search", required=False, max_length=100)
    metro = forms.ModelChoiceField(
        Metro.objects.all(), to_field_name="code", required=False, empty_label="Any metro"
    )
    facility = forms.ModelChoiceField(
        Facility.objects.all(), to_field_name="code", required=False, empty_label="Any facility"
    )
    plan = forms.ModelChoiceField(
        Plan.objects.all(), to_field_name="slug", required=False, empty_label="Any plan"
    )
    state = forms.ChoiceField(choices=[("", "Any state"), *Machine.State.choices], required=False)
    fault = forms.BooleanField(label="Has fault", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update(
            placeholder="Name, serial, MAC or BMC address", type="search"
        )


class BulkActionForm(BootstrapMixin, forms.Form):
    """Machines picked on the list, and what to do with them."""

    ACTIONS = [
        ("maintenance_on", "Maintenance on"),
        ("maintenance_off", "Maintenance off"),
        ("retire", "Retire"),
    ]

    machines = forms.ModelMultipleChoiceField(
        Machine.objects.all(),
        to_field_name="uuid",
        error_messages={"required": "Select at least one machine."},
    )
    action = forms.ChoiceField(choices=ACTIONS)
    reason = forms.CharField(label="Reason", required=False, max_length=500)


class EnrollForm(BootstrapMixin, forms.Form):
    """One BMC to enroll. The password is never rendered back into the page."""

    driver = forms.ChoiceField(label="BMC driver", choices=Machine.Driver.choices)
    address = forms.CharField(
        label="BMC address",
        max_length=255,
        help_text="Redfish: https://host[:port]. IPMI: host[:port].",
    )
    username = forms.CharField(
        label="BMC username", max_length=255, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    password = forms.CharField(
        label="BMC password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    facility = forms.ModelChoiceField(
        Facility.objects.all(), to_field_name="code", empty_label="Choose a facility"
    )
    system_id = forms.CharField(
        label="System id",
        required=False,
        max_length=255,
        help_text="Only when the BMC manages several systems.",
    )
    name = forms.CharField(
        label="Machine name", required=False, max_length=64, help_text="Defaults to the serial."
    )
    plan = forms.ModelChoiceField(
        Plan.objects.filter(active=True),
        to_field_name="slug",
        required=False,
        empty_label="Match by hardware",
    )
    rack = forms.CharField(label="Rack", required=False, max_length=64)
    rack_unit = forms.IntegerField(label="Rack unit", required=False, min_value=1, max_value=60)
    verify_tls = forms.BooleanField(
        label="Verify the BMC's TLS certificate", required=False, initial=True
    )
    ca_certificate = forms.CharField(
        label="CA certificate (PEM)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="Empty uses the system's certificate authorities.",
    )

    def requests(self) -> list[enrollment.EnrollmentRequest]:
        data = self.cleaned_data
        return [
            enrollment.EnrollmentRequest(
                driver=data["driver"],
                address=data["address"],
                username=data["username"],
                password=data["password"],
                facility=data["facility"].code,
                system_id=data["system_id"],
                name=data["name"],
                plan=data["plan"].slug if data["plan"] else "",
                rack=data["rack"],
                rack_unit=data["rack_unit"],
                verify_tls=data["verify_tls"],
                ca_certificate=data["ca_certificate"],
            )
        ]


class _UnechoedTextarea(forms.Textarea):
    """A textarea that never renders its submitted value back (it holds passwords)."""

    def format_value(self, value):
        return None


class EnrollCsvForm(BootstrapMixin, forms.Form):
    """Many BMCs at once, pasted or uploaded (the text holds passwords: never rendered back)."""

    csv_text = forms.CharField(
        label="CSV rows",
        required=False,
        widget=_UnechoedTextarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="One BMC per line: <code>driver,address,username,password,facility"
        "[,system_id,name,plan,rack,rack_unit,verify_tls]</code>. A header row is optional.",
    )
    csv_file = forms.FileField(label="…or upload a CSV file", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _monospace(self, "csv_text")

    def clean(self):
        data = super().clean()
        text = data.get("csv_text") or ""
        upload = data.get("csv_file")
        if upload is not None:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        if not text.strip():
            raise forms.ValidationError("Paste CSV rows or choose a file.")
        try:
            data["parsed"] = enrollment.parse_csv(text)
        except ServiceError as exc:
            raise forms.ValidationError(exc.messages) from exc
        return data

    def requests(self) -> list[enrollment.EnrollmentRequest]:
        return self.cleaned_data["parsed"]
