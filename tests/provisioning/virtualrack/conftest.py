"""Fixtures: a zero-delay virtual rack wired to a protocol double of the portal."""

from collections.abc import Callable, Iterator

import pytest

from inventory.bmc import BmcDriver, BmcEndpoint, driver_for
from provisioning.virtualrack import RackConfig, VirtualRack
from tests.provisioning.virtualrack.portal_double import PortalDouble, PortalServer
from tests.provisioning.virtualrack.remote_driver import RemoteDriver


@pytest.fixture
def portal() -> Iterator[PortalDouble]:
    with PortalServer() as double:
        yield double


@pytest.fixture
def make_rack(portal: PortalDouble) -> Iterator[Callable[..., VirtualRack]]:
    """Start a rack (zero delays unless told otherwise) against the portal double."""
    racks: list[VirtualRack] = []

    def make(zero_delay: bool = True, **options) -> VirtualRack:
        config = RackConfig(portal_url=portal.url, **{"servers": 4, **options})
        if zero_delay:
            config.zero_delay()
            for key, value in options.items():  # what the test asks for wins
                setattr(config, key, value)
        rack = VirtualRack(config, dhcp=portal.dhcp()).start()
        racks.append(rack)
        for server in rack.servers.values():
            portal.address_of(server)  # every server enrolled, as far as DHCP is concerned
        return rack

    yield make
    for rack in racks:
        rack.stop()


@pytest.fixture
def make_driver() -> Iterator[Callable[..., BmcDriver]]:
    """The portal's real BMC driver for a rack server (closed after the test)."""
    drivers: list[BmcDriver] = []

    def make(rack: VirtualRack, name: str, password: str | None = None, timeout: float = 5.0):
        bmc = rack.bmc(name)
        endpoint = BmcEndpoint(
            driver=bmc["driver"],
            address=bmc["address"],
            username=bmc["username"],
            password=bmc["password"] if password is None else password,
            system_id=bmc["system_id"],
            timeout=timeout,
        )
        driver = RemoteDriver(endpoint) if endpoint.driver == "ipmi" else driver_for(endpoint)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.close()
