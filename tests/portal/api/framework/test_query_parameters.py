"""Metal's dialect: a write's parameters come from the query string as well as the JSON body
(Metal's Rails API merged them), the body winning, and the query string's own parameters
(include, page, …) never become fields of what is written."""

import pytest
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from portal.api.metal import MetalView
from portal.models import Project
from provisioning.models import Device, Operation
from provisioning.services import create_devices
from tests import factories
from tests.provisioning.factories import make_site, request_for


class _Echo(MetalView):
    """Answers with the parameters the framework parsed, for any caller."""

    permission_classes = []

    def post(self, request):
        return Response(request.data)

    put = patch = post


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_query_parameters_join_the_body_which_wins(db, method):
    query = (
        "type=reboot&hostname=from-query&tags[]=a&tags[]=b&quantity=1&quantity=2"
        "&include=project&exclude=plan&page=2&per_page=5&sort_by=x&sort_direction=asc"
        "&search=s&format=json"
    )
    request = getattr(APIRequestFactory(), method)(
        f"/echo?{query}", {"hostname": "from-body", "locked": True}, format="json"
    )
    assert _Echo.as_view()(request).data == {
        "type": "reboot",
        "hostname": "from-body",
        "tags": ["a", "b"],  # Rails' name[] is a list
        "quantity": "2",  # a plain name repeated: its last value, as Rails reads it
        "locked": True,
    }


def test_query_parameters_are_the_parameters_of_a_write_with_no_body(db):
    request = APIRequestFactory().post("/echo?type=reboot")
    assert _Echo.as_view()(request).data == {"type": "reboot"}


def test_a_body_that_is_no_object_is_left_as_sent(db):
    request = APIRequestFactory().post("/echo?type=reboot", [1, 2], format="json")
    assert _Echo.as_view()(request).data == [1, 2]


@pytest.fixture
def device(alice, web):
    """An active device whose provisioning finished, so actions can start."""
    [device] = create_devices(project=web, acting_user=alice, request=request_for(*make_site()))
    Operation.objects.filter(device=device).update(
        state=Operation.State.SUCCEEDED, finished_at=timezone.now()
    )
    Device.objects.filter(pk=device.pk).update(state=Device.State.ACTIVE)
    return device


def test_an_action_named_only_in_the_query_string(api, alice, device):
    # Was a 422, "type: This field is required.".
    client = api(factories.make_token(alice))
    response = client.post(f"/metal/v1/devices/{device.uuid}/actions?type=reboot")
    assert response.status_code == 202
    assert device.operations.order_by("-pk").first().kind == Operation.Kind.REBOOT


def test_the_body_wins_over_the_query_string(api, alice, device):
    client = api(factories.make_token(alice))
    url = f"/metal/v1/devices/{device.uuid}/actions?type=power_off"
    assert client.post(url, {"type": "reboot"}, format="json").status_code == 202
    assert device.operations.order_by("-pk").first().kind == Operation.Kind.REBOOT


def test_create_and_update_from_the_query_string(api, alice, acme):
    client = api(factories.make_token(alice))
    created = client.post(f"/metal/v1/organizations/{acme.uuid}/projects?name=q&include=x")
    assert created.status_code == 201, created.json()
    project = created.json()
    assert project["name"] == "q"
    renamed = client.put(f"/metal/v1/projects/{project['id']}?name=q2")
    assert renamed.status_code == 200 and renamed.json()["name"] == "q2"
    patched = client.patch(f"/metal/v1/projects/{project['id']}?name=q3")
    assert patched.status_code == 200 and patched.json()["name"] == "q3"
    assert Project.objects.get(uuid=project["id"]).name == "q3"


def test_userdata_validation_reads_the_body_over_the_query_string(api, alice):
    # The spec passes `userdata` in the query string; given both, the body is what is checked.
    client = api(factories.make_token(alice))
    url = "/metal/v1/userdata/validate?userdata=echo%20hi"  # no #! line: not user data
    assert client.post(url).status_code == 422
    assert client.post(url, {"userdata": "#!/bin/sh\necho hi\n"}, format="json").status_code == 204
