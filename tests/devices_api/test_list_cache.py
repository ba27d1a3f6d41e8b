"""The project device list from the list cache (portal.api.generations): served without
rendering while nothing it shows has changed, never after something has, and never to a caller
who may not see it."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import OperatingSystem, Plan
from portal import services as portal_services
from portal import tokens
from portal.api import generations
from portal.checks import check_list_cache
from portal.models import ApiKey, SSHKey
from provisioning import services
from provisioning.models import Device, IPAssignment
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def listing(api, world, api_cache):
    """listing() → the bytes of alice's GET of web's devices (twice first, so the stored body
    exists); listing.fresh() → the same rendered with the cache off."""
    client = api(world.tokens["alice"])
    url = f"/metal/v1/projects/{world.web.uuid}/devices?per_page=50"

    def get() -> bytes:
        response = client.get(url)
        assert response.status_code == 200, response.content
        return response.content

    def fresh() -> bytes:
        api_cache.METAL_API_CACHE = False
        try:
            return get()
        finally:
            api_cache.METAL_API_CACHE = True

    get.fresh = fresh
    get.url = url
    return get


def test_a_hit_costs_no_query_and_no_rendering(listing, world, deploy, monkeypatch):
    for _ in range(3):
        deploy(world.web, world.alice)
    first = listing()
    assert first == listing.fresh()
    assert listing() == first  # the key, the project and the page are stored by now
    renders = []
    monkeypatch.setattr(
        "provisioning.api.views.DeviceListMixin.render_devices",
        lambda self, devices: renders.append(1),
    )
    with CaptureQueriesContext(connection) as queries:
        assert listing() == first
    assert renders == []
    assert [q["sql"] for q in queries] == []


def test_a_hit_makes_one_cache_call(listing, world, deploy, monkeypatch):
    deploy(world.web, world.alice)
    listing()
    listing()  # stored, and the project's id known before authentication
    backend, calls, inside = caches["default"], [], []

    def counted(name, method):
        def call(*args, **kwargs):
            if inside:  # a backend method built on another (LocMem's get_many on get)
                return method(*args, **kwargs)
            calls.append(name)
            inside.append(name)
            try:
                return method(*args, **kwargs)
            finally:
                inside.pop()

        return call

    for name in ("get", "get_many", "set", "add", "incr", "count", "delete"):
        if hasattr(backend, name):
            monkeypatch.setattr(backend, name, counted(name, getattr(backend, name)))
    listing()
    # With Redis one script counts both rate limits and reads the key's, the project's and the
    # list's generations; elsewhere the same in three calls.
    assert calls == (["count"] if hasattr(backend, "count") else ["incr", "incr", "get_many"])


def _rename_device(world, device):
    services.update_device(device=device, acting_user=world.alice, hostname="renamed")


def _runner_style_update(world, device):
    Device.objects.filter(pk=device.pk).update(state=Device.State.INACTIVE)


def _deploy_another(world, device, deploy):
    deploy(world.web, world.alice)


def _delete_device(world, device):
    services.delete_device(device=device, acting_user=world.alice)


def _unassign_address(world, device):
    IPAssignment.objects.filter(device=device).first().delete()


def _detach_key(world, device):
    device.ssh_keys.remove(device.ssh_keys.first())


def _delete_key(world, device):
    portal_services.delete_ssh_key(
        ssh_key=SSHKey.objects.get(label="cache"), acting_user=world.alice
    )


def _rename_creator(world, device):
    portal_services.update_profile(user=world.alice, acting_user=world.alice, first_name="Alicia")


def _reprice_plan(world, device):
    plan = Plan.objects.get(pk=device.plan_id)
    plan.hourly_price = plan.hourly_price + 1
    plan.save()


def _rename_os(world, device):
    os_ = OperatingSystem.objects.get(pk=device.operating_system_id)
    os_.name = "Renamed Linux"
    os_.save()


@pytest.mark.parametrize(
    "change",
    [
        _rename_device,
        _runner_style_update,
        _deploy_another,
        _delete_device,
        _unassign_address,
        _detach_key,
        _delete_key,
        _rename_creator,
        _reprice_plan,
        _rename_os,
    ],
)
def test_every_change_it_shows_is_served_at_once(listing, world, deploy, change):
    portal_services.create_ssh_key(
        acting_user=world.alice, label="cache", key=factories.new_ssh_public_key()
    )
    device = deploy(world.web, world.alice)
    assert device.ssh_keys.exists()
    listing()
    before = listing()
    kwargs = {"deploy": deploy} if change is _deploy_another else {}
    change(world, device, **kwargs)
    after = listing()
    assert after != before
    assert after == listing.fresh()


def test_the_root_password_leaves_when_it_expires(listing, world, deploy):
    device = deploy(world.web, world.alice)
    assert device.readable_root_password
    listing()
    assert device.readable_root_password.encode() in listing()
    with time_machine.travel(device.root_password_expires_at + dt.timedelta(seconds=1)):
        assert device.readable_root_password is None
        assert device.root_password.encode() not in listing()


def test_a_stored_list_is_never_served_to_a_caller_who_cannot_see_it(api, listing, world, deploy):
    deploy(world.web, world.alice)
    listing()
    listing()
    outsider = api(world.tokens["charlie"])
    assert outsider.get(listing.url).status_code == 404
    ops_only = factories.make_token(world.alice, project=world.ops)
    assert api(ops_only).get(listing.url).status_code == 404
    assert api(factories.tampered(world.tokens["alice"])).get(listing.url).status_code == 401
    key = ApiKey.objects.get(lookup=tokens.split_lookup(world.tokens["alice"]))
    portal_services.delete_api_key(key=key, acting_user=world.alice)
    assert api(world.tokens["alice"]).get(listing.url).status_code == 401


def test_verifying_mode_catches_a_write_that_retires_nothing(listing, world, deploy, api_cache):
    device = deploy(world.web, world.alice)
    listing()
    listing()
    with connection.cursor() as cursor:  # behind the ORM's back: no signal, no bump
        table = connection.ops.quote_name(Device._meta.db_table)
        cursor.execute(f"UPDATE {table} SET hostname = 'sneaky' WHERE id = %s", [device.pk])  # noqa: S608
    assert b"sneaky" not in listing()  # what verifying mode exists to catch
    api_cache.METAL_API_CACHE_VERIFY = True
    with pytest.raises(generations.StaleCache):
        listing()


def test_a_per_process_cache_is_refused(settings):
    settings.METAL_API_CACHE = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [e.id for e in check_list_cache(None)] == ["ironyard.E003"]
    settings.METAL_API_CACHE = False
    assert check_list_cache(None) == []
