"""Metal API rate limits: per token and per client address, 429 with Retry-After and Metal's
error shape, counted in the shared cache."""

import re

import pytest

from portal.api.throttles import parse_rate
from tests import factories


@pytest.fixture
def tokens(alice, charlie):
    return factories.make_token(alice), factories.make_token(charlie)


def test_a_token_over_its_limit_gets_429_with_retry_after(api, settings, tokens):
    settings.API_RATE_PER_TOKEN = "3/m"
    client = api(tokens[0])
    assert [client.get("/metal/v1/projects").status_code for _ in range(3)] == [200] * 3
    refused = client.get("/metal/v1/projects")
    assert refused.status_code == 429
    [message] = refused.json()["errors"]
    assert re.fullmatch(r"Request was throttled\. Expected available in \d+ seconds?\.", message)
    assert 1 <= int(refused["Retry-After"]) <= 61
    # Writes count against the same budget.
    assert client.post("/metal/v1/ssh-keys", {}, format="json").status_code == 429


def test_one_tokens_limit_does_not_hit_another(api, settings, tokens, alice):
    settings.API_RATE_PER_TOKEN = "2/m"
    first, second = api(tokens[0]), api(tokens[1])
    for _ in range(2):
        first.get("/metal/v1/projects")
    assert first.get("/metal/v1/projects").status_code == 429
    assert second.get("/metal/v1/projects").status_code == 200
    # Another token of the same user has its own budget too: the limit is per token.
    assert api(factories.make_token(alice)).get("/metal/v1/projects").status_code == 200


def test_only_a_keys_whole_token_counts_against_its_budget(api, settings, tokens):
    settings.API_RATE_PER_TOKEN = "2/m"
    # Someone who knows a key's visible lookup part but not its secret is refused (401)
    # without using up the key's budget.
    forged = tokens[0][:-4] + ("aaaa" if not tokens[0].endswith("aaaa") else "bbbb")
    assert [api(forged).get("/metal/v1/projects").status_code for _ in range(2)] == [401] * 2
    owner = api(tokens[0])
    assert [owner.get("/metal/v1/projects").status_code for _ in range(3)] == [200, 200, 429]


def test_an_address_over_its_limit_gets_429_even_without_a_valid_token(api, settings, tokens):
    settings.API_RATE_PER_IP = "3/m"
    guesser = api("iy-not-a-token")
    assert [guesser.get("/metal/v1/projects").status_code for _ in range(3)] == [401] * 3
    refused = guesser.get("/metal/v1/projects")
    assert refused.status_code == 429
    assert "Retry-After" in refused
    # Every token from that address is held back with it; another address is not.
    assert api(tokens[0]).get("/metal/v1/projects").status_code == 429
    other = api(tokens[0], REMOTE_ADDR="192.0.2.7")
    assert other.get("/metal/v1/projects").status_code == 200


def test_limits_can_be_switched_off(api, settings, tokens):
    settings.API_RATE_PER_TOKEN = "off"
    settings.API_RATE_PER_IP = ""
    client = api(tokens[0])
    assert {client.get("/metal/v1/projects").status_code for _ in range(5)} == {200}


def test_defaults_leave_room_for_scripts_and_the_demo(settings):
    assert parse_rate(settings.API_RATE_PER_TOKEN) == (1200, 60)
    assert parse_rate(settings.API_RATE_PER_IP) == (3000, 60)
    assert parse_rate("10/s") == (10, 1) and parse_rate("5/hour") == (5, 3600)
