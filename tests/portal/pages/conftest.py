"""Page-test fixtures: a clean rate-limit cache, and rows to click on."""

import pytest
from django.core.cache import cache

from portal import services
from tests import factories


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Login rate-limit counters live in the cache; one test's failures must not leak.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def web_ssh_key(web, alice):
    return services.create_ssh_key(
        acting_user=alice,
        project=web,
        label="deploy",
        key=factories.new_ssh_public_key("deploy@ci"),
    )


@pytest.fixture
def alice_ssh_key(alice):
    return services.create_ssh_key(
        acting_user=alice, label="laptop", key=factories.new_ssh_public_key("alice@laptop")
    )


@pytest.fixture
def web_api_key(web, alice):
    key, _ = services.create_api_key(acting_user=alice, project=web, description="ci")
    return key


@pytest.fixture
def alice_api_key(alice):
    key, _ = services.create_api_key(acting_user=alice, description="laptop")
    return key


@pytest.fixture
def invitation(acme, web, alice):
    """A pending invitation for dora, with its link secret."""
    invitation, token = services.invite_member(
        organization=acme,
        invitee="dora@example.com",
        role="collaborator",
        projects=[web],
        acting_user=alice,
    )
    invitation.token = token
    return invitation
