"""DriverPool against sushy-tools' emulator: one login per Redfish service, kept between uses."""

import pytest
import sushy

from inventory.bmc import BmcEndpoint, BmcNotFoundError, BootDevice, BootOverride, PowerState
from inventory.bmc.pool import DriverPool
from tests.inventory.conftest import NODE1, NODE2, PASSWORD, USERNAME


@pytest.fixture
def logins(monkeypatch) -> list[str]:
    """The service roots sushy connects to (one per login), in order."""
    seen: list[str] = []
    connect = sushy.Sushy.__init__

    def counting(self, base_url, *args, **kwargs):
        seen.append(base_url)
        connect(self, base_url, *args, **kwargs)

    monkeypatch.setattr(sushy.Sushy, "__init__", counting)
    return seen


@pytest.fixture
def pool():
    made = DriverPool()
    yield made
    made.close_idle(0)


def endpoint(url: str, node: dict, **fields) -> BmcEndpoint:
    return BmcEndpoint(
        driver="redfish",
        address=url,
        username=fields.pop("username", USERNAME),
        password=fields.pop("password", PASSWORD),
        system_id=node["uuid"],
        **fields,
    )


def test_systems_behind_one_service_share_its_login(start_redfish, pool, logins):
    url = start_redfish(systems=[NODE1, NODE2])
    first = pool.take("m1", endpoint(url, NODE1))
    second = pool.take("m2", endpoint(url, NODE2))
    first.power_on()  # node1 starts off, node2 on
    second.power_off(force=True)
    second.set_boot_device(BootDevice.PXE, persistent=True)

    assert logins == [url]
    assert len(pool.services) == 1
    assert first.power_state() is PowerState.ON
    assert second.power_state() is PowerState.OFF
    assert second.boot_device() == BootOverride(BootDevice.PXE, persistent=True)
    assert pool.take("m1", endpoint(url, NODE1)) is first  # kept between uses


def test_other_credentials_or_services_log_in_apart(start_redfish, pool, logins):
    url, other = start_redfish(systems=[NODE1, NODE2]), start_redfish(systems=[NODE1])
    pool.take("m1", endpoint(url, NODE1)).power_state()
    pool.take("m2", endpoint(other, NODE1)).power_state()
    renewed = pool.take("m1", endpoint(url, NODE1, timeout=7.0))
    renewed.power_state()

    assert logins == [url, other, url]
    assert len(pool.services) == 2  # the first login went with its only driver


def test_an_error_on_one_system_drops_the_whole_service(start_redfish, pool, logins):
    url = start_redfish(systems=[NODE1, NODE2])
    healthy = pool.take("m1", endpoint(url, NODE1))
    healthy.power_state()
    broken = pool.take("m2", endpoint(url, {"uuid": "no-such-system"}))
    with pytest.raises(BmcNotFoundError):
        broken.power_state()
    pool.failed("m2")

    assert not pool.drivers and not pool.services
    assert pool.take("m1", endpoint(url, NODE1)).power_state() is PowerState.OFF
    assert logins == [url, url]


def test_idle_drivers_are_closed_and_their_service_with_the_last(start_redfish, pool):
    url = start_redfish(systems=[NODE1, NODE2])
    pool.take("m1", endpoint(url, NODE1)).power_state()
    pool.close_idle(3600)
    assert set(pool.drivers) == {"m1"}
    pool.take("m2", endpoint(url, NODE2)).power_state()
    pool.close_idle(0)
    assert not pool.drivers and not pool.services
