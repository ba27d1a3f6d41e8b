"""Inventory API fixtures: the tenancy world of tests/api, a small catalogue with machines and
address space, and the TLS live server (tests/tls_server.py) for the live client tests."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from inventory.models import IPBlock, Plan
from tests.inventory import factories as inv
from tests.portal.api.conftest import api, world
from tests.tls_server import _tls_server_thread, tls_ca, tls_live_server

__all__ = ["_tls_server_thread", "api", "catalogue", "tls_ca", "tls_live_server", "world"]


@pytest.fixture
def catalogue(db):
    """Two metros (sv with facilities sv15 and sv16, ny with ny5), three offered plans and a
    retired one, two operating systems, available machines, and address space in sv."""
    sv = inv.make_metro("sv", "Silicon Valley", "US")
    ny = inv.make_metro("ny", "New York", "US")
    sv15, sv16 = inv.make_facility(sv, "sv15"), inv.make_facility(sv, "sv16")
    ny5 = inv.make_facility(ny, "ny5")
    sv15.address = {"address": "1 Infinite Loop", "city": "Cupertino", "zip_code": 95014}
    sv15.features = ["baremetal", "storage", "layer_2"]  # "storage" is a legacy value
    sv15.save()
    small = inv.make_plan("c3.small.x86", price="0.50", metros=[sv, ny])
    large = inv.make_plan("m3.large.x86", price="3.10", metros=[sv])
    large.categories = ["compute", "current_gen"]
    large.save()
    storage = inv.make_plan("s3.xlarge.x86", price="1.75", metros=[ny])
    storage.categories, storage.type = ["storage"], Plan.Type.WORKLOAD_OPTIMIZED
    storage.deployment_types = ["on_demand", "reserved"]  # "reserved" is not in the SDK enum
    storage.save()
    retired = inv.make_plan("t1.small.x86", price="0.07", metros=[sv])
    retired.active = False
    retired.save()
    ubuntu = inv.make_os("ubuntu_24_04", plans=[small, large])
    ubuntu.default_operating_system = True
    ubuntu.save()
    windows = inv.make_os("windows_2022", plans=[large])
    windows.licensed, windows.hourly_price = True, Decimal("0.25")
    windows.release_date = "2021-08-18"
    windows.save()
    for _ in range(3):
        inv.make_machine(sv15, small)
    inv.make_machine(sv16, small)
    inv.make_machine(sv15, small, state="in_use")
    inv.make_machine(ny5, storage)
    blocks = SimpleNamespace(
        public=IPBlock.objects.create(kind="public_ipv4", network="198.51.100.0/24", metro=sv),
        private=IPBlock.objects.create(kind="private_ipv4", network="10.10.0.0/16", metro=sv),
        ipv6=IPBlock.objects.create(kind="public_ipv6", network="2001:db8::/48", metro=sv),
        sv16_public=IPBlock.objects.create(
            kind="public_ipv4", network="192.0.2.0/26", metro=sv, facility=sv16
        ),
        global_=IPBlock.objects.create(kind="global_ipv4", network="203.0.113.0/28"),
    )
    return SimpleNamespace(
        sv=sv,
        ny=ny,
        sv15=sv15,
        sv16=sv16,
        ny5=ny5,
        small=small,
        large=large,
        storage=storage,
        retired=retired,
        ubuntu=ubuntu,
        windows=windows,
        blocks=blocks,
    )
