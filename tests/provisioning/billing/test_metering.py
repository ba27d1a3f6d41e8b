"""Metering: what a device accrues over its life, against a controllable clock."""

from decimal import Decimal

import pytest
from django.db import IntegrityError

from inventory import services as inventory_services
from provisioning.billing import usage
from provisioning.models import UsageInterval
from tests import factories

from .conftest import act, at, delete, finish


def spent(project, start, end) -> Decimal:
    return usage.total_of(UsageInterval.objects.filter(project=project), start, end)


def hours(project, start, end) -> Decimal:
    rows = usage.usages(UsageInterval.objects.filter(project=project), start, end)
    return sum((u.hours for u in rows if u.interval.item == "plan"), Decimal(0))


JAN, FEB, MAR = at(2031, 1, 1), at(2031, 2, 1), at(2031, 3, 1)


def test_whole_started_hours_from_allocation_to_deletion_mid_hour(web, alice, deploy, clock):
    clock(at(2031, 1, 10, 8, 0))
    device = deploy(web, alice)
    clock(at(2031, 1, 10, 8, 20))
    finish(device)  # active 20 minutes after allocation: those minutes count too
    clock(at(2031, 1, 10, 10, 5))
    delete(device, alice)  # mid third hour
    clock(at(2031, 1, 20))
    assert hours(web, JAN, FEB) == 3
    assert spent(web, JAN, FEB) == Decimal("1.50")


@pytest.mark.parametrize(
    ("allocated", "deleted", "started_hours"),
    [
        # Hours count from the meter's own start, not from the clock's: 08:40 to 09:39 is one
        # started hour (the clock would see two), and so is exactly 08:40 to 09:40; 08:40 to
        # 09:41 is two, and so is 08:40 to 10:39 (the clock would see three).
        ((8, 40), (9, 39), 1),
        ((8, 40), (9, 40), 1),
        ((8, 40), (9, 41), 2),
        ((8, 40), (10, 39), 2),
        ((8, 40), (10, 41), 3),
    ],
)
def test_hours_are_counted_from_the_meters_start(
    web, alice, deploy, clock, allocated, deleted, started_hours
):
    clock(at(2031, 1, 10, *allocated))
    device = finish(deploy(web, alice))
    clock(at(2031, 1, 10, *deleted))
    delete(device, alice)
    assert hours(web, JAN, FEB) == started_hours
    assert spent(web, JAN, FEB) == Decimal("0.50") * started_hours


def test_exact_seconds(web, alice, deploy, clock, settings):
    settings.USAGE_METERING = "second"
    clock(at(2031, 1, 10, 8, 0))
    device = finish(deploy(web, alice))
    clock(at(2031, 1, 10, 9, 30))
    delete(device, alice)
    assert hours(web, JAN, FEB) == Decimal("1.5")
    assert spent(web, JAN, FEB) == Decimal("0.75")


@pytest.mark.parametrize("metering", ["hour", "second"])
def test_month_boundary_splits_without_gap_or_double_count(
    web, alice, deploy, clock, settings, metering
):
    settings.USAGE_METERING = metering
    clock(at(2031, 1, 31, 23, 30))
    device = finish(deploy(web, alice))
    clock(at(2031, 2, 1, 1, 0))  # 90 minutes in all: two started hours
    delete(device, alice)
    january, february = hours(web, JAN, FEB), hours(web, FEB, MAR)
    if metering == "hour":
        # The hour started in January belongs to January; the next one to February.
        assert (january, february) == (1, 1)
    else:
        assert (january, february) == (Decimal("0.5"), Decimal("1"))
    assert january + february == hours(web, JAN, MAR)


def test_days_of_a_month_add_up_to_the_month(web, alice, deploy, clock):
    clock(at(2031, 1, 3, 22, 40))
    device = finish(deploy(web, alice))
    clock(at(2031, 1, 6, 2, 10))
    delete(device, alice)
    rows = usage.usages(UsageInterval.objects.filter(project=web), JAN, FEB)
    daily = usage.daily_spend(rows, JAN, FEB)
    assert sum(daily["c3.small.x86"]) == spent(web, JAN, FEB) == Decimal("26.00")  # 52 hours
    assert daily["c3.small.x86"][2] == Decimal("1.00")  # 22:40 and 23:40 start on the 3rd


def test_reinstall_and_power_cycles_keep_one_unbroken_meter(web, alice, deploy, clock, site):
    windows = site[3]
    clock(at(2031, 1, 10, 0, 0))
    device = finish(deploy(web, alice))
    clock(at(2031, 1, 10, 2, 30))
    act(device, alice, "power_off")
    clock(at(2031, 1, 10, 5, 0))  # powered off: still reserved, still billed
    act(device, alice, "power_on")
    clock(at(2031, 1, 10, 6, 0))
    act(device, alice, "reinstall")  # same OS: nothing changes in the meter
    clock(at(2031, 1, 10, 7, 15))
    act(device, alice, "reinstall", operating_system=windows)
    clock(at(2031, 1, 10, 9, 15))
    delete(device, alice)
    assert hours(web, JAN, FEB) == 10  # 00:00 to 09:15, whole started hours
    licence = [
        u
        for u in usage.usages(UsageInterval.objects.filter(device=device), JAN, FEB)
        if u.interval.item == "os"
    ]
    assert [(u.name, u.hours, u.total) for u in licence] == [
        ("windows_2022", Decimal(2), Decimal("0.2"))
    ]
    assert spent(web, JAN, FEB) == Decimal("5.20")
    assert device.usage_intervals.filter(item="plan").count() == 1


def test_a_device_that_never_reached_active_is_not_billed(web, alice, deploy, clock):
    clock(at(2031, 1, 10, 0, 0))
    device = finish(deploy(web, alice), succeeded=False)
    assert device.state == "failed"
    clock(at(2031, 1, 10, 3, 0))
    assert spent(web, JAN, FEB) == 0
    delete(device, alice)
    clock(at(2031, 1, 12))
    assert spent(web, JAN, FEB) == 0


def test_still_provisioning_is_not_billed_until_active_then_from_allocation(
    web, alice, deploy, clock
):
    clock(at(2031, 1, 10, 0, 0))
    device = deploy(web, alice)
    clock(at(2031, 1, 10, 1, 30))
    assert spent(web, JAN, FEB) == 0
    finish(device)
    assert hours(web, JAN, FEB) == 2


def test_price_change_does_not_rewrite_history(web, alice, deploy, clock, site):
    plan = site[1]
    clock(at(2031, 1, 10, 0, 0))
    first = finish(deploy(web, alice, hostname="old-price"))
    clock(at(2031, 1, 10, 4, 0))
    delete(first, alice)
    plan.hourly_price = Decimal("2.00")
    plan.save()
    second = finish(deploy(web, alice, hostname="new-price"))
    clock(at(2031, 1, 10, 5, 0))
    delete(second, alice)
    rows = usage.usages(UsageInterval.objects.filter(project=web), JAN, FEB)
    assert sorted((u.interval.device.hostname, u.total) for u in rows) == [
        ("new-price", Decimal("2.0000")),
        ("old-price", Decimal("2.0000")),
    ]
    assert spent(web, JAN, FEB) == Decimal("4.00")


@pytest.mark.parametrize(
    ("metering", "expected"),
    [
        # 08:00-10:30 with the price going 0.50 -> 2.00 at 09:10: the hour started at 09:00
        # keeps its 0.50, the one starting at 10:00 costs 2.00.
        ("hour", Decimal("3.00")),
        # By the second: 70 min at 0.50 + 80 min at 2.00.
        ("second", Decimal("3.25")),
    ],
)
def test_a_price_change_applies_to_running_servers_from_then_on(
    web, alice, deploy, clock, site, settings, metering, expected
):
    settings.USAGE_METERING = metering
    plan = site[1]
    operator = factories.make_user("operator@example.com", staff=True)
    clock(at(2031, 1, 10, 8, 0))
    device = finish(deploy(web, alice))
    clock(at(2031, 1, 10, 9, 10))
    plan.hourly_price = Decimal("2.00")
    inventory_services.save_catalogue_item(instance=plan, acting_user=operator)
    clock(at(2031, 1, 10, 10, 30))
    delete(device, alice)
    assert spent(web, JAN, FEB) == expected
    assert device.usage_intervals.filter(ended_at__isnull=True).count() == 0


def test_a_server_deleted_before_its_new_price_starts_never_pays_it(
    web, alice, deploy, clock, site
):
    plan = site[1]
    operator = factories.make_user("operator@example.com", staff=True)
    clock(at(2031, 1, 10, 8, 0))
    device = finish(deploy(web, alice))
    clock(at(2031, 1, 10, 8, 10))
    plan.hourly_price = Decimal("2.00")  # from 09:00 for this server
    inventory_services.save_catalogue_item(instance=plan, acting_user=operator)
    clock(at(2031, 1, 10, 8, 40))
    delete(device, alice)
    assert spent(web, JAN, FEB) == Decimal("0.50")
    assert device.usage_intervals.count() == 1


def test_two_price_changes_within_an_hour_leave_the_last_one(web, alice, deploy, clock, site):
    plan = site[1]
    operator = factories.make_user("operator@example.com", staff=True)
    clock(at(2031, 1, 10, 8, 0))
    device = finish(deploy(web, alice))
    for minute, price in ((10, "2.00"), (20, "3.00")):
        clock(at(2031, 1, 10, 8, minute))
        plan.hourly_price = Decimal(price)
        inventory_services.save_catalogue_item(instance=plan, acting_user=operator)
    clock(at(2031, 1, 10, 9, 30))
    delete(device, alice)
    assert spent(web, JAN, FEB) == Decimal("3.50")  # 08:00 at 0.50, 09:00 at 3.00


def test_database_refuses_a_second_open_meter(web, alice, deploy):
    device = deploy(web, alice)
    row = device.usage_intervals.get()
    row.pk = None
    with pytest.raises(IntegrityError):
        row.save()


def test_month_to_date_figures(web, ops, acme, alice, deploy, clock):
    clock(at(2031, 1, 31, 22, 0))
    finish(deploy(web, alice, hostname="w"))
    finish(deploy(ops, alice, hostname="o"))
    clock(at(2031, 2, 1, 1, 30))  # February so far: the hour from 00:00 and the one from 01:00
    assert usage.project_month_to_date(web) == Decimal("1.00")
    assert usage.organization_month_to_date(acme) == Decimal("2.00")
