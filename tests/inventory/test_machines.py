"""Operator machine actions: bulk maintenance and retire, one outcome per machine."""

import pytest

from inventory import services
from inventory.models import Machine, Metro
from portal.errors import Forbidden
from portal.models import EventRelation
from tests import factories
from tests.inventory import factories as inv


@pytest.fixture
def operator(db):
    return factories.make_user("ops@example.com", staff=True)


@pytest.fixture
def rack(db):
    facility = inv.make_facility(inv.make_metro())
    plan = inv.make_plan()
    return [inv.make_machine(facility, plan) for _ in range(2)] + [
        inv.make_machine(facility, plan, state=Machine.State.IN_USE)
    ]


def test_maintenance_skips_machines_in_use(operator, rack):
    results = services.set_machines_maintenance(
        machines=rack, acting_user=operator, on=True, reason="PSU swap"
    )
    assert list(results.values()) == ["now maintenance", "now maintenance", "unchanged: in_use"]
    states = list(Machine.objects.order_by("name").values_list("state", "fault_reason"))
    assert states == [("maintenance", "PSU swap")] * 2 + [("in_use", "")]
    assert EventRelation.objects.filter(kind="machine", object_id=rack[0].uuid).count() == 1


def test_maintenance_off_returns_machines_to_the_pool(operator, rack):
    services.set_machines_maintenance(machines=rack[:1], acting_user=operator, on=True)
    services.set_machines_maintenance(machines=rack, acting_user=operator, on=False)
    assert Machine.objects.get(pk=rack[0].pk).state == "available"
    assert Machine.objects.get(pk=rack[2].pk).state == "in_use"


def test_retire_refuses_busy_machines(operator, rack):
    results = services.retire_machines(machines=rack, acting_user=operator)
    assert list(results.values()) == ["retired", "retired", "unchanged: in_use"]


def test_only_operators_change_machines(alice, rack):
    with pytest.raises(Forbidden):
        services.retire_machines(machines=rack, acting_user=alice)


def test_catalogue_items_are_validated_before_saving(operator):
    with pytest.raises(services.ServiceError, match="code"):
        services.save_catalogue_item(
            instance=Metro(code="Not A Code!", name="x", country="US"), acting_user=operator
        )
    assert not Metro.objects.exists()
    metro = services.save_catalogue_item(
        instance=Metro(code="am", name="Amsterdam", country="NL"), acting_user=operator
    )
    assert metro.pk is not None
