"""API keys and project visibility from the cache (portal.api.access): after the first request
no query decides who the caller is or whether they see the project, and every change to that
is in force from the next request on."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import services, tokens
from portal.api import access, generations
from portal.models import ApiKey, Member
from tests import factories

pytestmark = pytest.mark.django_db


def _key(token: str) -> ApiKey:
    return ApiKey.objects.get(lookup=tokens.split_lookup(token))


def _devices(world):
    return f"/metal/v1/projects/{world.web.uuid}/devices"


def _warm(client, url, status=200):
    for _ in range(3):  # the key's first use stamps last_used_at, which drops its stored copy
        response = client.get(url)
        assert response.status_code == status, response.content


def test_a_known_caller_is_recognised_without_a_query(api_cache, api, world):
    client = api(world.tokens["carol"])
    _warm(client, _devices(world))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_devices(world)).status_code == 200
    assert [q["sql"] for q in queries] == []


def test_the_password_hash_stays_in_the_database(api_cache, api, world):
    _warm(api(world.tokens["alice"]), _devices(world))
    stored = generations.lookup(
        f"api-key:{tokens.split_lookup(world.tokens['alice'])}", (access.ACCESS,)
    )
    assert stored.value is not None
    assert world.alice.password not in repr(stored.value)
    thawed = access.api_key(tokens.split_lookup(world.tokens["alice"]))
    assert thawed.user.email == world.alice.email
    assert thawed.user.check_password is not None  # the hash loads from the database if asked
    assert thawed.user.password == world.alice.password


def test_a_wrong_secret_with_a_known_lookup_is_refused(api_cache, api, world):
    _warm(api(world.tokens["alice"]), _devices(world))
    assert api(factories.tampered(world.tokens["alice"])).get(_devices(world)).status_code == 401


def _revoke_key(world):
    services.delete_api_key(key=_key(world.tokens["carol"]), acting_user=world.carol)


def _deactivate_user(world):
    world.carol.is_active = False
    world.carol.save()


def _remove_member(world):
    member = Member.objects.get(organization=world.acme, user=world.carol)
    services.remove_member(member=member, acting_user=world.alice)


def _unassign_project(world):
    services.remove_project_membership(membership=world.carol_on_web, acting_user=world.alice)


def _delete_project(world):
    services.delete_project(project=world.web, acting_user=world.alice)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (_revoke_key, 401),
        (_deactivate_user, 401),
        (_remove_member, 404),
        (_unassign_project, 404),
        (_delete_project, 404),
    ],
)
def test_losing_access_counts_from_the_next_request(api_cache, api, world, change, status):
    client = api(world.tokens["carol"])
    _warm(client, _devices(world))
    change(world)
    assert client.get(_devices(world)).status_code == status


def test_gaining_access_counts_from_the_next_request(api_cache, api, world):
    """Assignments are bulk-created (no signal): a "no" is never kept for that reason."""
    client = api(world.tokens["carol"])
    ops = f"/metal/v1/projects/{world.ops.uuid}/devices"
    _warm(client, ops, status=404)
    member = Member.objects.get(organization=world.acme, user=world.carol)
    services.update_member(member=member, acting_user=world.alice, projects=[world.web, world.ops])
    assert client.get(ops).status_code == 200


def test_a_project_key_stays_in_its_project(api_cache, api, world):
    client = api(factories.make_token(world.alice, project=world.ops))
    _warm(client, f"/metal/v1/projects/{world.ops.uuid}/devices")
    assert client.get(_devices(world)).status_code == 404


def test_a_read_only_key_still_cannot_write(api_cache, api, world):
    client = api(factories.make_token(world.alice, read_only=True))
    _warm(client, _devices(world))
    response = client.post(
        _devices(world),
        {"plan": "c3.small.x86", "metro": "sv", "operating_system": "ubuntu_24_04"},
        format="json",
    )
    assert response.status_code == 403


def test_last_used_is_written_once_per_interval(api_cache, api, world):
    client = api(world.tokens["alice"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _warm(client, _devices(world))
        assert _key(world.tokens["alice"]).last_used_at == start
    later = start + dt.timedelta(minutes=6)
    with time_machine.travel(later, tick=False):
        client.get(_devices(world))
        assert _key(world.tokens["alice"]).last_used_at == later
        client.get(_devices(world))  # stores the key again, with its new stamp
        with CaptureQueriesContext(connection) as queries:
            client.get(_devices(world))
        assert [q["sql"] for q in queries] == []


def test_verifying_mode_catches_a_write_that_retires_nothing(api_cache, api, world):
    client = api(world.tokens["alice"])
    _warm(client, _devices(world))
    with connection.cursor() as cursor:  # behind the ORM's back: no signal, no bump
        table = connection.ops.quote_name(ApiKey._meta.db_table)
        cursor.execute(
            f"UPDATE {table} SET read_only = true WHERE lookup = %s",  # noqa: S608
            [tokens.split_lookup(world.tokens["alice"])],
        )
    api_cache.METAL_API_CACHE_VERIFY = True
    with pytest.raises(generations.StaleCache):
        client.get(_devices(world))


def test_without_a_shared_cache_nothing_is_kept(settings, api, world):
    settings.METAL_API_CACHE = False
    cache.clear()
    client = api(world.tokens["alice"])
    _warm(client, _devices(world))
    with CaptureQueriesContext(connection) as queries:
        client.get(_devices(world))
    assert len(queries) >= 2  # the key and the project, every time
