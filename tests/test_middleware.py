"""Request plumbing: Metal path normalisation and client addresses for the audit log."""

import pytest
from django.test import RequestFactory

from portal.audit import client_ip
from portal.middleware import normalise_metal_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/metal/v1//capacity/metros", "/metal/v1/capacity/metros"),
        ("/metal/v1//metal/v1/projects/x", "/metal/v1/projects/x"),
        ("/metal/v1/metal/v1/projects/x", "/metal/v1/projects/x"),
        ("///projects", "/projects"),
        ("/metal/v1/projects", "/metal/v1/projects"),
    ],
)
def test_paths_from_old_clients_are_normalised(raw, expected):
    assert normalise_metal_path(raw) == expected


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(settings):
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.5")
    settings.TRUSTED_PROXIES = []
    assert client_ip(request) == "198.51.100.9"
    settings.TRUSTED_PROXIES = ["198.51.100.9"]
    assert client_ip(request) == "203.0.113.5"


def test_a_spoofed_hop_before_the_real_client_is_not_believed(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5"
    )
    assert client_ip(request) == "203.0.113.5"


def test_signing_in_records_the_client_address(client, alice):
    from tests.factories import PASSWORD

    client.post(
        "/login/", {"username": alice.email, "password": PASSWORD}, REMOTE_ADDR="198.51.100.23"
    )
    alice.refresh_from_db()
    assert alice.last_login_ip == "198.51.100.23"
