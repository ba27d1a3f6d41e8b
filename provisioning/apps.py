from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"

    def ready(self) -> None:
        from portal import hrefs

        for model_name, collection in {
            "device": "devices",
            "batch": "batches",
            "ipassignment": "ips",
            "operation": "operations",
        }.items():
            hrefs.register(model_name, collection)
