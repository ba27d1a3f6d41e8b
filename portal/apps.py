from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Ironyard portal"

    def ready(self) -> None:
        from . import checks, diagnostics, signals  # noqa: F401  (registers checks, receivers)

        diagnostics.install()
