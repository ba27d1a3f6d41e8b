"""packet-python as it was shipped: root paths (`/projects`, `/devices/{id}`, and `//capacity`
for the calls written with a leading slash) on the API's own host name, as api.packet.net
served them. Here "localhost" is METAL_API_HOST and 127.0.0.1 the name for pages; both reach
the same HTTPS live server (tests/tls_server.py)."""

import packet
import pytest
import requests

from provisioning.models import Operation
from tests import factories

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_packet_python_at_the_root_of_the_api_host(
    settings, tls_live_server, world, catalogue, deploy
):
    settings.METAL_API_HOST = "localhost"
    token = world.tokens["alice"]
    manager = packet.Manager(auth_token=token)
    manager.end_point = f"localhost:{tls_live_server.port}"  # no /metal/v1: root paths

    assert "c3.small.x86" in {p.slug for p in manager.list_plans()}
    assert "sv" in {m.code for m in manager.list_metros()}
    assert "ubuntu_24_04" in {o.slug for o in manager.list_operating_systems()}
    assert manager.validate_metro_capacity([("sv", "c3.small.x86", 1)]) is True  # //capacity

    project = manager.create_project("rooted")
    assert project.name == "rooted" and manager.list_projects()
    assert manager.meta["total"] >= 1
    project.name = "rooted-2"
    project.update()  # PATCH projects/{id}
    assert manager.get_project(project.id).name == "rooted-2"
    key = manager.create_project_ssh_key(project.id, "ci", factories.new_ssh_public_key())
    assert key.label == "ci"

    device = manager.create_device(
        project_id=project.id,
        hostname="rooted-1",
        plan="c3.small.x86",
        metro="sv",
        operating_system="ubuntu_24_04",
    )
    assert device.state == "queued" and device.operating_system.slug == "ubuntu_24_04"
    assert [d.id for d in manager.list_all_devices(project.id)] == [device.id]
    assert manager.meta["next"] is None
    device.hostname = "rooted-one"
    device.update()  # PATCH devices/{id}, every field, nulls included
    assert manager.get_device(device.id).hostname == "rooted-one"

    active = deploy(world.web, world.alice)
    manager.get_device(str(active.uuid)).power_off()  # POST devices/{id}/actions
    assert active.operations.order_by("-pk").first().kind == Operation.Kind.POWER_OFF

    foreign = factories.make_project(factories.make_org(world.charlie, "Charlie Co"))
    with pytest.raises(packet.baseapi.ResponseError, match="404"):
        manager.list_devices(str(foreign.uuid))

    # The same paths under any other name are the pages', not the API's.
    page = requests.get(
        f"{tls_live_server.url}/projects", headers={"X-Auth-Token": token}, timeout=10
    )
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
