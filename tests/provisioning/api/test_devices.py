"""GET/POST /projects/{id}/devices, GET /organizations/{id}/devices and /devices/{id}: shapes
the SDKs accept, every filter, pagination, include/exclude and who may do what."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Machine
from portal.models import ApiKey
from provisioning.models import Batch, Device, IPAssignment
from tests import factories

pytestmark = pytest.mark.django_db

STATES = {
    "queued",
    "provisioning",
    "deprovisioning",
    "reinstalling",
    "active",
    "inactive",
    "failed",
    "powering_on",
    "powering_off",
    "deleted",
}


def devices_url(project) -> str:
    return f"/metal/v1/projects/{project.uuid}/devices"


def test_a_device_has_the_shape_the_sdks_validate(api, world, deploy):
    device = deploy(world.web, world.alice)
    body = api(world.tokens["alice"]).get(f"/metal/v1/devices/{device.uuid}").json()
    assert body["id"] == str(device.uuid)
    assert body["href"] == f"/metal/v1/devices/{device.uuid}"
    assert body["short_id"] == device.uuid.hex[:8]
    assert body["state"] in STATES and body["state"] == "active"
    assert body["operating_system"]["slug"] == "ubuntu_24_04"  # an object, not a slug
    assert body["plan"]["slug"] == "c3.small.x86"
    assert body["plan"]["pricing"]["hour"] == 0.5  # a number
    assert body["metro"]["code"] == "sv"
    assert body["facility"]["code"] in {"sv15", "sv16"}
    assert body["project"] == {"href": f"/metal/v1/projects/{world.web.uuid}"}
    assert body["project_lite"] == body["project"]
    assert body["created_by"]["id"] == str(world.alice.uuid)
    assert body["created_by"]["short_id"] == world.alice.uuid.hex[:8]
    assert body["provisioning_percentage"] == 100.0
    assert isinstance(body["provisioning_percentage"], float)
    assert body["locked"] is False and body["tags"] == [] and body["customdata"] == {}
    assert body["billing_cycle"] == "hourly"
    assert len(body["root_password"]) == 20
    families = sorted((ip["address_family"], ip["public"]) for ip in body["ip_addresses"])
    assert families == [(4, False), (4, True), (6, True)]
    for ip in body["ip_addresses"]:
        assert ip["assigned_to"] == {"href": body["href"]}
        assert "type" not in ip  # else the SDK's /ips/{id} oneOf matches twice
        assert isinstance(ip["cidr"], int)
        assert ip["parent_block"]["href"].startswith("/metal/v1/ips/")
    assert [k["href"] for k in body["ssh_keys"]]  # the project's and members' keys
    assert all(set(k) == {"href"} for k in body["ssh_keys"])


def test_the_root_password_is_readable_for_a_day_only(api, world, deploy):
    device = deploy(world.web, world.alice)
    client = api(world.tokens["alice"])
    assert "root_password" in client.get(f"/metal/v1/devices/{device.uuid}").json()
    Device.objects.filter(pk=device.pk).update(
        root_password_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert "root_password" not in client.get(f"/metal/v1/devices/{device.uuid}").json()
    listed = client.get(devices_url(world.web)).json()["devices"]
    assert "root_password" not in listed[0]


def test_include_and_exclude(api, world, deploy):
    device = deploy(world.web, world.alice)
    client = api(world.tokens["alice"])
    url = f"/metal/v1/devices/{device.uuid}"
    included = client.get(url, {"include": "project,ssh_keys"}).json()
    assert included["project"]["name"] == "web"
    assert {k["label"] for k in included["ssh_keys"]} >= {"deploy", "laptop"}
    excluded = client.get(url, {"exclude": "plan,operating_system"}).json()
    assert excluded["plan"] == {"href": f"/metal/v1/plans/{device.plan.uuid}"}
    assert set(excluded["operating_system"]) == {"href"}


def test_project_list_pages_with_meta(api, world, deploy):
    for _ in range(3):
        deploy(world.web, world.alice)
    client = api(world.tokens["alice"])
    first = client.get(devices_url(world.web), {"per_page": 2}).json()
    assert len(first["devices"]) == 2
    assert first["meta"]["total"] == 3 and first["meta"]["last_page"] == 2
    assert "page=2" in first["meta"]["next"]["href"]
    second = client.get(devices_url(world.web), {"per_page": 2, "page": 2}).json()
    assert len(second["devices"]) == 1
    assert second["meta"]["next"] is None  # present, null: the SDKs' *_all_pages stop here
    ids = {d["id"] for d in first["devices"] + second["devices"]}
    assert len(ids) == 3


def test_deleted_devices_leave_the_list(api, world, deploy):
    kept, gone = deploy(world.web, world.alice), deploy(world.web, world.alice)
    Device.objects.filter(pk=gone.pk).update(state="deleted")
    body = api(world.tokens["alice"]).get(devices_url(world.web)).json()
    assert [d["id"] for d in body["devices"]] == [str(kept.uuid)]
    missing = api(world.tokens["alice"]).get(f"/metal/v1/devices/{gone.uuid}")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "alpha"}, {"alpha"}),
        ({"search": "the database"}, {"beta"}),
        ({"hostname": "ALPHA"}, {"alpha"}),
        ({"tag": "db"}, {"beta"}),
        ({"tag": "d"}, set()),  # whole tags only
        ({"state": "inactive"}, {"beta"}),
        ({"state": "active,inactive"}, {"alpha", "beta"}),
        ({"plan": "c3.small.x86"}, {"alpha", "beta"}),
        ({"plan": "m3.large.x86"}, set()),
        ({"metro": "sv"}, {"alpha", "beta"}),
        ({"metro": "ny"}, set()),
        ({"facility": "sv15"}, {"alpha"}),
        ({"type": "ondemand"}, {"alpha", "beta"}),
        ({"type": "spot"}, set()),
        ({"reserved": "true"}, set()),
        ({"reserved": "false"}, {"alpha", "beta"}),
        ({"categories": "storage"}, set()),
    ],
)
def test_filters(api, world, deploy, catalogue, params, expected):
    alpha = deploy(world.web, world.alice, hostnames=["alpha"], facilities=[catalogue.sv15])
    beta = deploy(
        world.web,
        world.alice,
        hostnames=["beta"],
        tags=["db", "prod"],
        description="The database",
        facilities=[catalogue.sv16],
    )
    Device.objects.filter(pk=beta.pk).update(state="inactive")
    assert alpha.facility.code == "sv15"
    body = api(world.tokens["alice"]).get(devices_url(world.web), params).json()
    assert {d["hostname"] for d in body["devices"]} == expected


def test_filter_by_mac_address_and_by_plan_category(api, world, deploy, catalogue):
    device = deploy(world.web, world.alice)
    mac = Machine.objects.get(device=device).nics.get().mac_address
    client = api(world.tokens["alice"])
    found = client.get(devices_url(world.web), {"mac_address": mac.upper()}).json()
    assert [d["id"] for d in found["devices"]] == [str(device.uuid)]
    assert (
        client.get(devices_url(world.web), {"mac_address": "00:00:00:00:00:01"}).json()["devices"]
        == []
    )
    catalogue.small.categories = ["compute"]
    catalogue.small.save()
    found = client.get(devices_url(world.web), {"categories[]": "compute"}).json()
    assert len(found["devices"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [({"state": "running"}, "state"), ({"type": "cheap"}, "type"), ({"reserved": "x"}, "reserved")],
)
def test_bad_filters_are_422(api, world, params, field):
    response = api(world.tokens["alice"]).get(devices_url(world.web), params)
    assert response.status_code == 422
    assert response.json()["errors"][0].startswith(f"{field}:")


def test_organization_devices_cover_its_projects(api, world, deploy):
    on_web, on_ops = deploy(world.web, world.alice), deploy(world.ops, world.alice)
    url = f"/metal/v1/organizations/{world.acme.uuid}/devices"
    body = api(world.tokens["alice"]).get(url).json()
    assert {d["id"] for d in body["devices"]} == {str(on_web.uuid), str(on_ops.uuid)}
    assert body["meta"]["total"] == 2
    # A collaborator sees only the projects assigned to them.
    body = api(world.tokens["carol"]).get(url).json()
    assert {d["id"] for d in body["devices"]} == {str(on_web.uuid)}
    # Billing members reach no project; an outsider does not see the organization at all.
    assert api(world.tokens["bill"]).get(url).json()["devices"] == []
    assert api(world.tokens["charlie"]).get(url).status_code == 404
    project_key = factories.make_token(world.alice, project=world.web)
    assert api(project_key).get(url).status_code == 403


def test_who_sees_devices(api, world, deploy):
    device = deploy(world.web, world.alice)
    url = f"/metal/v1/devices/{device.uuid}"
    for name in ("alice", "adam", "carol", "lena"):
        assert api(world.tokens[name]).get(url).status_code == 200, name
    for name in ("bill", "charlie"):
        assert api(world.tokens[name]).get(url).status_code == 404, name
        assert api(world.tokens[name]).get(devices_url(world.web)).status_code == 404, name
    assert api().get(url).status_code == 401
    assert api("iy_not_a_token").get(url).status_code == 401
    # A project key reaches its own project's devices only.
    web_key = factories.make_token(world.alice, project=world.web)
    ops_key = factories.make_token(world.alice, project=world.ops)
    assert api(web_key).get(url).status_code == 200
    assert api(ops_key).get(url).status_code == 404
    assert api(ops_key).get(devices_url(world.web)).status_code == 404


def test_unused_fixture_rows_stay_out(world):
    # The world fixture's keys must not count as devices anywhere.
    assert not Device.objects.exists()
    assert not Batch.objects.exists()
    assert not IPAssignment.objects.exists()
    assert ApiKey.objects.filter(user=world.alice).exists()
