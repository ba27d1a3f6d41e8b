from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"

    def ready(self) -> None:
        from portal import hrefs, panels

        for model_name, collection in {
            "device": "devices",
            "batch": "batches",
            "ipassignment": "ips",
            "operation": "operations",
        }.items():
            hrefs.register(model_name, collection)

        from inventory.signals import price_changed

        from . import views
        from .billing import usage
        from .boot import checks  # noqa: F401 - registers the boot path's system checks

        price_changed.connect(usage.reprice, dispatch_uid="provisioning.billing.usage.reprice")

        panels.register_tab(panels.ProjectTab("servers", "Servers", "provisioning:devices"))
        panels.register_tab(panels.ProjectTab("ips", "IPs", "provisioning:ips"))
        panels.register_tab(panels.ProjectTab("usage", "Usage", "usage:project-usage"))
        panels.register_panel(views.project_panel)
