from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"

    def ready(self) -> None:
        from portal import hrefs

        for model_name, collection in {
            "metro": "locations/metros",
            "facility": "facilities",
            "plan": "plans",
            "operatingsystem": "operating-systems",
            "ipreservation": "ips",
            "ipblock": "ip-blocks",
            "machine": "hardware",
            "provisioningnetwork": "provisioning-networks",
        }.items():
            hrefs.register(model_name, collection)
