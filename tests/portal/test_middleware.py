"""Request plumbing: Metal path normalisation (the API's own host name included) and client
addresses for the audit log."""

import pytest
from django.test import RequestFactory

from portal.audit import client_ip
from portal.checks import check_api_host
from portal.middleware import normalise_metal_path
from tests.factories import make_token


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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/projects", "/metal/v1/projects"),
        ("//capacity/metros", "/metal/v1/capacity/metros"),  # packet-python's "/capacity/…"
        ("//metal/v1/projects/x", "/metal/v1/projects/x"),  # a followed href
        ("/metal/v1/projects", "/metal/v1/projects"),
        ("/metal/v1", "/metal/v1"),
        ("/", "/metal/v1/"),
    ],
)
def test_root_paths_on_the_api_host_are_the_apis(raw, expected):
    assert normalise_metal_path(raw, api_host=True) == expected


@pytest.fixture
def api_host(settings):
    settings.METAL_API_HOST = "api.example.test"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "api.example.test"]
    return "api.example.test"


@pytest.mark.parametrize("path", ["/projects", "/metal/v1/projects"])
def test_the_api_answers_at_the_root_of_its_own_host(client, alice, api_host, path):
    headers = {"X-Auth-Token": make_token(alice), "Host": f"{api_host}:8443"}
    response = client.get(path, {"per_page": 1}, headers=headers)
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert [p["name"] for p in body["projects"]] == ["Default project"]
    # Links stay under /metal/v1, which this host serves too.
    assert body["meta"]["first"] == {"href": "/metal/v1/projects?page=1&per_page=1"}


@pytest.mark.parametrize("path", ["/login/", "/metadata", "/boot/ipxe", "/"])
def test_pages_and_the_boot_path_are_not_on_the_api_host(client, api_host, path):
    response = client.get(path, headers={"Host": api_host})
    assert response.status_code == 404
    assert response.json() == {"errors": ["Not found"]}


def test_other_host_names_keep_the_pages(client, alice, api_host):
    assert client.get("/login/").status_code == 200
    response = client.get("/projects", headers={"X-Auth-Token": make_token(alice)})
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_without_an_api_host_no_host_serves_the_api_at_the_root(client, alice, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "api.example.test"]
    headers = {"X-Auth-Token": make_token(alice), "Host": "api.example.test"}
    assert client.get("/login/", headers=headers).status_code == 200
    assert client.get("/projects", headers=headers)["Content-Type"].startswith("text/html")


def test_pages_and_boot_addresses_must_not_use_the_api_host(settings):
    settings.METAL_API_HOST = "api.example.test"
    settings.SITE_URL = "https://portal.example.test"
    settings.BOOT_BASE_URL = ""
    assert check_api_host(None) == []
    settings.SITE_URL = "https://api.example.test"
    settings.BOOT_BASE_URL = "http://api.example.test:8000"
    assert [(e.id, e.msg.split()[0]) for e in check_api_host(None)] == [
        ("ironyard.E006", "SITE_URL"),
        ("ironyard.E006", "BOOT_BASE_URL"),
    ]
