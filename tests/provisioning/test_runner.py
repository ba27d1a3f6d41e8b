"""The step runner against sushy-tools' Redfish emulator: a third-party BMC, real protocol.

The machine's in-band side is played by the test (advance_waiting is what the boot endpoints
call when the agent finishes and when the server phones home); everything else is real.
"""

import re

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.bmc import BootDevice, BootOverride, PowerState
from inventory.models import Machine
from provisioning import actions, ledger, reconciler, runner, services
from provisioning.models import Device, Operation, Step
from tests import broker
from tests.inventory import factories as inv
from tests.inventory.conftest import NODE1, NODE2, PASSWORD, USERNAME
from tests.provisioning.factories import make_site, request_for


def point_at(machine: Machine, url: str, system: dict) -> Machine:
    machine.bmc_address, machine.bmc_system_id = url, system["uuid"]
    machine.bmc_username, machine.bmc_password = USERNAME, PASSWORD
    machine.save()
    return machine


@pytest.fixture
def deployed(web, alice, start_redfish, django_capture_on_commit_callbacks):
    """One device whose machine is NODE1 behind a sushy-tools emulator; nothing run yet."""
    url = start_redfish(systems=[NODE1, NODE2])
    site = make_site(machines=1)
    point_at(Machine.objects.get(), url, NODE1)
    with django_capture_on_commit_callbacks():
        [device] = services.create_devices(
            project=web, acting_user=alice, request=request_for(*site)
        )
    return device, url


def bmc_of(machine):
    from inventory import bmc_access
    from inventory.bmc import driver_for

    return driver_for(bmc_access.endpoint(machine))


def steps(operation):
    return list(operation.steps.values_list("name", "state"))


def test_provision_walks_its_steps_and_waits_without_holding_a_worker(deployed):
    device, _ = deployed
    operation = device.operations.get()
    runner.run(operation.pk)
    device.refresh_from_db()
    assert device.state == "provisioning"
    assert steps(operation)[:3] == [
        ("set_boot_pxe", "done"),
        ("power_cycle", "done"),
        ("await_agent", "waiting"),
    ]
    with bmc_of(device.machine) as bmc:
        # Powered on; the one-time PXE override was consumed by that boot.
        assert bmc.power_state() == PowerState.ON
    # The installer's end puts the next wait in place at once, with no worker pass: the
    # installer reboots the machine itself, and its one-time network boot is used up.
    assert ledger.advance_waiting(operation, "await_agent")
    assert not ledger.advance_waiting(operation, "await_agent")  # already moved on
    assert steps(operation)[3:] == [("await_phone_home", "waiting")]
    device.refresh_from_db()
    assert (device.current_step, device.provisioning_percentage) == (
        "Booting the operating system",
        75,
    )
    with bmc_of(device.machine) as bmc:
        assert bmc.boot_device() == BootOverride(BootDevice.DISK, persistent=True)
    assert ledger.advance_waiting(operation, "await_phone_home")
    device.refresh_from_db()
    assert device.state == "active"
    device.refresh_from_db()
    operation.refresh_from_db()
    assert (device.state, device.provisioning_percentage, operation.state) == (
        "active",
        100,
        "succeeded",
    )
    assert Machine.objects.get(pk=device.machine_id).state == "in_use"


def test_a_redelivered_message_does_nothing_twice(deployed):
    device, _ = deployed
    operation = device.operations.get()
    runner.run(operation.pk)
    generations = list(operation.steps.values_list("generation", flat=True))
    runner.run(operation.pk)  # the same doorbell again while waiting on the agent
    assert list(operation.steps.values_list("generation", flat=True)) == generations


def test_a_stale_worker_result_is_fenced_off(deployed):
    device, _ = deployed
    operation = device.operations.get()
    step = operation.steps.get(index=0)
    # Worker A claims the step (generation 1) and is presumed dead when its lease expires.
    Step.objects.filter(pk=step.pk).update(
        state="running", generation=1, lease_expires_at="2000-01-01T00:00:00Z"
    )
    reconciler.expire_leases(now=timezone.now())
    runner.run(operation.pk)  # worker B re-claims (generation 2) and completes it
    step.refresh_from_db()
    assert (step.state, step.generation) == ("done", 2)
    # Worker A wakes up and finishes its (generation 1) run of the step: fenced off.
    step.generation = 1
    assert ledger.complete(operation, step) is False
    step.refresh_from_db()
    assert (step.state, step.generation) == ("done", 2)


def test_step_updates_compare_and_set_on_the_steps_own_row(deployed):
    """With a join (operation__state=...) Django's UPDATE becomes `id IN (subquery)`, whose
    generation and state conditions PostgreSQL does not check again against a row another
    transaction changed meanwhile: two workers could both claim one step."""
    device, _ = deployed
    operation = device.operations.get()
    with CaptureQueriesContext(connection) as captured:
        runner.run(operation.pk)
        assert ledger.advance_waiting(operation, "await_agent")
    # (Prepared statements are logged as "QUERY = '…' - PARAMS = …".)
    updates = [q["sql"] for q in captured if re.search(r'UPDATE "?provisioning_step"? ', q["sql"])]
    assert len(updates) >= 4
    assert not [sql for sql in updates if re.search(r'"?id"? IN \(\s*SELECT', sql)]


def test_a_stale_worker_claims_nothing_with_its_late_result(deployed):
    """A worker whose step was taken over cannot record it done, so it stops there and never
    takes the next one; nor can it claim a step as it read it before."""
    device, _ = deployed
    operation = device.operations.get()
    first = operation.steps.get(index=0)
    # Worker B took the first step over (generation 2) and is still running it.
    Step.objects.filter(pk=first.pk).update(state="running", generation=2)
    first.state, first.generation = "running", 1
    assert ledger.complete(operation, first) is False
    first.state, first.generation = "pending", 0  # worker A's picture from before B's claim
    assert ledger.claim(operation, first, timezone.now()) is False
    assert list(operation.steps.filter(index__in=[0, 1]).values_list("state", "generation")) == [
        ("running", 2),
        ("pending", 0),
    ]


@override_settings(STEP_MAX_ATTEMPTS=2, STEP_RETRY_BASE_SECONDS=0)
def test_a_dead_bmc_parks_the_machine_and_the_device_moves_to_other_hardware(
    web, alice, start_redfish, closed_port, django_capture_on_commit_callbacks
):
    url = start_redfish(systems=[NODE1, NODE2])
    site = make_site(machines=0)
    facility = inv.make_facility(site[0])
    dead = point_at(inv.make_machine(facility, site[1]), f"http://127.0.0.1:{closed_port}", NODE2)
    healthy = point_at(inv.make_machine(facility, site[1]), url, NODE1)
    Machine.objects.filter(pk=healthy.pk).update(state="maintenance")
    with django_capture_on_commit_callbacks():
        [device] = services.create_devices(
            project=web, acting_user=alice, request=request_for(*site)
        )
    assert device.machine_id == dead.pk
    Machine.objects.filter(pk=healthy.pk).update(state="available")
    first = device.operations.get()
    for _ in range(2):  # one transient failure, then the attempts are spent
        Step.objects.filter(operation=first).update(not_before=None)
        runner.run(first.pk)
    first.refresh_from_db()
    assert first.state == "failed" and "unreachable" in first.error
    dead.refresh_from_db()
    assert dead.state == "maintenance" and "unreachable" in dead.fault_reason
    device.refresh_from_db()
    assert device.machine_id == healthy.pk
    retry = device.operations.get(state="running")
    assert retry.params == {"attempt": 2}
    runner.run(retry.pk)
    assert steps(retry)[2] == ("await_agent", "waiting")


def test_power_drift_is_recorded_and_left_alone(deployed):
    device, _ = deployed
    Device.objects.filter(pk=device.pk).update(state="active")
    Operation.objects.filter(device=device).update(state="succeeded")
    Machine.objects.filter(pk=device.machine_id).update(state="in_use")
    with bmc_of(device.machine) as bmc:
        assert bmc.power_state() == PowerState.OFF
    assert reconciler.check_power_drift(device.machine_id) == "off"
    assert device.project.events.filter(type="device.power_drift").count() == 1
    with bmc_of(device.machine) as bmc:
        assert bmc.power_state() == PowerState.OFF  # nobody power-cycled it


def test_orphaned_moving_devices_are_settled(deployed):
    device, _ = deployed
    Operation.objects.filter(device=device).update(state="cancelled")
    Device.objects.filter(pk=device.pk).update(updated_at="2000-01-01T00:00:00Z")
    assert reconciler.settle_orphans(now=timezone.now()) == 1
    device.refresh_from_db()
    assert device.state == "failed"


def test_custom_ipxe_installs_need_no_agent_or_phone_home(
    web, alice, start_redfish, django_capture_on_commit_callbacks
):
    url = start_redfish(systems=[NODE1])
    metro, plan, _ = make_site(machines=1)
    point_at(Machine.objects.get(), url, NODE1)
    custom = inv.make_os("custom_ipxe", plans=[plan])
    custom.custom_ipxe = True
    custom.save()
    with django_capture_on_commit_callbacks():
        [device] = services.create_devices(
            project=web,
            acting_user=alice,
            request=request_for(metro, plan, custom, ipxe_script_url="http://boot.example/x.ipxe"),
        )
    runner.run(device.operations.get().pk)
    device.refresh_from_db()
    assert device.state == "active"


def test_a_machine_faster_than_the_worker_still_counts(deployed):
    """The agent can finish before the runner has even marked the power cycle done."""
    device, _ = deployed
    operation = device.operations.get()
    assert not ledger.advance_waiting(operation, "await_phone_home")  # the agent comes first
    assert ledger.advance_waiting(operation, "await_agent")  # nothing has run yet
    runner.run(operation.pk)
    assert steps(operation) == [
        ("set_boot_pxe", "done"),
        ("power_cycle", "done"),
        ("await_agent", "done"),
        ("await_phone_home", "waiting"),
    ]


@pytest.fixture
def rung():
    """Operation ids whose doorbell reached the broker since the test began (its site's queue:
    `site.sv1`, the facility make_site makes)."""
    broker.purge("site.sv1")
    return lambda: broker.operations_rung("site.sv1")


def test_a_wait_after_a_wait_starts_without_a_worker_pass(
    deployed, alice, rung, django_capture_on_commit_callbacks
):
    device, _ = deployed
    operation = device.operations.get()
    runner.run(operation.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert ledger.advance_waiting(operation, "await_agent")
    assert rung() == []
    assert steps(operation)[-1] == ("await_phone_home", "waiting")

    # A step to act on next (deprovisioning: power off after the wipe) is the runner's.
    assert ledger.advance_waiting(operation, "await_phone_home")
    device.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        deprovision = services.delete_device(device=device, acting_user=alice)
    runner.run(deprovision.pk)
    rung()  # the deletion's own doorbell
    with django_capture_on_commit_callbacks(execute=True):
        assert ledger.advance_waiting(deprovision, "await_agent")
    assert rung() == [deprovision.pk]


def test_a_wait_whose_steps_before_are_still_running_is_left_to_the_runner(
    deployed, rung, django_capture_on_commit_callbacks
):
    """The installer finished before the worker marked its power cycle done."""
    device, _ = deployed
    operation = device.operations.get()
    operation.steps.filter(name="set_boot_pxe").update(state="done")
    operation.steps.filter(name="power_cycle").update(state="running")
    with django_capture_on_commit_callbacks(execute=True):
        assert ledger.advance_waiting(operation, "await_agent")
    assert rung() == [operation.pk]
    assert steps(operation)[2:] == [("await_agent", "done"), ("await_phone_home", "pending")]


def test_a_bmc_session_outlives_one_pass_but_not_new_credentials_or_idleness(
    deployed, settings, alice, django_capture_on_commit_callbacks
):
    from inventory import bmc_access

    device, _ = deployed
    operation = device.operations.get()
    pool = actions._drivers.pool
    runner.run(operation.pk)
    [(first, _, _)] = pool.drivers.values()
    assert ledger.advance_waiting(operation, "await_agent")
    assert ledger.advance_waiting(operation, "await_phone_home")
    device.refresh_from_db()
    with django_capture_on_commit_callbacks():
        power_off = services.perform_action(device=device, acting_user=alice, action="power_off")
    runner.run(power_off.pk)  # the next operation's pass: no new login
    [(again, _, _)] = pool.drivers.values()
    assert again is first

    machine = Machine.objects.get(pk=device.machine_id)
    machine.bmc_password = PASSWORD + "-rotated"
    pool.take(machine.pk, bmc_access.endpoint(machine))
    [(renewed, endpoint, _)] = pool.drivers.values()
    assert renewed is not first and endpoint.password == PASSWORD + "-rotated"

    pool.close_idle(settings.BMC_SESSION_IDLE_SECONDS)
    assert pool.drivers  # just used: kept
    actions.close_sessions()
    assert not pool.drivers and not pool.services


def _quiet_for(operation: Operation, seconds: float) -> None:
    """Let the installer of `operation` have been silent this long."""
    past = timezone.now() - timezone.timedelta(seconds=seconds)
    Step.objects.filter(operation=operation, name="await_agent").update(started_at=past)
    Operation.objects.filter(pk=operation.pk).update(agent_seen_at=past)


@override_settings(AGENT_SILENCE_SECONDS=60)
def test_a_silent_installer_is_booted_once_more_then_its_machine_is_given_up(
    web, alice, start_redfish, django_capture_on_commit_callbacks
):
    url = start_redfish(systems=[NODE1, NODE2])
    site = make_site(machines=2)
    first, second = Machine.objects.order_by("pk")
    point_at(first, url, NODE1)
    point_at(second, url, NODE2)
    with django_capture_on_commit_callbacks():
        [device] = services.create_devices(
            project=web, acting_user=alice, request=request_for(*site)
        )
    operation = device.operations.get()
    runner.run(operation.pk)
    assert steps(operation)[2] == ("await_agent", "waiting")
    ledger.issue_agent_token(operation, first.provisioning_address)

    # A call within the silence is a heartbeat: nothing happens.
    _quiet_for(operation, 30)
    assert reconciler.restart_silent_installers(timezone.now()) == 0

    _quiet_for(operation, 61)
    with bmc_of(first) as bmc:
        bmc.power_off(force=True)  # so the second boot shows on the BMC
    with django_capture_on_commit_callbacks():
        assert reconciler.restart_silent_installers(timezone.now()) == 1
    operation.refresh_from_db()
    assert (operation.state, operation.agent_token_digest, operation.agent_address) == (
        "running",
        "",
        None,
    )
    assert steps(operation)[:3] == [
        ("set_boot_pxe", "pending"),
        ("power_cycle", "pending"),
        ("await_agent", "pending"),
    ]
    [restart] = device.project.events.filter(type="provisioning.installer_restarted")
    assert "stopped answering (61 s without a call)" in restart.body
    runner.run(operation.pk)  # the doorbell rang on commit; the worker boots it again
    assert steps(operation)[2] == ("await_agent", "waiting")
    with bmc_of(first) as bmc:
        assert bmc.power_state() == PowerState.ON

    _quiet_for(operation, 61)
    with django_capture_on_commit_callbacks():
        assert reconciler.restart_silent_installers(timezone.now()) == 1
    operation.refresh_from_db()
    assert operation.state == "failed"
    assert operation.error.startswith("The installer stopped answering (61 s without a call)")
    first.refresh_from_db()
    assert first.state == "maintenance" and "stopped answering" in first.fault_reason
    # The device follows the failover rules: another machine, a fresh provision.
    device.refresh_from_db()
    assert device.machine_id == second.pk
    assert device.operations.get(state="running").params == {"attempt": 2}


@override_settings(AGENT_SILENCE_SECONDS=60)
def test_the_installers_end_is_not_undone_by_a_late_reconciler(deployed):
    device, _ = deployed
    operation = device.operations.get()
    runner.run(operation.pk)
    [waiting] = Step.objects.filter(operation=operation, name="await_agent")
    _quiet_for(operation, 61)
    assert ledger.advance_waiting(operation, "await_agent")  # the agent's done, just in time
    operation.refresh_from_db()
    ledger.installer_silent(operation, waiting, 61)  # what the reconciler had read before
    assert steps(operation)[:3] == [
        ("set_boot_pxe", "done"),
        ("power_cycle", "done"),
        ("await_agent", "done"),
    ]
    assert not device.project.events.filter(type="provisioning.installer_restarted").exists()


def test_power_actions_name_their_step_and_leave_the_progress_bar(
    deployed, alice, django_capture_on_commit_callbacks
):
    device, _ = deployed
    operation = device.operations.get()
    runner.run(operation.pk)
    assert ledger.advance_waiting(operation, "await_agent")
    assert ledger.advance_waiting(operation, "await_phone_home")
    device.refresh_from_db()
    assert (device.state, device.provisioning_percentage) == ("active", 100)
    with django_capture_on_commit_callbacks():
        power_off = services.perform_action(device=device, acting_user=alice, action="power_off")
    runner.run(power_off.pk)
    device.refresh_from_db()
    # Its steps were on the device while they ran; the bar stayed the provisioned one's.
    assert (device.state, device.current_step, device.provisioning_percentage) == (
        "inactive",
        "",
        100,
    )
    assert not device.fills_progress_bar
    assert steps(power_off) == [("power_off", "done"), ("await_power_off", "done")]
    ledger.steps.show_step(power_off, 1)
    device.refresh_from_db()
    assert (device.current_step, device.provisioning_percentage) == ("Waiting for power off", 100)


def test_the_bar_fills_in_the_states_whose_operations_fill_it():
    from provisioning.workflows import WORKFLOWS

    for kind, workflow in WORKFLOWS.items():
        shown = Device(state=workflow.running).fills_progress_bar
        assert shown == workflow.fills_bar, kind
    assert Device(state="queued").fills_progress_bar
