"""provisioning.ledger.sql reads rows as the ORM does: the same values, converted the same way, on
PostgreSQL and on SQLite (make test runs this folder on both)."""

from provisioning.ledger import sql
from provisioning.models import Device, Operation


def values(obj) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in type(obj)._meta.concrete_fields}


def test_the_runners_operation_and_steps_read_as_the_orm_reads_them(deploy):
    # JSON lists and objects, text, booleans, UUIDs, datetimes and encrypted columns (the root
    # password, the BMC password) all come back as the ORM gives them.
    device = deploy(tags=["edge", "db"], customdata={"rack": [1, 2]}, userdata="#cloud-config\n")
    operation = device.operations.get()
    loaded = sql.running_operation(operation.pk)
    orm = Operation.objects.select_related(
        "device__facility", "device__operating_system", "machine"
    ).get(pk=operation.pk)

    assert values(loaded) == values(orm)
    assert values(loaded.device) == values(orm.device)
    assert loaded.device.tags == ["edge", "db"] and loaded.device.root_password
    assert values(loaded.device.facility) == values(orm.device.facility)
    assert values(loaded.device.operating_system) == values(orm.device.operating_system)
    assert values(loaded.machine) == values(orm.machine)
    assert loaded.machine.bmc_password == "password"
    assert [values(step) for step in sql.steps(loaded)] == [
        values(step) for step in orm.steps.order_by("index")
    ]


def test_an_operation_that_is_over_is_not_the_runners(deploy):
    operation = deploy().operations.get()
    Operation.objects.filter(pk=operation.pk).update(state=Operation.State.CANCELLED)
    assert sql.running_operation(operation.pk) is None


def test_a_device_without_a_machine_reads_with_none(deploy):
    device = deploy()
    Device.objects.filter(pk=device.pk).update(machine=None)
    found = sql.device_for_metadata(device.pk)
    assert values(found) == values(Device.objects.get(pk=device.pk))
    assert found.machine is None
    assert found.plan.slug == "c3.small.x86" and found.project.pk == device.project_id
