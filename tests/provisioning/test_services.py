"""Device services: all-or-nothing creation, allocation, addresses, transitions, deletion."""

import ipaddress
import threading

import pytest
from django.db import connection

from inventory.models import IPReservation, Machine
from portal.errors import Conflict, Forbidden, ServiceError
from provisioning import allocation, services
from provisioning.models import Device, IPAssignment, Operation
from tests import broker
from tests.provisioning.factories import make_site, request_for


@pytest.fixture
def site(db):
    return make_site(machines=3)


def create(project, user, site, **fields):
    return services.create_devices(
        project=project, acting_user=user, request=request_for(*site, **fields)
    )


def test_create_allocates_machines_addresses_and_queues_provisioning(
    web, alice, site, django_capture_on_commit_callbacks
):
    queue = "site.sv1"
    broker.purge(queue)
    with django_capture_on_commit_callbacks() as callbacks:
        devices = create(web, alice, site, quantity=2)
        assert broker.drain(queue) == []  # only after commit
    for callback in callbacks:
        callback()
    rung = broker.operations_rung(queue)
    assert [d.hostname for d in devices] == ["c3-small-01", "c3-small-02"]
    assert {d.state for d in devices} == {"queued"}
    assert Machine.objects.filter(state="allocated").count() == 2
    for device in devices:
        shapes = sorted(
            (
                ipaddress.ip_network(a.network).version,
                ipaddress.ip_network(a.network).prefixlen,
                a.public,
            )
            for a in device.ip_assignments.all()
        )
        assert shapes == [(4, 31, False), (4, 31, True), (6, 127, True)]
        assert device.operations.get().kind == "provision"
        assert device.root_password and device.root_password_expires_at
    # One doorbell per operation, on the facility's queue.
    assert sorted(rung) == sorted(
        Operation.objects.filter(device__in=devices).values_list("pk", flat=True)
    )


def test_without_capacity_nothing_is_created(web, alice, site):
    with pytest.raises(
        allocation.InsufficientCapacity, match=r"4 c3\.small\.x86 servers are not available in sv"
    ):
        create(web, alice, site, quantity=4)
    assert not Device.objects.exists()
    assert not IPReservation.objects.exists()
    assert Machine.objects.filter(state="available").count() == 3


@pytest.mark.parametrize("state", ["allocated", "deploying", "in_use", "maintenance", "retired"])
def test_only_available_machines_are_allocated(web, alice, site, state):
    # The machines that sort first are busy but hold no device, so no constraint would stop a
    # second claim of them: only the allocator's own rule does.
    busy, other, free = Machine.objects.order_by("pk")
    Machine.objects.filter(pk__in=[busy.pk, other.pk]).update(state=state)
    [device] = create(web, alice, site)
    assert device.machine_id == free.pk
    with pytest.raises(allocation.InsufficientCapacity):
        create(web, alice, site)
    assert set(
        Machine.objects.filter(pk__in=[busy.pk, other.pk]).values_list("state", flat=True)
    ) == {state}


def test_hostnames_are_validated_and_live_ones_unique(web, alice, site):
    with pytest.raises(ServiceError, match="not a valid hostname"):
        create(web, alice, site, hostnames=["bad_name"])
    create(web, alice, site, hostnames=["db1"])
    with pytest.raises(Conflict, match="db1 already exists"):
        create(web, alice, site, hostnames=["db1"])


def test_limited_collaborator_cannot_deploy(web, lena, site):
    with pytest.raises(Forbidden):
        create(web, lena, site)


def test_os_not_provisionable_on_plan_is_refused(web, alice, site):
    os_ = site[2]
    os_.provisionable_on.clear()
    with pytest.raises(ServiceError, match="cannot be installed"):
        create(web, alice, site)


def test_default_ssh_keys_are_project_keys_and_members_keys(web, alice, carol, charlie, site):
    from portal import services as portal_services
    from tests.factories import new_ssh_public_key

    mine = portal_services.create_ssh_key(acting_user=carol, label="c", key=new_ssh_public_key())
    shared = portal_services.create_ssh_key(
        acting_user=alice, label="p", project=web, key=new_ssh_public_key()
    )
    portal_services.create_ssh_key(acting_user=charlie, label="x", key=new_ssh_public_key())
    [device] = create(web, alice, site)
    assert set(device.ssh_keys.all()) == {mine, shared}
    [bare] = create(web, alice, site, no_ssh_keys=True)
    assert not bare.ssh_keys.exists()


def test_actions_respect_the_state_machine(web, alice, lena, site):
    [device] = create(web, alice, site)
    with pytest.raises(Conflict, match="Cannot power off a server that is queued"):
        services.perform_action(device=device, acting_user=alice, action="power_off")
    Device.objects.filter(pk=device.pk).update(state="active")
    Operation.objects.filter(device=device).update(state="succeeded")
    device.refresh_from_db()
    services.perform_action(device=device, acting_user=lena, action="power_off")
    device.refresh_from_db()
    assert device.state == "powering_off"
    with pytest.raises(Conflict):
        services.perform_action(device=device, acting_user=alice, action="reboot")
    with pytest.raises(Forbidden):
        services.perform_action(device=device, acting_user=lena, action="reinstall")


def test_locked_devices_refuse_delete(web, alice, site):
    [device] = create(web, alice, site, locked=True)
    with pytest.raises(Conflict, match="locked"):
        services.delete_device(device=device, acting_user=alice)
    services.update_device(device=device, acting_user=alice, locked=False)
    services.delete_device(device=device, acting_user=alice)
    device.refresh_from_db()
    assert device.state == "deprovisioning"
    assert device.operations.filter(state="running").get().kind == "deprovision"
    assert device.operations.get(kind="provision").state == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_200_parallel_creates_for_100_machines_make_exactly_100_devices(alice, web):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is under test; run with DATABASE_URL=postgres://…")
    site = make_site(machines=100)
    workers, per_worker = 20, 10  # 200 requests for 100 machines
    barrier = threading.Barrier(workers)
    outcomes: list[str] = []

    def deploy():
        barrier.wait()
        for _ in range(per_worker):
            try:
                create(web, alice, site)
                outcomes.append("ok")
            except allocation.InsufficientCapacity:
                outcomes.append("no capacity")
            except Exception as exc:  # collected and asserted below
                outcomes.append(repr(exc))
        connection.close()

    threads = [threading.Thread(target=deploy) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(outcomes)) == ["no capacity", "ok"]
    assert (outcomes.count("ok"), outcomes.count("no capacity")) == (100, 100)
    machines = list(Device.objects.values_list("machine_id", flat=True))
    assert len(machines) == len(set(machines)) == 100
    addresses = list(IPAssignment.objects.values_list("network", flat=True))
    assert len(addresses) == len(set(addresses)) == 300
