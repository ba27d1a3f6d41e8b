"""Dashboard fixtures: a deployable site and servers in project web (alice's org Acme)."""

import pytest

from provisioning import services
from tests.provisioning.factories import make_site, request_for


@pytest.fixture
def site(db):
    """(metro, plan, os) with 40 available machines."""
    return make_site(40)


@pytest.fixture
def deploy(site, alice):
    """deploy(project, n, **fields) → devices, created the way the deploy page creates them."""

    def run(project, quantity=1, **fields):
        return services.create_devices(
            project=project,
            acting_user=alice,
            request=request_for(*site, quantity=quantity, **fields),
        )

    return run


@pytest.fixture
def server(web, deploy):
    [device] = deploy(web, hostnames=["alpha"])
    return device
