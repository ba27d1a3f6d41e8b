"""List pages cost a constant number of queries, however many servers or reservations."""

from django.urls import reverse

from inventory import services as inventory_services
from provisioning.models import Device

ROWS = 20


def _queries(client, url, django_assert_max_num_queries):
    with django_assert_max_num_queries(40) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def _constant(client, url, add, django_assert_max_num_queries):
    add(1)
    few = _queries(client, url, django_assert_max_num_queries)
    add(ROWS)
    many = _queries(client, url, django_assert_max_num_queries)
    assert many == few, (few, many)
    return many


def _add_servers(web, deploy):
    def add(n):
        devices = deploy(web, n)
        Device.objects.filter(pk__in=[d.pk for d in devices[: n // 2]]).update(
            state="active", tags=["prod"]
        )

    return add


def test_servers_list(client, alice, web, deploy, django_assert_max_num_queries):
    client.force_login(alice)
    url = reverse("provisioning:devices", args=[web.uuid])
    _constant(client, url, _add_servers(web, deploy), django_assert_max_num_queries)


def test_project_overview_with_servers(client, alice, web, deploy, django_assert_max_num_queries):
    client.force_login(alice)
    url = reverse("portal:project", args=[web.uuid])
    _constant(client, url, _add_servers(web, deploy), django_assert_max_num_queries)


def test_ips_page(client, alice, web, site, server, django_assert_max_num_queries):
    metro = site[0]
    client.force_login(alice)

    def add(n):
        for _ in range(n):
            inventory_services.reserve_ips(
                project=web, acting_user=alice, kind="public_ipv4", quantity=1, metro=metro
            )

    _constant(
        client, reverse("provisioning:ips", args=[web.uuid]), add, django_assert_max_num_queries
    )


def test_deploy_page(client, alice, web, site, deploy, django_assert_max_num_queries):
    client.force_login(alice)
    url = reverse("provisioning:deploy", args=[web.uuid])
    _constant(client, url, _add_servers(web, deploy), django_assert_max_num_queries)
