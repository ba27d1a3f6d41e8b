"""`Idempotency-Key` on the Metal API's POSTs: a replay returns the first response and repeats
no side effect, a reused key with another body is refused, concurrent duplicates run once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import Machine
from portal import services, tasks
from portal.models import ApiKey, IdempotencyKey, Project, SSHKey
from provisioning.models import Device
from tests import factories
from tests.provisioning.factories import make_site


def post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def alice_api(api, alice):
    return api(factories.make_token(alice))


def test_same_key_and_body_replays_the_first_response_without_a_second_project(alice_api, acme):
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    first = post(alice_api, url, {"name": "batch"}, "k-1")
    assert first.status_code == 201
    again = post(alice_api, url, {"name": "batch"}, "k-1")
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Project.objects.filter(organization=acme, name="batch").count() == 1


def test_body_key_order_and_spacing_do_not_matter(alice_api):
    key = factories.new_ssh_public_key()
    first = alice_api.post(
        "/metal/v1/ssh-keys",
        f'{{"label": "a", "key": "{key}"}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    again = alice_api.post(
        "/metal/v1/ssh-keys",
        f'{{"key":"{key}","label":"a"}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert SSHKey.objects.filter(label="a").count() == 1


def test_same_key_with_another_body_is_refused_and_changes_nothing(alice_api, acme):
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    assert post(alice_api, url, {"name": "one"}, "k").status_code == 201
    refused = post(alice_api, url, {"name": "two"}, "k")
    assert refused.status_code == 422
    [message] = refused.json()["errors"]
    assert message.startswith("Idempotency-Key: This key was already used with a different")
    assert not Project.objects.filter(name="two").exists()


def test_same_key_on_another_endpoint_is_refused(alice_api, acme):
    assert post(alice_api, "/metal/v1/organizations", {"name": "X"}, "k").status_code == 201
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    assert post(alice_api, url, {"name": "X"}, "k").status_code == 422


def test_keys_belong_to_their_caller(api, alice, adam, acme):
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    for user in (alice, adam):
        response = post(api(factories.make_token(user)), url, {"name": "mine"}, "shared-key")
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response
    assert Project.objects.filter(organization=acme, name="mine").count() == 2


def test_errors_are_replayed_too_but_refusals_before_the_view_are_not(api, alice, lena, web):
    url = f"/metal/v1/projects/{web.uuid}/ssh-keys"
    bad = post(api(factories.make_token(alice)), url, {"label": "x", "key": "nope"}, "e")
    assert bad.status_code == 422
    again = post(api(factories.make_token(alice)), url, {"label": "x", "key": "nope"}, "e")
    assert (again.status_code, again.content) == (422, bad.content)
    assert again["Idempotent-Replayed"] == "true"
    # A read-only token is refused before the key is claimed, so nothing is stored for it.
    read_only = api(factories.make_token(lena, read_only=True))
    assert post(read_only, url, {"label": "x", "key": "nope"}, "r").status_code == 403
    assert not IdempotencyKey.objects.filter(user=lena).exists()


def test_posts_without_the_header_run_every_time(alice_api, acme):
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    for _ in range(2):
        assert alice_api.post(url, {"name": "twice"}, format="json").status_code == 201
    assert Project.objects.filter(name="twice").count() == 2
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("key", ["", " ", "x" * 256])
def test_a_bad_key_is_a_clear_422(alice_api, acme, key):
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    response = post(alice_api, url, {"name": "p"}, key)
    assert response.status_code == 422
    assert response.json() == {"errors": ["Idempotency-Key: Must be 1 to 255 characters."]}
    assert not Project.objects.filter(name="p").exists()


def test_a_replay_costs_a_fixed_handful_of_queries(alice_api, acme):
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    post(alice_api, url, {"name": "q"}, "k")
    with CaptureQueriesContext(connection) as queries:
        assert post(alice_api, url, {"name": "q"}, "k")["Idempotent-Replayed"] == "true"
    # token lookup, expired-key sweep, claim attempt (savepoint), stored row
    assert len([q for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]) <= 6


def test_keys_expire_after_24_hours(alice_api, alice, acme):
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    post(alice_api, url, {"name": "old"}, "k")
    post(alice_api, url, {"name": "new"}, "fresh")
    IdempotencyKey.objects.filter(key="k").update(
        created_at=timezone.now() - timedelta(hours=24, seconds=1)
    )
    # Past its TTL a key is free again, even before the sweep runs...
    assert post(alice_api, url, {"name": "old"}, "k").status_code == 201
    assert Project.objects.filter(name="old").count() == 2
    # ...and the hourly sweep deletes only expired keys.
    IdempotencyKey.objects.filter(key="k").update(created_at=timezone.now() - timedelta(days=2))
    assert tasks.expire_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def test_the_sweep_runs_on_beat(settings):
    assert settings.CELERY_BEAT_SCHEDULE["expire-idempotency-keys"]["task"] == (
        "portal.tasks.expire_idempotency_keys"
    )


def test_a_server_error_releases_the_key(alice_api, acme, monkeypatch):
    url = f"/metal/v1/organizations/{acme.uuid}/projects"
    real = services.create_project

    def broken(**kwargs):
        real(**kwargs)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "create_project", broken)
    alice_api.raise_request_exception = False
    assert post(alice_api, url, {"name": "flaky"}, "k").status_code == 500
    # The failed request's writes and its claim rolled back together; a retry runs afresh.
    assert not Project.objects.filter(name="flaky").exists()
    monkeypatch.setattr(services, "create_project", real)
    assert post(alice_api, url, {"name": "flaky"}, "k").status_code == 201
    assert Project.objects.filter(name="flaky").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_execute_once(api, alice, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is under test; run with DATABASE_URL=postgres://…")
    acme = factories.make_org(alice, "Acme")
    token = factories.make_token(alice)
    # A first use stamps last_used_at, locking the key's row until commit: that alone would
    # queue same-token requests one behind the other and hide the race under test.
    ApiKey.objects.update(last_used_at=timezone.now())
    real = services.create_project

    def slow_create_project(**kwargs):
        # Hold the first request's transaction open so the duplicates arrive while it runs.
        project = real(**kwargs)
        threading.Event().wait(0.5)
        return project

    monkeypatch.setattr(services, "create_project", slow_create_project)
    workers = 6
    barrier = threading.Barrier(workers)
    responses = []

    def send():
        barrier.wait()
        try:
            client = api(token)
            url = f"/metal/v1/organizations/{acme.uuid}/projects"
            responses.append(post(client, url, {"name": "raced"}, "race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in responses] == [201] * workers
    assert len({r.content for r in responses}) == 1
    assert sum("Idempotent-Replayed" in r for r in responses) == workers - 1
    assert Project.objects.filter(organization=acme, name="raced").count() == 1


def test_a_retried_device_create_makes_one_device(
    api, alice, web, django_capture_on_commit_callbacks
):
    # The device POSTs come from provisioning's own views: the hook lives in MetalView.
    site = make_site(machines=2)
    client = api(factories.make_token(alice))
    body = {"metro": "sv", "plan": site[1].slug, "operating_system": site[2].slug}
    url = f"/metal/v1/projects/{web.uuid}/devices"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = post(client, url, body, "deploy-1")
    assert first.status_code == 201, first.content
    queued = len(callbacks)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = post(client, url, body, "deploy-1")
    assert (again.status_code, again.content) == (201, first.content)
    assert callbacks == []  # nothing queued for a second provisioning either
    assert queued > 0
    assert Device.objects.filter(project=web).count() == 1
    assert Machine.objects.filter(state="available").count() == 1


def test_a_replayed_secret_is_stored_encrypted(alice_api):
    # The token of a new API key is shown once; the replay shows it again, but the table
    # holding replays must not be where it can be read in the clear.
    first = post(
        alice_api, "/metal/v1/user/api-keys", {"description": "nightly deploy bot"}, "key-1"
    )
    assert first.status_code == 201
    token = first.json()["token"]
    again = post(
        alice_api, "/metal/v1/user/api-keys", {"description": "nightly deploy bot"}, "key-1"
    )
    assert again.json()["token"] == token
    assert ApiKey.objects.filter(description="nightly deploy bot").count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM portal_idempotencykey")
        [(raw,)] = cursor.fetchall()
    assert token not in raw and "nightly deploy bot" not in raw  # spaces: never in base64
