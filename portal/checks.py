"""Deploy checks: refuse production settings that would leave secrets guessable, and
settings that contradict each other."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_secrets(app_configs, **kwargs):
    errors = []
    if settings.SECRET_KEY == settings.DEMO_SECRET_KEY:
        errors.append(
            checks.Error(
                "SECRET_KEY is the public demo key.",
                hint="Set the SECRET_KEY environment variable to a long random value.",
                id="ironyard.E001",
            )
        )
    if not settings.SECRETS_ENCRYPTION_KEYS:
        errors.append(
            checks.Error(
                "SECRETS_ENCRYPTION_KEY is not set; secrets at rest would use a key derived from "
                "SECRET_KEY.",
                hint="Generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`.",
                id="ironyard.E002",
            )
        )
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        errors.append(
            checks.Warning(
                "The database is SQLite; production deployments should use PostgreSQL "
                "(DATABASE_URL).",
                id="ironyard.W001",
            )
        )
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        errors.append(
            checks.Warning(
                "Celery uses the embedded filesystem broker; set CELERY_BROKER_URL to RabbitMQ or "
                "Redis for more than one machine.",
                id="ironyard.W002",
            )
        )
    return errors


@checks.register()
def check_api_host(app_configs, **kwargs):
    """On METAL_API_HOST every path is the API's, so the addresses pages and booting servers are
    given must use other names."""
    api_host = settings.METAL_API_HOST
    clashes = [
        name
        for name in ("SITE_URL", "BOOT_BASE_URL")
        if api_host and urlsplit(getattr(settings, name)).hostname == api_host
    ]
    return [
        checks.Error(
            f"{name} uses METAL_API_HOST ({api_host}), where every path is the Metal API's.",
            hint=f"Give {name} the portal's own host name.",
            id="ironyard.E006",
        )
        for name in clashes
    ]
