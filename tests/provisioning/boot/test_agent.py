"""The installer agent API under /boot/agent/v1: bearer token per boot, instructions per
operation kind, progress, done and fail."""

import json

import pytest

from inventory.models import Machine
from portal import tokens
from portal.models import Event
from provisioning import ledger, services
from provisioning.boot import metadata
from provisioning.models import Device, Operation

from .conftest import activate, open_operation, stage, step_state


@pytest.fixture
def agent(client):
    """agent(token[, address]).get/post(path, body) against /boot/agent/v1/<path>, from
    `address`: by default the address of the machine the token was issued for, as the
    installer that got it calls from there."""

    class Agent:
        def __init__(self, token, address=None):
            self.auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
            self.auth["REMOTE_ADDR"] = address or machine_address(token)

        def get(self, path):
            return client.get(f"/boot/agent/v1/{path}", **self.auth)

        def post(self, path, body=None, raw=None):
            data = raw if raw is not None else json.dumps(body or {})
            return client.post(
                f"/boot/agent/v1/{path}", data, content_type="application/json", **self.auth
            )

    return Agent


def machine_address(token: str | None) -> str:
    """The address this token was handed to (an address nobody was given if none)."""
    found = Operation.objects.filter(agent_token_digest=tokens.digest(token or "")).first()
    return found.agent_address if found else "127.0.0.1"


def booted(operation: Operation) -> str:
    """The token the iPXE script would carry for this operation (served to its machine)."""
    return ledger.issue_agent_token(operation, operation.machine.provisioning_address)


@pytest.fixture
def provisioning(deploy):
    device = deploy(
        userdata="#cloud-config\nruncmd: [touch /ok]",
        inline_ssh_keys=["ssh-ed25519 AAAAinline me@laptop"],
    )
    operation = open_operation(device)
    stage(operation, "await_agent")
    return device, operation


def test_provision_instructions(agent, provisioning, rack, web_key, settings):
    settings.INSTALL_IMAGE_SIZE_BYTES = 123456
    device, operation = provisioning
    # An image the portal serves itself is fetched from the portal as the machine reaches it.
    rack.os.image_url = "/boot/files/images/debian-12-0123/debian-12.tar.zst"
    rack.os.image_format = "tar+zst"
    rack.os.save()
    rack.plan.root_device = {"min_size_gb": 200, "model": "Micron 5300"}
    rack.plan.save()
    response = agent(booted(operation)).get("instructions")
    assert response.status_code == 200
    addresses = [f"{a.address}/{a.subnet.prefixlen}" for a in device.ip_assignments.order_by("id")]
    assert len(addresses) == 3
    assert response.json() == {
        "operation": {"id": str(operation.uuid), "type": "provision"},
        "steps": [
            {"name": "wipe_disks"},
            {
                "name": "write_image",
                "image_url": "http://testserver/boot/files/images/debian-12-0123/debian-12.tar.zst",
                "checksum": rack.os.image_checksum,
                "format": "tar+zst",
                "root_device": {"min_size_gb": 200, "model": "Micron 5300"},
                "size_bytes": 123456,
            },
            {
                "name": "configure",
                "hostname": "web-01",
                "ssh_keys": [web_key.key, "ssh-ed25519 AAAAinline me@laptop"],
                # The installed system's network: DHCP on the provisioning NIC, and the
                # device's addresses from IPAM (the user data comes from the NoCloud service).
                "network": {
                    "version": 1,
                    "config": [
                        {
                            "type": "physical",
                            "name": "uplink0",
                            "mac_address": device.machine.nics.order_by("name")[0].mac_address,
                            "subnets": [
                                {"type": "dhcp4"},
                                *(
                                    {"type": "static6" if ":" in a else "static", "address": a}
                                    for a in addresses
                                ),
                            ],
                        }
                    ],
                },
            },
        ],
        "then": "reboot",  # into the installed system, once the portal has the agent's done
    }


@pytest.mark.parametrize(("preserve", "wipes"), [(True, False), (False, True)])
def test_reinstall_keeps_the_disks_when_asked(
    agent, deploy, alice, django_capture_on_commit_callbacks, preserve, wipes
):
    device = activate(deploy())
    with django_capture_on_commit_callbacks(execute=False):
        operation = services.perform_action(
            device=device, acting_user=alice, action="reinstall", preserve_data=preserve
        )
    body = agent(booted(operation)).get("instructions").json()
    assert body["operation"]["type"] == "reinstall"
    names = [step["name"] for step in body["steps"]]
    assert names == (["wipe_disks"] if wipes else []) + ["write_image", "configure"]
    assert body["then"] == "reboot"


def test_deprovision_and_rescue_instructions(
    agent, deploy, alice, django_capture_on_commit_callbacks
):
    rescued = activate(deploy("rescued"))
    deleted = activate(deploy("deleted"))
    with django_capture_on_commit_callbacks(execute=False):
        rescue = services.perform_action(device=rescued, acting_user=alice, action="rescue")
        deprovision = services.delete_device(device=deleted, acting_user=alice)
    # The rescue system stays up; a wiped machine waits for the portal to power it off.
    assert agent(booted(rescue)).get("instructions").json() == {
        "operation": {"id": str(rescue.uuid), "type": "rescue"},
        "steps": [{"name": "rescue", "ssh_keys": metadata.ssh_key_lines(rescued)}],
    }
    body = agent(booted(deprovision)).get("instructions").json()
    assert body == {
        "operation": {"id": str(deprovision.uuid), "type": "deprovision"},
        "steps": [{"name": "wipe_disks"}],
    }
    # A rescue is not an install: what its system reports leaves the device's bar as it was.
    Device.objects.filter(pk=rescued.pk).update(provisioning_percentage=100, current_step="")
    report = {"step": "rescue", "percent": 50, "message": "Rescue system up"}
    assert agent(booted(rescue)).post("progress", report).status_code == 204
    rescued.refresh_from_db()
    assert (rescued.provisioning_percentage, rescued.current_step) == (100, "")


def test_progress_moves_the_bar_and_each_step_lands_once_on_the_timeline(agent, provisioning):
    device, operation = provisioning
    token = booted(operation)
    said = {
        0: "Writing the image",
        50: "Writing the image: 70 of 140 MiB, 9 MiB/s",
        100: "Image on /dev/vda (4.3 GB, the smallest disk): 140 MiB in 15 s, 9.3 MiB/s",
    }
    seen = []
    for percent, message in said.items():
        response = agent(token).post(
            "progress", {"step": "write_image", "percent": percent, "message": message}
        )
        assert response.status_code == 204
        device.refresh_from_db()
        seen.append((device.provisioning_percentage, device.current_step))
    assert [step for _, step in seen] == list(said.values())
    assert seen[0][0] < seen[1][0] < seen[2][0]
    events = Event.objects.filter(type="provisioning.write_image", project=device.project)
    # One entry, at the step's end, saying what it did; the other reports only move the bar.
    assert [e.body for e in events] == [said[100]]
    assert events.first().relations.filter(object_id=device.uuid).exists()


def test_the_bar_only_moves_forward_from_one_installer_step_to_the_next(agent, provisioning):
    device, operation = provisioning
    token = booted(operation)
    bars = []
    for step, percent in [
        ("wipe_disks", 0),
        ("wipe_disks", 100),
        ("write_image", 0),
        ("write_image", 50),
        ("write_image", 10),  # a report arriving late
        ("write_image", 100),
        ("configure", 0),
        ("configure", 100),
    ]:
        assert agent(token).post("progress", {"step": step, "percent": percent}).status_code == 204
        device.refresh_from_db()
        bars.append(device.provisioning_percentage)
    assert bars == sorted(bars), bars
    assert bars[3] - bars[2] > bars[1] - bars[0]  # writing the image is most of the work
    assert bars[-1] < 100  # done is the workflow's to say


def test_the_claim_of_a_step_the_installer_has_overtaken_leaves_the_bar(agent, provisioning):
    """The installer can report before the runner's claim of the step that waits for it is
    shown: that late claim leaves the bar and the step as the installer put them."""
    device, operation = provisioning
    token = booted(operation)
    message = "Writing the image: 70 of 140 MiB"
    report = {"step": "write_image", "percent": 50, "message": message}
    assert agent(token).post("progress", report).status_code == 204
    device.refresh_from_db()
    ahead = device.provisioning_percentage
    steps = list(operation.steps.order_by("index").values_list("name", flat=True))
    ledger.steps.show_step(operation, steps.index("await_agent"))
    device.refresh_from_db()
    assert (device.provisioning_percentage, device.current_step) == (ahead, message)
    ledger.steps.show_step(operation, steps.index("await_phone_home"))
    device.refresh_from_db()
    assert device.provisioning_percentage > ahead
    assert device.current_step == "Booting the operating system"
    # A new operation's first step starts the bar afresh.
    ledger.steps.show_step(operation, 0)
    device.refresh_from_db()
    assert (device.provisioning_percentage, device.current_step) == (0, "Setting network boot")


@pytest.mark.parametrize(
    "body",
    [
        {"percent": 5, "message": "x"},
        {"step": "write_image", "percent": 101},
        {"step": "write_image", "percent": "5"},
        {"step": "write_image", "percent": True},
        {"step": "write_image", "percent": 5, "message": 7},
    ],
)
def test_bad_progress_reports_are_refused(agent, provisioning, body):
    device, operation = provisioning
    response = agent(booted(operation)).post("progress", body)
    assert response.status_code == 422
    assert response.json()["errors"]
    device.refresh_from_db()
    assert device.provisioning_percentage is None


def test_a_body_that_is_not_json_is_refused(agent, provisioning):
    _, operation = provisioning
    response = agent(booted(operation)).post("progress", raw="step=write_image")
    assert response.status_code == 422


def test_done_completes_the_wait_once(agent, provisioning):
    _, operation = provisioning
    token = booted(operation)
    assert agent(token).post("done").status_code == 204
    assert step_state(operation, "await_agent") == "done"
    # The operation is still running (the runner goes on); a second "done" has nothing to end.
    again = agent(token).post("done")
    assert again.status_code == 409
    assert again.json()["errors"]


def test_done_before_the_runner_waits_still_counts(agent, deploy):
    # A fast machine finishes its agent before the worker marks the power cycle done.
    operation = open_operation(deploy())  # still at its first step
    response = agent(booted(operation)).post("done")
    assert response.status_code == 204
    assert step_state(operation, "await_agent") == "done"
    assert agent(booted(operation)).post("done").status_code == 409  # only once


def test_fail_ends_the_operation_and_parks_the_machine(agent, deploy, rack):
    device = deploy()
    operation = open_operation(device)
    stage(operation, "await_agent")
    machine = device.machine
    token = booted(operation)
    response = agent(token).post("fail", {"step": "write_image", "message": "checksum mismatch"})
    assert response.status_code == 204
    operation.refresh_from_db()
    machine.refresh_from_db()
    assert operation.state == "failed"
    assert operation.error == "write_image: checksum mismatch"
    assert machine.state == Machine.State.MAINTENANCE
    assert "checksum mismatch" in machine.fault_reason
    # The operation is over: its token stopped working with it.
    assert agent(token, machine.provisioning_address).get("instructions").status_code == 401


def test_a_failure_that_is_not_the_machines_fails_the_device_alone(agent, deploy, rack):
    device = deploy()
    operation = open_operation(device)
    stage(operation, "await_agent")
    machine = device.machine
    response = agent(booted(operation)).post(
        "fail",
        {"step": "write_image", "message": "the SHA-256 is 12ab…", "machine_fault": False},
    )
    assert response.status_code == 204
    operation.refresh_from_db()
    machine.refresh_from_db()
    assert operation.state == "failed"
    assert operation.error == "write_image: the SHA-256 is 12ab…"
    assert machine.state != Machine.State.MAINTENANCE
    assert not machine.fault_reason


def test_machine_fault_must_be_true_or_false(agent, provisioning):
    _, operation = provisioning
    body = {"step": "write_image", "message": "x", "machine_fault": "no"}
    response = agent(booted(operation)).post("fail", body)
    assert response.status_code == 422
    operation.refresh_from_db()
    assert operation.state == "running"


def test_fail_needs_a_step(agent, provisioning):
    _, operation = provisioning
    assert agent(booted(operation)).post("fail", {"message": "x"}).status_code == 422
    operation.refresh_from_db()
    assert operation.state == "running"


@pytest.mark.parametrize("header", [None, "Bearer ", "Basic abc", "Bearer not-a-token"])
def test_without_a_valid_token_the_agent_api_is_401(client, provisioning, header):
    _, operation = provisioning
    booted(operation)
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    for method, path in [
        ("get", "instructions"),
        ("post", "progress"),
        ("post", "done"),
        ("post", "fail"),
    ]:
        response = getattr(client, method)(f"/boot/agent/v1/{path}", **extra)
        assert response.status_code == 401, path
        assert response.json()["errors"]
    assert step_state(operation, "await_agent") == "waiting"


def test_an_operation_that_ended_with_its_token_kept_is_gone(agent, provisioning):
    # Operations ended by earlier versions kept their tokens (ends now clear them).
    device, operation = provisioning
    token = booted(operation)
    Operation.objects.filter(pk=operation.pk).update(state=Operation.State.SUCCEEDED)
    for response in (
        agent(token).get("instructions"),
        agent(token).post("progress", {"step": "x", "percent": 1, "message": ""}),
        agent(token).post("done"),
    ):
        assert response.status_code == 410
    assert Device.objects.get(pk=device.pk).provisioning_percentage is None


def test_agent_posts_need_no_csrf_token(provisioning, settings):
    from django.test import Client

    _, operation = provisioning
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/boot/agent/v1/done",
        "{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {booted(operation)}",
        REMOTE_ADDR=operation.machine.provisioning_address,
    )
    assert response.status_code == 204


def test_one_call_carries_a_steps_end_and_the_next_ones_start(agent, provisioning):
    device, operation = provisioning
    response = agent(booted(operation)).post(
        "progress",
        {
            "reports": [
                {"step": "wipe_disks", "percent": 100, "message": "wiped"},
                {"step": "write_image", "percent": 0, "message": "Writing image"},
            ]
        },
    )
    assert response.status_code == 204
    device.refresh_from_db()
    assert device.current_step == "Writing image"  # the latest report holds the bar
    ends = Event.objects.filter(project=device.project, type__startswith="provisioning.")
    assert list(ends.values_list("type", "body")) == [("provisioning.wipe_disks", "wiped")]


def test_a_bad_report_in_a_list_refuses_the_whole_call(agent, provisioning):
    _, operation = provisioning
    token = booted(operation)
    bad = {"reports": [{"step": "write_image", "percent": 0}, {"step": "x", "percent": 101}]}
    response = agent(token).post("progress", bad)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        "reports[1].percent: an integer from 0 to 100 is required."
    ]
    assert agent(token).post("done", bad).status_code == 422
    assert agent(token).post("progress", {"reports": "write_image"}).status_code == 422
    assert step_state(operation, "await_agent") == "waiting"
    assert not Event.objects.filter(type="provisioning.write_image").exists()


def test_done_records_the_last_reports_before_the_installer_finished(agent, provisioning):
    device, operation = provisioning
    response = agent(booted(operation)).post(
        "done", {"reports": [{"step": "configure", "percent": 100, "message": "configured"}]}
    )
    assert response.status_code == 204
    assert step_state(operation, "await_agent") == "done"
    timeline = Event.objects.filter(project=device.project).order_by("created_at", "pk")
    assert list(timeline.values_list("type", flat=True))[-2:] == [
        "provisioning.configure",
        "provisioning.agent_done",
    ]


def test_an_older_agent_without_reports_on_done_still_finishes(agent, provisioning):
    _, operation = provisioning
    assert agent(booted(operation)).post("done", {}).status_code == 204
    assert step_state(operation, "await_agent") == "done"


def test_fail_records_the_reports_that_came_with_it(agent, deploy):
    device = deploy()
    operation = open_operation(device)
    stage(operation, "await_agent")
    body = {
        "step": "write_image",
        "message": "I/O error",
        "reports": [
            {"step": "wipe_disks", "percent": 100, "message": "wiped"},
            {"step": "write_image", "percent": 0, "message": "Writing image"},
        ],
    }
    assert agent(booted(operation)).post("fail", body).status_code == 204
    operation.refresh_from_db()
    assert (operation.state, operation.error) == ("failed", "write_image: I/O error")
    wiped = Event.objects.get(type="provisioning.wipe_disks", project=device.project)
    assert wiped.body == "wiped"


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_body_nested_too_deep_is_a_422(agent, provisioning, depth):
    _, operation = provisioning
    body = '{"reports": ' + "[" * depth + "]" * depth + "}"
    response = agent(booted(operation)).post("progress", raw=body)
    assert response.status_code == 422
    assert "levels deep" in response.json()["errors"][0]
