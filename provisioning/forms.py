"""Server pages' forms: shape checks and choices narrowed to the caller; the services decide."""

import re

import yaml
from django import forms
from django.core.exceptions import ValidationError

from inventory.models import IPBlock, Metro, OperatingSystem, Plan
from portal.forms import BootstrapMixin
from portal.limits import MAX_USERDATA_BYTES
from portal.models import SSHKey, User

from .models import Device

# The first line cloud-init (and our iPXE path) recognises; anything else is silently ignored
# by cloud-init, so refusing it here saves a server that boots without the user's setup.
USERDATA_HEADERS = (
    "#cloud-config",
    "#!",
    "#include",
    "#cloud-boothook",
    "#part-handler",
    "Content-Type: multipart/",
)
USERDATA_EXAMPLES = {
    "cloud-config": (
        "#cloud-config\npackages:\n  - nginx\nruncmd:\n  - systemctl enable --now nginx\n"
    ),
    "shell script": "#!/bin/sh\necho hello > /root/hello.txt\n",
}
IP_OPTIONS = {
    "public": (
        "Public IPv4, private IPv4 and public IPv6",
        [
            {"address_family": 4, "public": True, "cidr": 31},
            {"address_family": 4, "public": False, "cidr": 31},
            {"address_family": 6, "public": True, "cidr": 127},
        ],
    ),
    "private": (
        "Private IPv4 only (reach it through another server or a VPN)",
        [{"address_family": 4, "public": False, "cidr": 31}],
    ),
}
MAX_QUANTITY = 20
# How many tags and how long is the service's rule (portal.limits), for the API as well.
TAG = re.compile(r"^[\w.:-]+$")


def clean_userdata(text: str) -> str:
    """Empty, or user data cloud-init will run: a known first line and, for #cloud-config,
    YAML that parses (the error names the line)."""
    text = (text or "").replace("\r\n", "\n")
    if not text.strip():
        return ""
    if len(text.encode(errors="surrogatepass")) > MAX_USERDATA_BYTES:
        raise ValidationError(f"User data is limited to {MAX_USERDATA_BYTES // 1024} KiB.")
    if not text.startswith(USERDATA_HEADERS):
        raise ValidationError(
            "User data must start with #cloud-config, a #! script line (e.g. #!/bin/sh), "
            "#include or a MIME multipart header."
        )
    if text.startswith("#cloud-config"):
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" on line {mark.line + 1}" if mark is not None else ""
            raise ValidationError(f"This #cloud-config is not valid YAML{where}.") from exc
        except RecursionError:
            # PyYAML's parser recurses per level: a few hundred nested brackets exhaust it.
            raise ValidationError("This #cloud-config is nested too deeply.") from None
        if parsed is not None and not isinstance(parsed, dict):
            raise ValidationError("A #cloud-config is a mapping of keys (packages:, runcmd:…).")
    return text


def clean_tags(text: str) -> list[str]:
    tags = [t.strip() for t in re.split(r"[,\n]", text or "") if t.strip()]
    bad = [t for t in tags if not TAG.match(t)]
    if bad:
        raise ValidationError(
            f"Tags are letters, digits, '.', ':', '_' or '-' (not: {', '.join(bad)})."
        )
    return list(dict.fromkeys(tags))


class OperatingSystemField(forms.ModelChoiceField):
    """Operating systems by name ("Debian 12"), as people choose them; the slug is the API's."""

    def label_from_instance(self, obj: OperatingSystem) -> str:
        return obj.name or obj.slug


class DeployForm(BootstrapMixin, forms.Form):
    """Everything a deploy needs; choices follow what was picked so far (metro → plan → OS)."""

    metro = forms.ModelChoiceField(
        queryset=Metro.objects.order_by("code"), widget=forms.RadioSelect, empty_label=None
    )
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), widget=forms.RadioSelect)
    operating_system = OperatingSystemField(
        queryset=OperatingSystem.objects.none(), label="Operating system"
    )
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1)
    # Named as the service's errors name it, so a clash lands next to this field.
    hostname = forms.CharField(
        required=False,
        label="Hostnames",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line (or comma-separated): one per server, or one to number from.",
    )
    ssh_keys = forms.ModelMultipleChoiceField(
        queryset=SSHKey.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Project SSH keys",
    )
    user_keys = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Members' personal SSH keys",
    )
    userdata = forms.CharField(
        required=False,
        label="User data",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
    )
    ip_option = forms.ChoiceField(
        label="IP addresses",
        choices=[(k, label) for k, (label, _) in IP_OPTIONS.items()],
        initial="public",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, project, capacity: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.capacity = capacity
        metro = self._picked("metro", Metro.objects.all())
        plans = Plan.objects.filter(active=True).order_by("hourly_price", "slug")
        if metro is not None:
            plans = plans.filter(metros=metro)
        self.fields["plan"].queryset = plans
        plan = self._picked("plan", plans)
        oses = OperatingSystem.objects.order_by("distro", "-version", "slug")
        self.fields["operating_system"].queryset = (
            oses.filter(provisionable_on=plan) if plan is not None else oses.none()
        )
        self.fields["ssh_keys"].queryset = SSHKey.objects.filter(project=project).order_by("label")
        self.fields["user_keys"].queryset = (
            User.objects.reaching_project(project)
            .filter(ssh_keys__isnull=False)
            .distinct()
            .order_by("email")
        )
        self.picked_metro, self.picked_plan = metro, plan

    def _picked(self, name: str, queryset):
        """The object chosen so far for `name` (bound data, else initial), if still valid."""
        value = self.data.get(name) if self.is_bound else self.initial.get(name)
        if hasattr(value, "pk"):
            value = value.pk
        if not value:
            return None
        try:
            return queryset.filter(pk=value).first()
        except (ValueError, ValidationError):
            return None

    def level(self, plan: Plan) -> str:
        metro = self.picked_metro
        if metro is None:
            return "unavailable"
        return self.capacity.get(metro.code, {}).get(plan.slug, {}).get("level", "unavailable")

    def clean_plan(self):
        plan = self.cleaned_data["plan"]
        if self.level(plan) == "unavailable":
            raise ValidationError(
                f"No {plan.slug} servers are available in {self.picked_metro.code} right now; "
                "choose another plan or metro."
            )
        return plan

    def clean_hostname(self) -> list[str]:
        return [h.strip() for h in re.split(r"[,\s]+", self.cleaned_data["hostname"]) if h]

    def clean_userdata(self) -> str:
        return clean_userdata(self.cleaned_data["userdata"])

    def device_request_fields(self) -> dict:
        """cleaned_data as DeviceRequest keyword arguments."""
        data = self.cleaned_data
        return {
            "plan": data["plan"],
            "operating_system": data["operating_system"],
            "metros": [data["metro"]],
            "quantity": data["quantity"],
            "hostnames": data["hostname"],
            "userdata": data["userdata"],
            "project_ssh_keys": list(data["ssh_keys"]),
            "user_ssh_keys": list(data["user_keys"]),
            "no_ssh_keys": not data["ssh_keys"] and not data["user_keys"],
            "ip_addresses": IP_OPTIONS[data["ip_option"]][1],
        }


class ReinstallForm(BootstrapMixin, forms.Form):
    operating_system = OperatingSystemField(
        queryset=OperatingSystem.objects.none(), label="Operating system"
    )

    def __init__(self, *args, device: Device, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["operating_system"].queryset = OperatingSystem.objects.filter(
            provisionable_on=device.plan_id
        ).order_by("distro", "-version", "slug")
        self.fields["operating_system"].initial = device.operating_system_id


class DeviceSettingsForm(BootstrapMixin, forms.Form):
    hostname = forms.CharField(max_length=63)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. web, prod.")
    userdata = forms.CharField(
        required=False,
        label="User data",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="Used on the next reinstall.",
    )
    locked = forms.BooleanField(required=False, label="Locked (cannot be deleted)")
    always_pxe = forms.BooleanField(required=False, label="Always boot from the network (PXE)")
    ipxe_script_url = forms.URLField(required=False, label="iPXE script URL", max_length=500)

    @classmethod
    def for_device(cls, device: Device, data=None) -> "DeviceSettingsForm":
        return cls(
            data,
            initial={
                "hostname": device.hostname,
                "description": device.description,
                "tags": ", ".join(device.tags),
                "userdata": device.userdata,
                "locked": device.locked,
                "always_pxe": device.always_pxe,
                "ipxe_script_url": device.ipxe_script_url,
            },
        )

    def clean_tags(self) -> list[str]:
        return clean_tags(self.cleaned_data["tags"])

    def clean_userdata(self) -> str:
        return clean_userdata(self.cleaned_data["userdata"])


class DeviceFilterForm(forms.Form):
    """The servers list's filters (GET); unknown values simply match nothing."""

    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Hostname or IP"}),
    )
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *Device.State.choices])
    metro = forms.ChoiceField(required=False)
    plan = forms.ChoiceField(required=False)
    tag = forms.CharField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["metro"].choices = [("", "Any metro")] + [
            (code, code) for code in Metro.objects.order_by("code").values_list("code", flat=True)
        ]
        self.fields["plan"].choices = [("", "Any plan")] + [
            (slug, slug)
            for slug in Plan.objects.filter(active=True)
            .order_by("slug")
            .values_list("slug", flat=True)
        ]
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-select form-select-sm")
        self.fields["q"].widget.attrs["class"] = "form-control form-control-sm"
        self.fields["tag"].widget.attrs["class"] = "form-control form-control-sm"


BULK_ACTIONS = {
    "power_off": "Power off",
    "power_on": "Power on",
    "reboot": "Reboot",
    "delete": "Delete",
}


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(choices=list(BULK_ACTIONS.items()))
    devices = forms.ModelMultipleChoiceField(
        queryset=Device.objects.none(),
        to_field_name="uuid",
        error_messages={"required": "Select at least one server."},
    )

    def __init__(self, *args, devices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["devices"].queryset = devices


RESERVABLE_KINDS = [
    (IPBlock.Kind.PUBLIC_IPV4, "Public IPv4"),
    (IPBlock.Kind.PRIVATE_IPV4, "Private IPv4"),
    (IPBlock.Kind.PUBLIC_IPV6, "Public IPv6 (/56)"),
]


class ReserveIPsForm(BootstrapMixin, forms.Form):
    kind = forms.ChoiceField(choices=RESERVABLE_KINDS, label="Type")
    metro = forms.ModelChoiceField(queryset=Metro.objects.order_by("code"))
    quantity = forms.TypedChoiceField(
        coerce=int,
        choices=[(n, f"{n} address{'es' if n > 1 else ''}") for n in (1, 2, 4, 8, 16)],
        help_text="IPv6 is reserved one /56 at a time: choose 1.",
    )
    details = forms.CharField(required=False, max_length=200, label="Description")


class AssignIPForm(BootstrapMixin, forms.Form):
    device = forms.ModelChoiceField(queryset=Device.objects.none(), to_field_name="uuid")

    def __init__(self, *args, devices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = devices
