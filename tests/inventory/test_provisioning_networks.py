"""Provisioning networks: each facility's boot network in IPAM, and the provisioning address every
machine gets from it when it is enrolled (its boot identity), kept while it is in the inventory."""

import ipaddress
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, connection, transaction

from inventory import enrollment, services
from inventory.models import Machine, ProvisioningNetwork
from portal.errors import ServiceError
from tests import factories
from tests.inventory import factories as inv
from tests.inventory.conftest import PASSWORD, USERNAME


@pytest.fixture
def operator(db):
    return factories.make_user("ops@example.com", staff=True)


@pytest.fixture
def bare(db):
    """A facility without a provisioning network yet, and a plan enrollment matches."""
    metro = inv.make_metro("sv")
    facility = inv.make_facility(metro, "sv15")
    facility.provisioning_networks.all().delete()
    plan = inv.make_plan("m3.large.x86", metros=[metro])
    plan.match_cpu_count, plan.match_memory_gib = 2, 128
    plan.save()
    return facility


def network(facility, cidr="10.250.0.0/29", gateway=None) -> ProvisioningNetwork:
    made = ProvisioningNetwork(facility=facility, network=cidr, gateway=gateway)
    made.full_clean()
    made.save()
    return made


def machine_in(facility) -> Machine:
    return inv.make_machine(facility, None)


def test_machines_get_the_lowest_free_hosts_but_never_the_gateway(bare):
    network(bare, "10.250.0.0/29", gateway="10.250.0.1")
    machines = [machine_in(bare) for _ in range(5)]
    # .0 is the network, .1 the gateway, .7 the broadcast address: five hosts are left.
    assert [m.provisioning_address for m in machines] == [f"10.250.0.{n}" for n in range(2, 7)]
    with pytest.raises(services.NoProvisioningAddress, match="no free address"):
        machine_in(bare)


def test_a_second_network_takes_over_when_the_first_is_full(bare):
    network(bare, "10.250.0.0/30")  # two hosts
    network(bare, "10.250.1.0/30")
    addresses = [machine_in(bare).provisioning_address for _ in range(4)]
    assert addresses == ["10.250.0.1", "10.250.0.2", "10.250.1.1", "10.250.1.2"]


def test_a_retired_machine_gives_its_address_back(bare, operator):
    network(bare, "10.250.0.0/30")
    first, second = machine_in(bare), machine_in(bare)
    services.retire_machines(machines=[first], acting_user=operator)
    first.refresh_from_db()
    assert (first.state, first.provisioning_address) == ("retired", None)
    assert machine_in(bare).provisioning_address == "10.250.0.1"
    second.refresh_from_db()
    assert second.provisioning_address == "10.250.0.2"  # kept while it is in the inventory


def test_adding_a_network_addresses_the_facilitys_machines_that_have_none(bare, operator):
    waiting = [machine_in(bare) for _ in range(3)]
    retired = machine_in(bare)
    Machine.objects.filter(pk=retired.pk).update(state=Machine.State.RETIRED)
    assert {m.provisioning_address for m in waiting} == {None}
    made = services.save_catalogue_item(
        instance=ProvisioningNetwork(facility=bare, network="10.250.0.0/24"),
        acting_user=operator,
    )
    addresses = sorted(
        Machine.objects.filter(provisioning_network=made).values_list(
            "provisioning_address", flat=True
        )
    )
    assert addresses == ["10.250.0.1", "10.250.0.2", "10.250.0.3"]
    assert Machine.objects.get(pk=retired.pk).provisioning_address is None


def test_a_network_too_small_for_the_facilitys_machines_is_refused_whole(bare, operator):
    for _ in range(3):
        machine_in(bare)
    with pytest.raises(ServiceError, match="no free address"):
        services.save_catalogue_item(
            instance=ProvisioningNetwork(facility=bare, network="10.250.0.0/30"),
            acting_user=operator,
        )
    assert not ProvisioningNetwork.objects.exists()
    assert not Machine.objects.filter(provisioning_address__isnull=False).exists()


@pytest.mark.parametrize(
    ("cidr", "gateway", "message"),
    [
        ("2001:db8::/64", None, "IPv4"),
        ("10.250.0.0/31", None, "/30 or larger"),
        ("10.250.0.5/24", None, "host bits"),
        ("10.250.0.0/24", "10.251.0.1", "inside 10.250.0.0/24"),
        ("10.0.0.0/8", None, "Overlaps 10.250.0.0/24"),
    ],
)
def test_bad_networks_are_refused_with_the_reason(bare, cidr, gateway, message):
    network(bare, "10.250.0.0/24")
    with pytest.raises(ValidationError, match=message):
        network(bare, cidr, gateway)


def test_a_network_in_use_cannot_move_or_hand_a_machines_address_to_its_gateway(bare):
    made = network(bare, "10.250.0.0/24")
    machine = machine_in(bare)
    made.network = "10.251.0.0/24"
    with pytest.raises(ValidationError, match="can no longer change"):
        made.full_clean()
    made.refresh_from_db()
    made.gateway = machine.provisioning_address
    with pytest.raises(ValidationError, match="A machine has this address"):
        made.full_clean()


def test_the_database_refuses_an_address_without_its_network(bare):
    network(bare)
    machine = machine_in(bare)
    with (
        pytest.raises(IntegrityError, match="machine_provisioning_address_in_network"),
        transaction.atomic(),
    ):
        Machine.objects.filter(pk=machine.pk).update(provisioning_network=None)


def test_enrollment_gives_the_machine_its_address_and_says_so(bare, operator, redfish_url):
    network(bare, "10.250.0.0/24", gateway="10.250.0.1")
    result = enrollment.enroll(_request(redfish_url), acting_user=operator)
    assert result.error == ""
    machine = Machine.objects.get(pk=result.machine.pk)
    assert machine.provisioning_address == "10.250.0.2"
    event = machine_events(machine)[0]
    assert "provisioning address 10.250.0.2" in event.body


def test_enrollment_in_a_facility_without_a_network_creates_nothing(bare, operator, redfish_url):
    result = enrollment.enroll(_request(redfish_url), acting_user=operator)
    assert "sv15 has no provisioning network" in result.error
    assert not Machine.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_enrollments_never_share_an_address():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time anyway")
    metro = inv.make_metro("sv")
    facility = inv.make_facility(metro, "sv15")
    facility.provisioning_networks.all().delete()
    network(facility, "10.250.0.0/24")
    machines = [inv.make_machine(facility, None) for _ in range(8)]
    Machine.objects.update(provisioning_network=None, provisioning_address=None)
    for machine in machines:
        machine.refresh_from_db()
    barrier = threading.Barrier(len(machines))
    errors = []

    def assign(machine):
        try:
            barrier.wait()
            with transaction.atomic():
                services.assign_provisioning_addresses(facility, [machine])
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=assign, args=(m,)) for m in machines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    addresses = list(Machine.objects.values_list("provisioning_address", flat=True))
    assert len(set(addresses)) == len(machines) and None not in addresses
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.250.0.0/24") for a in addresses)


def machine_events(machine):
    from portal.models import Event

    return list(Event.objects.filter(relations__object_id=machine.uuid).order_by("-pk"))


def _request(url):
    return enrollment.EnrollmentRequest(
        driver="redfish", address=url, username=USERNAME, password=PASSWORD, facility="sv15"
    )
