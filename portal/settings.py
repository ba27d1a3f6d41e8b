"""Ironyard settings: everything comes from the environment, with embedded single-machine defaults.

Defaults (no environment at all) give the demo: a SQLite file in WAL mode, Celery over kombu's
filesystem broker, a local-memory cache and the console e-mail backend. Production sets
DATABASE_URL, CELERY_BROKER_URL, REDIS_URL, SECRET_KEY, SECRETS_ENCRYPTION_KEY and ALLOWED_HOSTS.
"""

import os
from pathlib import Path

import bootstrap_wrapper
import dj_database_url
from celery.schedules import crontab
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("IRONYARD_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable into a list of non-empty items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# The demo's key is fixed and public on purpose: it only ever signs a local demo's sessions.
# Anything reachable by others must set SECRET_KEY (check --deploy refuses the demo key).
DEMO_SECRET_KEY = "ironyard-demo-only-insecure-key-do-not-use-in-production-0123456789"  # noqa: S105 (public by design)
SECRET_KEY = os.environ.get("SECRET_KEY", DEMO_SECRET_KEY)

# Key for secrets at rest (BMC credentials, root passwords): a Fernet key, or several separated
# by commas for rotation (the first encrypts, all decrypt). Defaults to one derived from
# SECRET_KEY so the demo works without configuration.
SECRETS_ENCRYPTION_KEYS = env_list("SECRETS_ENCRYPTION_KEY", "")

# HMAC key for API token digests; separate from SECRET_KEY so rotating sessions keeps tokens.
API_TOKEN_HMAC_KEY = os.environ.get("API_TOKEN_HMAC_KEY", SECRET_KEY)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
# The API's own host name (api.example.com): there the Metal API answers at the root as well as
# under /metal/v1, as api.packet.net did for packet-python; pages and the boot path stay on the
# other names. Naming it is enough to serve it.
METAL_API_HOST = os.environ.get("METAL_API_HOST", "").strip().lower()
if METAL_API_HOST and METAL_API_HOST not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(METAL_API_HOST)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "portal",
    "inventory",
    "provisioning",
]

MIDDLEWARE = [
    # First in, last out: its request latencies include every other middleware's time.
    "portal.metrics.RequestMetricsMiddleware",
    "portal.middleware.MetalPathMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static HTML (Swagger UI's oauth2-redirect.html) gets the policy too.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.UserTimezoneMiddleware",
]

ROOT_URLCONF = "portal.root_urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

# Database: DATABASE_URL, else (unset or empty) a SQLite file in WAL mode (the embedded demo).
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'ironyard.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the worker write while pages read; IMMEDIATE avoids upgrade deadlocks.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters bound on the server, and a statement the connection has run a few times
    # prepared (psycopg's prepare_threshold): PostgreSQL then plans the ORM's repeated
    # statements (a booting server's dozen, the device list's) once per connection, where
    # planning their joins had cost it several times running them. Behind PgBouncer in
    # transaction mode this needs PgBouncer 1.21 or newer with max_prepared_statements set.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "portal.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise warns on every request while the folder is missing (before collectstatic).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", bootstrap_wrapper.get_bootstrap_dir()),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("IRONYARD_MANIFEST_STATIC", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# E-mail: the console by default; EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and
# the EMAIL_* variables for a real relay.
EMAIL_BACKEND_PATH = os.environ.get(
    "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND_PATH}}
if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT", "25")),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Ironyard <noreply@localhost>")

# Security headers. The secure-transport settings default on in production (DEBUG off) and can
# be relaxed for a plain-HTTP demo with IRONYARD_INSECURE_HTTP=1 (what `make run` sets).
INSECURE_HTTP = env_bool("IRONYARD_INSECURE_HTTP", False)
SESSION_COOKIE_SECURE = not (DEBUG or INSECURE_HTTP)
CSRF_COOKIE_SECURE = not (DEBUG or INSECURE_HTTP)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not (DEBUG or INSECURE_HTTP))
SECURE_REDIRECT_EXEMPT = [r"^metal/v1/"]
SECURE_HSTS_SECONDS = int(
    os.environ.get("SECURE_HSTS_SECONDS", "0" if INSECURE_HTTP else "31536000")
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not INSECURE_HTTP)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Client addresses for audit events: X-Forwarded-For is trusted only from these proxies.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Content-Security-Policy (django.middleware.csp): scripts, styles, fonts and connections come
# only from our own origin; no inline script, style or event handler anywhere (templates/ keeps
# behaviour in static/portal/js and looks in CSS classes), no eval (htmx is told not to eval or
# to inject its own <style>: base.html's htmx-config), never framed. Bootstrap's CSS draws its
# icons (menu toggler, select arrow, check marks) as data: SVG images, hence img-src data:. The
# API docs page (Swagger UI) runs under the same policy (portal.api.urls). CSP_REPORT_URI has
# browsers report violations there; CSP_REPORT_ONLY=1 only reports them (to try a change to the
# policy or to templates on a live site) instead of blocking.
CSP_POLICY = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
if CSP_REPORT_URI := os.environ.get("CSP_REPORT_URI", ""):
    CSP_POLICY["report-uri"] = [CSP_REPORT_URI]
if env_bool("CSP_REPORT_ONLY", False):
    SECURE_CSP, SECURE_CSP_REPORT_ONLY = {}, CSP_POLICY
else:
    SECURE_CSP, SECURE_CSP_REPORT_ONLY = CSP_POLICY, {}

# Login guessing: per client address and per account, in the cache.
LOGIN_RATE_PER_IP = os.environ.get("LOGIN_RATE_PER_IP", "20/m")
LOGIN_RATE_PER_ACCOUNT = os.environ.get("LOGIN_RATE_PER_ACCOUNT", "10/m")
# Password reset requests (each may send an e-mail): per client address and per address asked
# about, in the cache as well.
PASSWORD_RESET_RATE_PER_IP = os.environ.get("PASSWORD_RESET_RATE_PER_IP", "20/h")
PASSWORD_RESET_RATE_PER_ACCOUNT = os.environ.get("PASSWORD_RESET_RATE_PER_ACCOUNT", "5/h")
RATELIMIT_USE_CACHE = "default"
# Metal API limits (429 with Retry-After), per API token and per client address; "off" disables.
API_RATE_PER_TOKEN = os.environ.get("API_RATE_PER_TOKEN", "1200/m")
API_RATE_PER_IP = os.environ.get("API_RATE_PER_IP", "3000/m")

INVITATION_TTL_DAYS = int(os.environ.get("INVITATION_TTL_DAYS", "14"))

# Provisioning workflows: step leases, BMC retries (exponential back-off with jitter), how many
# other machines a device may be retried on after a hardware fault, and how long each kind of
# operation may take before the reconciler fails it.
STEP_LEASE_SECONDS = int(os.environ.get("STEP_LEASE_SECONDS", "120"))
STEP_MAX_ATTEMPTS = int(os.environ.get("STEP_MAX_ATTEMPTS", "5"))
STEP_RETRY_BASE_SECONDS = float(os.environ.get("STEP_RETRY_BASE_SECONDS", "2"))
STEP_RETRY_MAX_SECONDS = float(os.environ.get("STEP_RETRY_MAX_SECONDS", "60"))
POWER_POLL_SECONDS = float(os.environ.get("POWER_POLL_SECONDS", "2"))
# A worker keeps its BMC sessions between the passes of an operation; one idle this long is
# logged out before it would be reused (BMCs expire idle sessions on their own, typically 30 min).
BMC_SESSION_IDLE_SECONDS = float(os.environ.get("BMC_SESSION_IDLE_SECONDS", "60"))
PROVISION_FAILOVER_LIMIT = int(os.environ.get("PROVISION_FAILOVER_LIMIT", "2"))
OPERATION_DEADLINE_SECONDS = int(os.environ.get("OPERATION_DEADLINE_SECONDS", "2700"))

# Boot path (iPXE, installer agent, metadata service). Servers may reach the portal under
# another name than browsers do, so the URLs handed to them come from BOOT_BASE_URL if set.
BOOT_BASE_URL = os.environ.get("BOOT_BASE_URL", "").rstrip("/")
# CIDRs the boot path (iPXE, agent, metadata) answers; empty answers every address, which only
# the demo may do (`check --deploy` refuses it). Inside them a caller is still known only by an
# address Ironyard assigned it.
BOOT_ALLOWED_NETWORKS = env_list("BOOT_ALLOWED_NETWORKS", "")
# The installer agent's calls are its heartbeat: silent this long (from its boot or its last
# call), its machine is power-cycled into the installer once more, then the operation fails.
AGENT_SILENCE_SECONDS = int(os.environ.get("AGENT_SILENCE_SECONDS", "300"))
# A kernel and initrd for rescue (and for wiping a custom-iPXE device's machine). Empty: the
# device's OS's installer, which also rescues and wipes (else the catalogue's default OS's).
RESCUE_KERNEL_URL = os.environ.get("RESCUE_KERNEL_URL", "")
RESCUE_INITRD_URL = os.environ.get("RESCUE_INITRD_URL", "")
# Installer and OS images Ironyard builds (provisioning.artifacts): where they are kept (a cache
# keyed by their inputs: keep it across restarts), the Debian mirrors they are built from, and
# the kernel the installer boots (linux-image-amd64 carries drivers for more hardware).
ARTIFACTS_DIR = os.environ.get(
    "ARTIFACTS_DIR", str(Path.home() / ".cache" / "ironyard" / "artifacts")
)
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_SECURITY_MIRROR = os.environ.get(
    "DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security"
)
INSTALLER_KERNEL_PACKAGE = os.environ.get("INSTALLER_KERNEL_PACKAGE", "linux-image-cloud-amd64")
# The image size the agent is told when the catalogue does not say (it sizes progress only).
INSTALL_IMAGE_SIZE_BYTES = int(os.environ.get("INSTALL_IMAGE_SIZE_BYTES", str(2 * 1024**3)))
# Firmware and cloud-init talk plain HTTP to these paths; never redirect them to HTTPS.
SECURE_REDIRECT_EXEMPT += [
    r"^boot/",
    r"^metadata$",
    r"^nocloud/",
    r"^userdata$",
    r"^2009-04-04/",
    r"^phone-home$",
    r"^user-state$",
]
POWER_DRIFT_CHECK_SECONDS = int(os.environ.get("POWER_DRIFT_CHECK_SECONDS", "300"))
POWER_DRIFT_BATCH = int(os.environ.get("POWER_DRIFT_BATCH", "50"))

# Who may read /metrics (Prometheus): callers in these CIDRs (as audit.client_ip sees them:
# behind a proxy, set TRUSTED_PROXIES), or any caller with `Authorization: Bearer METRICS_TOKEN`.
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# prometheus-client's multiprocess mode (see portal.metrics): a process writes its first metric
# there while Django loads, so a directory that is missing is made (whoever starts the
# processes empties it; a new one is empty).
if PROMETHEUS_MULTIPROC_DIR := os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""):
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Each of /health/'s broker and worker checks waits at most this long (seconds) for an answer.
HEALTH_CHECK_TIMEOUT = float(os.environ.get("HEALTH_CHECK_TIMEOUT", "2"))
# Load balancers and scrapers often talk plain HTTP to the web processes themselves.
SECURE_REDIRECT_EXEMPT += [r"^health/", r"^metrics$"]

# Capacity words per metro and plan: 0 available is "unavailable", up to this many "limited".
CAPACITY_LIMITED_THRESHOLD = int(os.environ.get("CAPACITY_LIMITED_THRESHOLD", "5"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["portal.api.auth.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["portal.api.parsers.MetalJSONParser"],
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.MetalAutoSchema",
}
# Ironyard's own OpenAPI document (/metal/v1/openapi.json) and its docs page, whose Swagger UI
# comes from the sidecar's static files: the docs work offline, with no CDN. (Not Redoc: its
# page template loads Google Fonts.)
SPECTACULAR_SETTINGS = {
    "TITLE": "Ironyard Metal v1 API",
    "DESCRIPTION": "The Equinix Metal v1 dialect as Ironyard serves it. Authenticate with an "
    'API key in the X-Auth-Token header; errors are {"errors": [...]}.',
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/metal/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI would otherwise send the document to validator.swagger.io for a badge.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery: kombu's filesystem broker by default, so the demo needs no broker service.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Broadcast (pidbox) messages; kombu's default is ./control in the working directory.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # The filesystem transport polls; its 1 s default caps a worker at ~1 message/s.
        "polling_interval": 0.1,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection around every task unless told to keep
# it for this many; portal.celery instead closes it when Django would (CONN_MAX_AGE, health
# checks), before and after each task.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "expire-invitations": {"task": "portal.tasks.expire_invitations", "schedule": 3600.0},
    "expire-idempotency-keys": {
        "task": "portal.tasks.expire_idempotency_keys",
        "schedule": 3600.0,
    },
    "reconcile": {"task": "provisioning.tasks.reconcile", "schedule": 15.0},
    # The 1st of each month, for the month before (idempotent: one invoice per org and month).
    "monthly-invoices": {
        "task": "provisioning.tasks.generate_invoices",
        "schedule": crontab(minute=30, hour=0, day_of_month=1),
    },
}

# Usage: "hour" bills whole started hours, "second" exact seconds (provisioning.billing.usage).
USAGE_METERING = os.environ.get("USAGE_METERING", "hour")
BILLING_CURRENCY = os.environ.get("BILLING_CURRENCY", "USD")
INVOICE_DUE_DAYS = int(os.environ.get("INVOICE_DUE_DAYS", "7"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # sushy logs every session-auth fallback and retry at WARNING/ERROR; the Redfish driver
        # turns real failures into BmcErrors with the BMC's answer, so its chatter is noise.
        "sushy": {"level": "CRITICAL"},
    },
}
