"""Personas, as on Equinix Metal's Team page, in organization "Acme" with projects web and ops:

alice   owner                     adam   admin
carol   collaborator on web       lena   limited collaborator on web
bill    billing                   charlie outsider (only his own personal organization)
"""

import time
import warnings

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import override_settings

from tests import factories


@pytest.fixture(scope="session", autouse=True)
def _plain_http():
    """The whole session speaks plain HTTP (as the test client and every live server do): no
    redirect to HTTPS, no secure-only cookies, no HSTS. Session-wide and set up before any other
    session fixture, because pytest-django's session-scoped `live_server` builds its handler once
    and SecurityMiddleware reads SECURE_SSL_REDIRECT only then: a per-test override comes too
    late, and a browser would be sent to https:// on a plain-HTTP port."""
    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        SECURE_HSTS_SECONDS=0,
    ):
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, and before the test database is dropped, a wait for other sessions to
    leave it (a stopped worker's pool children may still be closing theirs). One that stays is
    named, where Django could only say the database "is being accessed by other users"."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        deadline = time.monotonic() + 10
        while others := _other_sessions():
            if time.monotonic() > deadline:
                warnings.warn(f"sessions left on the test database: {others}", stacklevel=1)
                return
            time.sleep(0.1)


def _other_sessions() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, application_name, backend_start, state, left(query, 200) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchall()


@pytest.fixture(scope="session", autouse=True)
def broker_var_dir(tmp_path_factory):
    """With the embedded filesystem broker, tests publish into their own folder, not the demo's
    var/broker; yields the IRONYARD_VAR_DIR that a worker subprocess must use to share it (None
    with a real broker, as in CI, which is used as configured)."""
    from portal.celery import app

    if not app.conf.broker_url.startswith("filesystem"):
        yield None
        return
    saved = dict(app.conf.broker_transport_options)
    var = tmp_path_factory.mktemp("var")
    folder = var / "broker"
    for name in ("queue", "control", "processed"):
        (folder / name).mkdir(parents=True)
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }
    yield var
    app.conf.broker_transport_options = saved


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Argon2 is deliberately slow; tests check behaviour, not the hash's cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # The cache may be a shared Redis (CI): rate-limit counters must not leak between tests.
    cache.clear()
    yield
    # The runner keeps BMC sessions per thread across passes; a test's BMCs die with the test.
    from provisioning import actions

    actions.close_sessions()


@pytest.fixture
def alice(db):
    return factories.make_user("alice@example.com", first_name="Alice")


@pytest.fixture
def acme(alice):
    return factories.make_org(alice, "Acme")


@pytest.fixture
def web(acme):
    return factories.make_project(acme, "web")


@pytest.fixture
def ops(acme):
    return factories.make_project(acme, "ops")


@pytest.fixture
def adam(acme):
    user = factories.make_user("adam@example.com", first_name="Adam")
    factories.add_member(acme, user, "admin")
    return user


@pytest.fixture
def carol(acme, web):
    user = factories.make_user("carol@example.com", first_name="Carol")
    factories.add_member(acme, user, "collaborator", projects=[web])
    return user


@pytest.fixture
def lena(acme, web):
    user = factories.make_user("lena@example.com", first_name="Lena")
    factories.add_member(acme, user, "limited_collaborator", projects=[web])
    return user


@pytest.fixture
def bill(acme):
    user = factories.make_user("bill@example.com", first_name="Bill")
    factories.add_member(acme, user, "billing")
    return user


@pytest.fixture
def charlie(db):
    return factories.make_user("charlie@example.com", first_name="Charlie")
