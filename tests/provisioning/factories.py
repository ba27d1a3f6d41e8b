"""A small deployable site: metro, facility, plan, OS, IP blocks and available machines."""

from inventory.models import IPBlock
from provisioning.services import DeviceRequest
from tests.inventory import factories as inv


def make_site(
    machines: int = 3,
    *,
    code: str = "sv",
    v4: str = "198.51.100.0/24",
    private: str = "10.10.0.0/16",
    v6: str = "2001:db8:10::/48",
):
    """(metro, plan, os) with `machines` available machines and room for their addresses."""
    metro = inv.make_metro(code)
    facility = inv.make_facility(metro)
    plan = inv.make_plan(metros=[metro])
    os_ = inv.make_os(plans=[plan])
    for kind, network in (("public_ipv4", v4), ("private_ipv4", private), ("public_ipv6", v6)):
        IPBlock.objects.get_or_create(network=network, defaults={"kind": kind, "metro": metro})
    for _ in range(machines):
        inv.make_machine(facility, plan)
    return metro, plan, os_


def request_for(metro, plan, os_, **fields) -> DeviceRequest:
    return DeviceRequest(plan=plan, operating_system=os_, metros=[metro], **fields)
