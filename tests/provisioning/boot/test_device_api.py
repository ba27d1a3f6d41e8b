"""GET /metal/v1/devices/{id}/metadata and /userdata for the device's owners."""

import json

import pytest
from equinix.services.metalv1.models import Metadata, Userdata
from rest_framework.test import APIClient

from inventory.models import Machine
from provisioning.boot.metadata import build_metadata
from tests import factories

from .conftest import activate


def api(token=None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_X_AUTH_TOKEN=token)
    return client


@pytest.fixture
def device(deploy):
    return activate(deploy("web-01", userdata="#!/bin/sh\necho hi\n", tags=["prod"]))


def test_owner_reads_the_metadata_and_the_sdk_parses_it(device, alice, web_key):
    response = api(factories.make_token(alice)).get(f"/metal/v1/devices/{device.uuid}/metadata")
    assert response.status_code == 200
    metadata = Metadata.from_json(response.content.decode())
    assert str(metadata.id) == str(device.uuid)
    assert metadata.hostname == "web-01"
    assert metadata.plan == "c3.small.x86"
    assert metadata.metro == "sv" and metadata.facility == "sv1"
    assert metadata.state == "active"
    assert metadata.tags == ["prod"]
    assert metadata.ssh_keys == [web_key.key]
    mac = device.machine.nics.first().mac_address
    assert metadata.network.network.bonding.mac == mac
    assert metadata.network.network.bonding.mode == 4
    # The schema's addresses are strings: each is one of the service's addresses with its cidr.
    service = build_metadata(device)["network"]["addresses"]
    assert metadata.network.addresses == [f"{a['address']}/{a['cidr']}" for a in service]
    assert len(metadata.network.addresses) == 3


def test_the_api_and_the_metadata_service_describe_the_device_alike(
    client, device, alice, settings
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "10.0.2.100"]
    Machine.objects.filter(pk=device.machine_id).update(provisioning_address="127.0.0.51")
    served = client.get("/metadata", REMOTE_ADDR="127.0.0.51", HTTP_HOST="10.0.2.100").json()
    api_body = api(factories.make_token(alice)).get(f"/metal/v1/devices/{device.uuid}/metadata")
    api_body = api_body.json()
    # The server is told the portal's URLs as it reached the portal (its own network's view);
    # the API's caller, as SITE_URL says.
    assert served.pop("phone_home_url") == "http://10.0.2.100/phone-home"
    assert api_body.pop("phone_home_url") == "http://127.0.0.1:8000/phone-home"
    for body in (served, api_body):
        body.pop("network")
        body.pop("user_state_url")
    assert served == api_body


def test_owner_reads_the_userdata(device, carol):
    response = api(factories.make_token(carol)).get(f"/metal/v1/devices/{device.uuid}/userdata")
    assert response.status_code == 200
    userdata = Userdata.from_json(response.content.decode())
    assert userdata.userdata == "#!/bin/sh\necho hi\n"


@pytest.mark.parametrize("path", ["metadata", "userdata"])
def test_outsiders_get_404_and_anonymous_401(device, charlie, path):
    url = f"/metal/v1/devices/{device.uuid}/{path}"
    outsider = api(factories.make_token(charlie)).get(url)
    assert outsider.status_code == 404
    assert json.loads(outsider.content)["errors"]
    assert api().get(url).status_code == 401


@pytest.mark.parametrize("path", ["metadata", "userdata"])
def test_a_project_token_reaches_only_its_project(device, alice, web, ops, path):
    url = f"/metal/v1/devices/{device.uuid}/{path}"
    assert api(factories.make_token(alice, project=web)).get(url).status_code == 200
    assert api(factories.make_token(alice, project=ops)).get(url).status_code == 404


def test_a_deleted_device_is_404(device, alice):
    device.state = "deleted"
    device.save()
    response = api(factories.make_token(alice)).get(f"/metal/v1/devices/{device.uuid}/metadata")
    assert response.status_code == 404
