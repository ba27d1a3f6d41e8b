"""The metadata service at the portal's root: the caller is its source address."""

import ipaddress
import json

import pytest

from inventory.models import Machine
from portal.models import Event
from provisioning import services

from .conftest import activate, open_operation, stage, step_state


def address_of(device, *, family=4, public=False) -> str:
    """The device's own address of a kind, as the metadata service hands it out."""
    for assignment in device.ip_assignments.all():
        net = ipaddress.ip_network(assignment.network)
        if net.version == family and assignment.public == public:
            return str(net[1])
    raise AssertionError("no such assignment")


@pytest.fixture
def device(deploy, web_key):
    device = activate(
        deploy(
            "web-01",
            userdata="#cloud-config\nhostname: web-01\n",
            customdata={"role": "web"},
            tags=["prod", "edge"],
            inline_ssh_keys=["ssh-ed25519 AAAAinline me@laptop"],
        )
    )
    Machine.objects.filter(pk=device.machine_id).update(provisioning_address="127.0.0.41")
    return device


@pytest.fixture
def neighbour(deploy):
    device = activate(deploy("web-02"))
    Machine.objects.filter(pk=device.machine_id).update(provisioning_address="127.0.0.42")
    return device


def get(client, path, address, **extra):
    return client.get(path, REMOTE_ADDR=address, **extra)


def test_metadata_by_provisioning_address(client, device, rack, web_key, settings):
    settings.SITE_URL = "https://portal.example"
    settings.BOOT_BASE_URL = "http://10.0.0.1"
    response = get(client, "/metadata", "127.0.0.41")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(device.uuid)
    assert body["hostname"] == "web-01"
    assert body["iqn"].startswith("iqn.") and body["iqn"].endswith(device.short_id)
    assert (body["plan"], body["class"], body["facility"], body["metro"]) == (
        "c3.small.x86",
        "c3.small.x86",
        "sv1",
        "sv",
    )
    assert body["operating_system"]["slug"] == "ubuntu_24_04"
    assert body["operating_system"]["distro"] == "ubuntu"
    assert body["state"] == "active"
    assert body["reserved"] is False
    assert body["tags"] == ["prod", "edge"]
    assert body["ssh_keys"] == [web_key.key, "ssh-ed25519 AAAAinline me@laptop"]
    assert body["customdata"] == {"role": "web"}
    assert body["specs"] == rack.plan.specs
    assert body["volumes"] == []
    assert body["api_url"] == "https://portal.example/metal/v1"
    assert body["phone_home_url"] == "http://10.0.0.1/phone-home"
    assert body["user_state_url"] == "http://10.0.0.1/user-state"
    mac = device.machine.nics.first().mac_address
    network = body["network"]
    assert network["bonding"] == {"mode": 4, "link_aggregation": "bonded", "mac": mac}
    assert network["interfaces"] == [{"name": "eth0", "mac": mac, "bond": "bond0"}]
    addresses = {(a["address_family"], a["public"]): a for a in network["addresses"]}
    assert set(addresses) == {(4, True), (4, False), (6, True)}
    private = addresses[(4, False)]
    assert private["address"] == address_of(device)
    assert private["cidr"] == 31 and private["netmask"] == "255.255.255.254"
    assert private["gateway"] == str(ipaddress.ip_address(private["address"]) - 1)
    assert private["network"] == private["gateway"]
    assert private["management"] is True and private["enabled"] is True
    assert private["parent_block"]["cidr"] == 31
    assert private["parent_block"]["href"].startswith("/metal/v1/ips/")
    assert addresses[(6, True)]["cidr"] == 127
    assert ipaddress.ip_address(addresses[(4, True)]["address"]) in ipaddress.ip_network(
        "198.51.100.0/24"
    )
    assert body["private_subnets"] == [f"{private['network']}/31"]


@pytest.mark.parametrize(("family", "public"), [(4, False), (4, True), (6, True)])
def test_metadata_by_an_assigned_address(client, device, family, public):
    response = get(client, "/metadata", address_of(device, family=family, public=public))
    assert response.status_code == 200
    assert response.json()["id"] == str(device.uuid)


def test_each_machine_sees_only_its_own_metadata(client, device, neighbour):
    assert get(client, "/metadata", "127.0.0.42").json()["id"] == str(neighbour.uuid)
    assert get(client, "/metadata", address_of(neighbour)).json()["hostname"] == "web-02"
    assert get(client, "/metadata", "127.0.0.41").json()["hostname"] == "web-01"
    # web-02 has no user data, and never gets web-01's.
    assert get(client, "/userdata", "127.0.0.42").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/metadata",
        "/userdata",
        "/2009-04-04/meta-data",
        "/2009-04-04/user-data",
        "/nocloud/meta-data",
        "/nocloud/user-data",
        "/nocloud/vendor-data",
    ],
)
def test_an_unknown_address_is_404(client, device, path):
    response = get(client, path, "127.0.0.99")
    assert response.status_code == 404
    assert response.json()["errors"]


def test_a_deleted_device_is_not_served(client, device):
    device.state = "deleted"
    device.save()
    assert get(client, "/metadata", "127.0.0.41").status_code == 404


def test_userdata_is_raw_text(client, device):
    for path in ("/userdata", "/2009-04-04/user-data"):
        response = get(client, path, "127.0.0.41")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        assert response.content.decode() == "#cloud-config\nhostname: web-01\n"


def test_ec2_meta_data_listing_and_values(client, device, web_key):
    listing = get(client, "/2009-04-04/meta-data", "127.0.0.41").content.decode().splitlines()
    for key in ("instance-id", "hostname", "local-hostname", "public-keys", "local-ipv4"):
        assert key in listing
    assert "operating-system/" in listing
    assert get(client, "/2009-04-04/meta-data/", "127.0.0.41").content.decode().splitlines() == (
        listing
    )

    def value(key):
        response = get(client, f"/2009-04-04/meta-data/{key}", "127.0.0.41")
        assert response.status_code == 200, key
        return response.content.decode()

    assert value("instance-id") == str(device.uuid)
    assert value("local-hostname") == "web-01"
    assert value("local-ipv4") == address_of(device)
    assert value("public-ipv4") == address_of(device, public=True)
    assert value("public-keys").splitlines() == [web_key.key, "ssh-ed25519 AAAAinline me@laptop"]
    assert value("tags").splitlines() == ["prod", "edge"]
    assert "slug" in value("operating-system").splitlines()
    assert value("operating-system/slug") == "ubuntu_24_04"
    assert value("operating-system/slug/") == "ubuntu_24_04"
    missing = get(client, "/2009-04-04/meta-data/no-such-key", "127.0.0.41")
    assert missing.status_code == 404
    too_deep = get(client, "/2009-04-04/meta-data/hostname/more", "127.0.0.41")
    assert too_deep.status_code == 404


def test_phone_home_completes_the_first_boot(client, deploy):
    device = deploy()
    Machine.objects.filter(pk=device.machine_id).update(provisioning_address="127.0.0.43")
    operation = open_operation(device)
    stage(operation, "await_phone_home")
    response = client.post("/phone-home", "instance_id=x", "text/plain", REMOTE_ADDR="127.0.0.43")
    assert response.status_code == 204
    assert step_state(operation, "await_phone_home") == "done"
    # The last step is done and nothing else runs: the provision settles in this request.
    operation.refresh_from_db()
    device.refresh_from_db()
    assert (operation.state, device.state) == ("succeeded", "active")
    assert Machine.objects.get(pk=device.machine_id).state == "in_use"
    timeline = Event.objects.filter(project=device.project).order_by("created_at", "pk")
    assert list(timeline.values_list("type", "ip", "via"))[-2:] == [
        ("device.phoned_home", "127.0.0.43", "web"),
        ("device.provision.succeeded", None, "system"),  # as when a worker settles it
    ]


def test_phone_home_before_the_runner_is_done_leaves_the_end_to_the_runner(client, deploy):
    device = deploy()
    Machine.objects.filter(pk=device.machine_id).update(provisioning_address="127.0.0.44")
    operation = open_operation(device)
    stage(operation, "await_phone_home")
    # The server installed and booted so fast that the worker has not yet marked its power
    # cycle done.
    operation.steps.filter(name="power_cycle").update(state="running")
    response = client.post("/phone-home", REMOTE_ADDR="127.0.0.44")
    assert response.status_code == 204
    assert step_state(operation, "await_phone_home") == "done"
    operation.refresh_from_db()
    assert operation.state == "running"


def test_phone_home_during_an_operation_without_a_phone_home_changes_nothing(
    client, deploy, alice, django_capture_on_commit_callbacks
):
    device = activate(deploy())
    with django_capture_on_commit_callbacks(execute=False):
        operation = services.perform_action(device=device, acting_user=alice, action="reboot")
    response = client.post("/phone-home", REMOTE_ADDR=address_of(device))
    assert response.status_code == 204
    operation.refresh_from_db()
    assert operation.state == "running"
    assert Event.objects.filter(type="device.phoned_home").count() == 1


def test_phone_home_when_nothing_waits_changes_nothing(client, deploy):
    device = deploy()
    operation = open_operation(device)
    stage(operation, "await_agent")
    response = client.post("/phone-home", REMOTE_ADDR=address_of(device))
    assert response.status_code == 204
    assert step_state(operation, "await_agent") == "waiting"
    assert step_state(operation, "await_phone_home") == "pending"
    assert Event.objects.filter(type="device.phoned_home").count() == 1


def test_phone_home_from_an_unknown_address_is_404(client, device):
    assert client.post("/phone-home", REMOTE_ADDR="127.0.0.99").status_code == 404
    assert not Event.objects.filter(type="device.phoned_home").exists()


def post_state(client, body, address="127.0.0.41"):
    return client.post(
        "/user-state",
        json.dumps(body) if not isinstance(body, str) else body,
        "application/json",
        REMOTE_ADDR=address,
    )


def test_user_state_is_recorded_on_the_devices_timeline(client, device):
    response = post_state(client, {"state": "running", "code": 1001, "message": "Installing"})
    assert response.status_code == 204
    event = Event.objects.get(type="user_state.running")
    assert "Installing" in event.body and "1001" in event.body
    assert event.relations.filter(object_id=device.uuid).exists()
    assert post_state(client, {"state": "succeeded", "code": 1099}).status_code == 204
    assert Event.objects.filter(type="user_state.succeeded").count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"state": "done", "code": 1000, "message": "x"},
        {"state": "failed", "code": 999, "message": "x"},
        {"state": "failed", "code": 1100, "message": "x"},
        {"state": "failed", "code": "1000", "message": "x"},
        {"state": "failed", "code": True, "message": "x"},
        {"state": "failed", "code": 1000, "message": ["x"]},
        {"code": 1000},
        "not json",
        ["running"],
    ],
)
def test_user_state_is_validated(client, device, body):
    response = post_state(client, body)
    assert response.status_code == 422
    assert response.json()["errors"]
    assert not Event.objects.filter(type__startswith="user_state.").exists()


def test_user_state_from_an_unknown_address_is_404(client, device):
    response = post_state(client, {"state": "running", "code": 1000}, address="127.0.0.99")
    assert response.status_code == 404


def test_forwarded_for_counts_only_from_a_trusted_proxy(client, device, neighbour, settings):
    # From an untrusted peer, the header is ignored: web-02 cannot read web-01's metadata.
    settings.TRUSTED_PROXIES = []
    spoofed = get(client, "/metadata", "127.0.0.42", HTTP_X_FORWARDED_FOR="127.0.0.41")
    assert spoofed.json()["hostname"] == "web-02"
    behind_proxy = get(client, "/metadata", "127.0.0.5", HTTP_X_FORWARDED_FOR="127.0.0.41")
    assert behind_proxy.status_code == 404
    settings.TRUSTED_PROXIES = ["127.0.0.5"]
    trusted = get(client, "/metadata", "127.0.0.5", HTTP_X_FORWARDED_FOR="127.0.0.41")
    assert trusted.json()["hostname"] == "web-01"


def test_boot_path_answers_only_the_provisioning_networks(client, settings, db):
    settings.BOOT_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    for path in (
        "/boot/ipxe?mac=52:54:00:00:00:01",
        "/metadata",
        "/2009-04-04/meta-data",
        "/nocloud/meta-data",
        "/boot/files/installer/0123/vmlinuz",
    ):
        response = client.get(path, REMOTE_ADDR="198.51.100.7")
        assert response.status_code == 403, path
        assert response.json() == {
            "errors": ["The boot path answers only the provisioning networks."]
        }
    # Inside them, a caller still has to be at an address Ironyard gave a machine.
    assert client.get("/boot/ipxe", REMOTE_ADDR="10.1.2.3").status_code == 404


# cloud-init's NoCloud seed over HTTP, which Ironyard's installer points the installed system at.


def test_nocloud_meta_data_names_the_instance_and_its_keys(client, device, web_key):
    response = get(client, "/nocloud/meta-data", "127.0.0.41")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert json.loads(response.content) == {  # JSON, which YAML (as cloud-init reads it) is
        "instance-id": str(device.uuid),
        "local-hostname": "web-01",
        "public-keys": [web_key.key, "ssh-ed25519 AAAAinline me@laptop"],
    }


def test_nocloud_user_data_is_the_devices_own(client, device, deploy):
    assert get(client, "/nocloud/user-data", "127.0.0.41").content.decode() == (
        "#cloud-config\nhostname: web-01\n"
    )
    # Without any, an empty cloud-config (cloud-init wants a document).
    bare = activate(deploy("bare-01"))
    Machine.objects.filter(pk=bare.machine_id).update(provisioning_address="127.0.0.45")
    assert get(client, "/nocloud/user-data", "127.0.0.45").content.decode() == (
        "#cloud-config\n{}\n"
    )


def test_nocloud_vendor_data_lets_root_in_and_phones_home_where_the_machine_reached_us(
    client, device, settings
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "10.0.2.100"]
    body = get(client, "/nocloud/vendor-data", "127.0.0.41", HTTP_HOST="10.0.2.100")
    text = body.content.decode()
    assert text.startswith("#cloud-config\n")
    document = json.loads(text.removeprefix("#cloud-config\n"))
    assert document["disable_root"] is False and document["ssh_pwauth"] is False
    assert document["phone_home"]["url"] == "http://10.0.2.100/phone-home"


def test_an_unknown_nocloud_document_is_404(client, device):
    response = get(client, "/nocloud/network-config", "127.0.0.41")
    assert response.status_code == 404
    assert response.json() == {"errors": ["No NoCloud document network-config."]}
