from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Ironyard portal"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (registers deploy checks and receivers)
