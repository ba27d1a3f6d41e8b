from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Ironyard portal"

    def ready(self) -> None:
        from . import checks, diagnostics, metrics, signals  # noqa: F401  (checks, receivers)

        diagnostics.install()
