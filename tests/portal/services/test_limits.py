"""How much a user may store (portal.limits), enforced by every service that stores it: the
one place the pages, the API and the commands all go through."""

import pytest

from inventory import services as inventory_services
from inventory.models import IPReservation
from portal import limits, services
from portal.errors import ServiceError
from portal.models import Project, SSHKey
from provisioning import services as provisioning_services
from provisioning.models import Device
from tests import factories
from tests.provisioning.factories import make_site, request_for


def nested(depth: int) -> dict:
    """{"a": {"a": … {}}}: `depth` objects, one in another."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


TOO_MANY_TAGS = [f"t{n}" for n in range(limits.MAX_TAGS + 1)]
TOO_LONG_TAG = ["x" * (limits.MAX_TAG_LENGTH + 1)]


@pytest.mark.parametrize(
    ("value", "depth", "too_deep"),
    [
        ({}, 1, False),
        ([], 1, False),
        ("text", 0, False),
        (nested(3), 3, False),
        (nested(3), 2, True),
        ({"a": [1, [2, {"b": []}]]}, 5, False),
        ({"a": [1, [2, {"b": []}]]}, 4, True),
        # Deeper than Python's recursion limit: measured all the same.
        (nested(5000), limits.MAX_JSON_DEPTH, True),
    ],
)
def test_json_depth_counts_nested_objects_and_lists(value, depth, too_deep):
    assert limits.json_too_deep(value, depth) is too_deep


def test_tags_are_trimmed_and_distinct():
    assert limits.clean_tags([" web ", "web", "", "db"]) == ["web", "db"]


def test_up_to_the_limits_tags_are_kept():
    tags = [f"{n:03}" + "x" * (limits.MAX_TAG_LENGTH - 3) for n in range(limits.MAX_TAGS)]
    assert limits.clean_tags(tags) == tags


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (TOO_MANY_TAGS, f"At most {limits.MAX_TAGS} tags."),
        (TOO_LONG_TAG, f"Tags are at most {limits.MAX_TAG_LENGTH} characters."),
        ([7], "Tags must be strings."),
        (["a\x00b"], "Null characters are not allowed."),
        (["a\ud800b"], "Surrogate characters are not allowed."),
    ],
)
def test_bad_tags_are_refused(tags, message):
    with pytest.raises(ServiceError) as caught:
        limits.clean_tags(tags)
    assert (caught.value.field, caught.value.messages) == ("tags", [message])


def test_customdata_up_to_the_limits_is_kept():
    at_depth = nested(limits.MAX_JSON_DEPTH)
    assert limits.clean_customdata(at_depth) is at_depth
    # {"k": "xx…"} is 10 bytes of JSON around the value.
    at_size = {"k": "x" * (limits.MAX_CUSTOMDATA_BYTES - 10)}
    assert limits.clean_customdata(at_size) is at_size
    assert limits.clean_customdata(None) == {}


@pytest.mark.parametrize(
    ("customdata", "message"),
    [
        (nested(limits.MAX_JSON_DEPTH + 1), "Must not nest more than 32 levels deep."),
        (nested(900), "Must not nest more than 32 levels deep."),
        ({"k": "x" * limits.MAX_CUSTOMDATA_BYTES}, "Must be at most 64 KiB as JSON."),
        # Multi-byte characters count as the bytes they take.
        ({"k": "é" * (limits.MAX_CUSTOMDATA_BYTES // 2)}, "Must be at most 64 KiB as JSON."),
        ({"a": [{"b": "\x00"}]}, "Null characters are not allowed."),
        # A lone surrogate has no UTF-8 form: PostgreSQL's jsonb refused it (a 500).
        ({"a": ["\ud800"]}, "Surrogate characters are not allowed."),
        ({"\udfff": 1}, "Surrogate characters are not allowed."),
        (["a"], "Must be a JSON object."),
        ({"nan": float("nan")}, "Must be a JSON object."),
    ],
)
def test_bad_customdata_is_refused(customdata, message):
    with pytest.raises(ServiceError) as caught:
        limits.clean_customdata(customdata)
    assert (caught.value.field, caught.value.messages) == ("customdata", [message])


def test_user_data_is_limited_to_64_kib():
    assert limits.clean_userdata("#!/bin/sh\n" + "#" * (limits.MAX_USERDATA_BYTES - 10))
    with pytest.raises(ServiceError, match="limited to 64 KiB"):
        limits.clean_userdata("#!/bin/sh\n" + "#" * limits.MAX_USERDATA_BYTES)
    with pytest.raises(ServiceError, match="Null characters"):
        limits.clean_userdata("#!/bin/sh\n\x00")


# Every service that stores tags or customdata applies the rule.

DEEP = nested(limits.MAX_JSON_DEPTH + 1)


def test_project_services_apply_the_limits(acme, web, alice):
    with pytest.raises(ServiceError, match="At most 100 tags"):
        services.create_project(organization=acme, name="p", acting_user=alice, tags=TOO_MANY_TAGS)
    with pytest.raises(ServiceError, match="nest more than 32"):
        services.create_project(organization=acme, name="p", acting_user=alice, customdata=DEEP)
    with pytest.raises(ServiceError, match="at most 255 characters"):
        services.update_project(project=web, acting_user=alice, tags=TOO_LONG_TAG)
    with pytest.raises(ServiceError, match="nest more than 32"):
        services.update_project(project=web, acting_user=alice, customdata=DEEP)
    assert not Project.objects.filter(name="p").exists()
    web.refresh_from_db()
    assert (web.tags, web.customdata) == ([], {})


def test_organization_services_apply_the_limits(acme, alice):
    with pytest.raises(ServiceError, match="nest more than 32"):
        services.create_organization(name="o", acting_user=alice, customdata=DEEP)
    with pytest.raises(ServiceError, match="nest more than 32"):
        services.update_organization(organization=acme, acting_user=alice, customdata=DEEP)


def test_ssh_key_services_apply_the_limits(alice):
    with pytest.raises(ServiceError, match="At most 100 tags"):
        services.create_ssh_key(
            acting_user=alice, label="k", key=factories.new_ssh_public_key(), tags=TOO_MANY_TAGS
        )
    key = services.create_ssh_key(acting_user=alice, label="k", key=factories.new_ssh_public_key())
    with pytest.raises(ServiceError, match="at most 255 characters"):
        services.update_ssh_key(ssh_key=key, acting_user=alice, tags=TOO_LONG_TAG)
    assert SSHKey.objects.get(pk=key.pk).tags == []


@pytest.fixture
def site(db):
    return make_site(2)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tags": TOO_MANY_TAGS}, "At most 100 tags"),
        ({"tags": TOO_LONG_TAG}, "at most 255 characters"),
        ({"customdata": DEEP}, "nest more than 32"),
        ({"userdata": "#!/bin/sh\n" + "#" * limits.MAX_USERDATA_BYTES}, "limited to 64 KiB"),
    ],
)
def test_device_services_apply_the_limits(site, web, alice, fields, message):
    with pytest.raises(ServiceError, match=message):
        provisioning_services.create_devices(
            project=web, acting_user=alice, request=request_for(*site, **fields)
        )
    assert not Device.objects.exists()
    [device] = provisioning_services.create_devices(
        project=web, acting_user=alice, request=request_for(*site)
    )
    with pytest.raises(ServiceError, match=message):
        provisioning_services.update_device(device=device, acting_user=alice, **fields)
    device.refresh_from_db()
    assert (device.tags, device.customdata, device.userdata) == ([], {}, "")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tags": TOO_MANY_TAGS}, "At most 100 tags"),
        ({"customdata": DEEP}, "nest more than 32"),
        ({"customdata": {"k": "\x00"}}, "Null characters"),
    ],
)
def test_ip_reservation_services_apply_the_limits(site, web, alice, fields, message):
    metro = site[0]
    with pytest.raises(ServiceError, match=message):
        inventory_services.reserve_ips(
            project=web,
            acting_user=alice,
            kind="public_ipv4",
            quantity=4,
            metro=metro,
            **fields,
        )
    assert not IPReservation.objects.exists()
    reservation = inventory_services.reserve_ips(
        project=web, acting_user=alice, kind="public_ipv4", quantity=4, metro=metro
    )
    with pytest.raises(ServiceError, match=message):
        inventory_services.update_ip_reservation(
            reservation=reservation, acting_user=alice, **fields
        )
    reservation.refresh_from_db()
    assert (reservation.tags, reservation.customdata) == ([], {})
