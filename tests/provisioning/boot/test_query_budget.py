"""Every booting server calls the boot path about a dozen times, so what each call costs in
queries is pinned here: a change that makes provisioning heavier shows up as a failing budget
(counts include the savepoints the test's own transaction turns atomic blocks into)."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Machine

from .conftest import open_operation, stage
from .test_agent import booted


def queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code in (200, 204), response.content
    return len(captured)


@pytest.fixture
def installing(deploy):
    device = deploy(userdata="#cloud-config\nruncmd: [touch /ok]")
    operation = open_operation(device)
    stage(operation, "await_agent")
    return device, operation


def test_installer_agent_calls(installing, client):
    _, operation = installing
    auth = {
        "HTTP_AUTHORIZATION": f"Bearer {booted(operation)}",
        "REMOTE_ADDR": operation.machine.provisioning_address,
    }

    def post(path, body):
        return client.post(
            f"/boot/agent/v1/{path}", json.dumps(body), content_type="application/json", **auth
        )

    # Each call is a heartbeat too: one UPDATE of the operation's last sign of life. The
    # instructions also read the installed system's network (NICs and addresses) and put the
    # installer's boot on the timeline (an event and its relation).
    assert queries(lambda: client.get("/boot/agent/v1/instructions", **auth)) == 7
    # A step's last report (100 %) is also its timeline event; others only move the bar.
    assert queries(lambda: post("progress", {"step": "write_image", "percent": 0})) == 3
    assert queries(lambda: post("progress", {"step": "write_image", "percent": 50})) == 3
    # One step's end and the next one's start: one call, one bar update, one event.
    ends_and_starts = {
        "reports": [
            {"step": "write_image", "percent": 100},
            {"step": "configure", "percent": 0},
        ]
    }
    assert queries(lambda: post("progress", ends_and_starts)) == 5
    # The last step's end comes with done (its event written with done's, in one batch), whose
    # step update also checks what it waits on; the wait for the first boot starts right there
    # (its step and the bar), not in a worker.
    last = {"reports": [{"step": "configure", "percent": 100}]}
    assert queries(lambda: post("done", last)) == 9


def test_network_boot_and_first_boot_calls(installing, client):
    device, operation = installing
    machine = Machine.objects.get(pk=device.machine_id)
    mac, address = machine.nics.first().mac_address, machine.provisioning_address
    # The machine at the address, its MAC checked against it, then the script and its token.
    assert queries(lambda: client.get(f"/boot/ipxe?mac={mac}", REMOTE_ADDR=address)) == 6
    stage(operation, "await_phone_home")
    assert queries(lambda: client.get("/metadata", REMOTE_ADDR=address)) == 5
    assert queries(lambda: client.get("/userdata", REMOTE_ADDR=address)) == 1
    phone_home = lambda: client.post("/phone-home", "{}", "application/json", REMOTE_ADDR=address)  # noqa: E731
    # The phone-home completes the last step, so it also settles the provision: operation,
    # machine, usage, device and their event. The device comes with its running operation.
    assert queries(phone_home) == 11
