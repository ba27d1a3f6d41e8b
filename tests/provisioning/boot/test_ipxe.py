"""GET /boot/ipxe: the script each situation gets, and what serving it records."""

import logging
import re

import pytest

from inventory.models import OperatingSystem
from portal.models import Event
from provisioning import services
from provisioning.models import Device
from tests.inventory import factories as inv

from .conftest import activate, open_operation, stage, step_state

KERNEL = re.compile(
    r"^kernel (?P<url>\S+) initrd=initrd\.img ironyard\.agent=(?P<agent>\S+) "
    r"ironyard\.token=(?P<token>\S+) ironyard\.operation=(?P<op>\S+) console=ttyS0,115200$"
)


def boot(client, machine, address=None, mac=None, **headers):
    """The machine network-boots: from its provisioning address unless told otherwise."""
    return client.get(
        "/boot/ipxe",
        {"mac": mac or machine.nics.first().mac_address, "uuid": "x", "serial": "y"},
        REMOTE_ADDR=address or machine.provisioning_address,
        **headers,
    )


def lines(response) -> list[str]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode().splitlines()


def test_without_a_mac_the_script_chains_back_with_the_machine_identity(client, rack):
    machine = rack.machines[0]
    response = client.get("/boot/ipxe", REMOTE_ADDR=machine.provisioning_address)
    assert lines(response) == [
        "#!ipxe",
        "chain /boot/ipxe?mac=${net0/mac:hexhyp}&uuid=${uuid}&serial=${serial:uristring}",
    ]


@pytest.mark.parametrize("mac", [None, "02:00:00:00:00:99"])
def test_an_address_ironyard_gave_nobody_gets_a_404_and_is_logged(client, rack, caplog, mac):
    # Even with a MAC Ironyard knows: the address names the machine, never the MAC.
    known = rack.machines[0].nics.first().mac_address
    with caplog.at_level(logging.WARNING, logger="provisioning.boot.views"):
        response = client.get("/boot/ipxe", {"mac": mac or known}, REMOTE_ADDR="127.9.9.9")
    assert response.status_code == 404
    assert "127.9.9.9" in caplog.text


@pytest.mark.parametrize("mac", ["02:00:00:00:00:99", "not-a-mac"])
def test_a_mac_that_is_not_the_machines_is_refused_and_recorded(client, rack, mac):
    machine, other = rack.machines[0], rack.machines[1]
    for claimed in (mac, other.nics.first().mac_address):
        response = boot(client, machine, mac=claimed)
        assert response.status_code == 403
        assert response.json()["errors"]
    refused = Event.objects.filter(type="machine.boot_identity_refused")
    assert refused.count() == 2
    assert all(machine.provisioning_address in e.body for e in refused)
    assert {r.object_id for e in refused for r in e.relations.all()} == {machine.uuid}


def test_provision_waiting_for_the_agent_boots_the_installer(client, deploy, rack, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "10.0.2.100"]
    device = deploy()
    operation = open_operation(device)
    stage(operation, "await_agent")
    # Any MAC spelling works: upper case with dashes here.
    mac = device.machine.nics.first().mac_address.upper().replace(":", "-")
    script = lines(boot(client, device.machine, mac=mac, HTTP_HOST="10.0.2.100"))
    assert script[0] == "#!ipxe"
    match = KERNEL.match(script[1])
    assert match, script[1]
    assert match["url"] == rack.os.kernel_url
    # The installer is told the portal as the machine reached it (its network's view).
    assert match["agent"] == "http://10.0.2.100/boot/agent/v1"
    assert match["op"] == str(operation.uuid)
    # Named, so that UEFI's kernel finds it by the `initrd=` on its command line.
    assert script[2:] == [f"initrd --name initrd.img {rack.os.initrd_url}", "boot"]


def test_an_installer_the_portal_serves_is_fetched_from_the_portal(client, deploy, rack):
    rack.os.kernel_url = "/boot/files/installer/0123abcd/vmlinuz"
    rack.os.initrd_url = "/boot/files/installer/0123abcd/initrd.img"
    rack.os.save()
    device = deploy()
    script = lines(boot(client, device.machine))
    assert (
        KERNEL.match(script[1])["url"] == "http://testserver/boot/files/installer/0123abcd/vmlinuz"
    )
    assert (
        script[2]
        == "initrd --name initrd.img http://testserver/boot/files/installer/0123abcd/initrd.img"
    )


def test_the_installer_is_booted_even_before_the_runner_reaches_the_waiting_step(client, deploy):
    # The power cycle may still be finishing when the firmware asks: the step is pending.
    device = deploy()
    assert step_state(open_operation(device), "await_agent") == "pending"
    assert KERNEL.match(lines(boot(client, device.machine))[1])


def test_boot_base_url_overrides_the_site_url_for_machines(client, deploy, settings):
    settings.BOOT_BASE_URL = "http://10.0.0.1:8080"
    device = deploy()
    match = KERNEL.match(lines(boot(client, device.machine))[1])
    assert match["agent"] == "http://10.0.0.1:8080/boot/agent/v1"


def test_a_trusted_proxy_forwards_the_machines_address(client, deploy, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.2"]
    device = deploy()
    stage(open_operation(device), "await_agent")
    machine = device.machine
    forwarded = client.get(
        "/boot/ipxe",
        {"mac": machine.nics.first().mac_address},
        REMOTE_ADDR="127.0.0.2",
        HTTP_X_FORWARDED_FOR=machine.provisioning_address,
    )
    assert KERNEL.match(lines(forwarded)[1])
    # An untrusted peer's X-Forwarded-For counts for nothing.
    settings.TRUSTED_PROXIES = []
    spoofed = client.get(
        "/boot/ipxe",
        {"mac": machine.nics.first().mac_address},
        REMOTE_ADDR="127.0.0.2",
        HTTP_X_FORWARDED_FOR=machine.provisioning_address,
    )
    assert spoofed.status_code == 404


def test_serving_the_script_again_replaces_the_agent_token(client, deploy):
    device = deploy()
    stage(open_operation(device), "await_agent")
    first = KERNEL.match(lines(boot(client, device.machine))[1])["token"]
    second = KERNEL.match(lines(boot(client, device.machine))[1])["token"]
    assert first != second

    def instructions(token):
        return client.get(
            "/boot/agent/v1/instructions",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            REMOTE_ADDR=device.machine.provisioning_address,
        )

    assert instructions(first).status_code == 401
    assert instructions(second).status_code == 200


def test_rescue_boots_the_rescue_kernel(
    client, deploy, alice, settings, django_capture_on_commit_callbacks
):
    settings.RESCUE_KERNEL_URL = "http://rescue.example/vmlinuz"
    settings.RESCUE_INITRD_URL = "http://rescue.example/initrd"
    device = activate(deploy())
    with django_capture_on_commit_callbacks(execute=False):
        operation = services.perform_action(device=device, acting_user=alice, action="rescue")
    stage(operation, "await_agent")
    script = lines(boot(client, device.machine))
    match = KERNEL.match(script[1])
    assert match["url"] == "http://rescue.example/vmlinuz"
    assert match["op"] == str(operation.uuid)
    assert script[2] == "initrd --name initrd.img http://rescue.example/initrd"


def test_without_a_rescue_kernel_rescue_boots_the_installer_of_the_devices_os(
    client, deploy, alice, rack, django_capture_on_commit_callbacks
):
    device = activate(deploy())
    with django_capture_on_commit_callbacks(execute=False):
        operation = services.perform_action(device=device, acting_user=alice, action="rescue")
    stage(operation, "await_agent")
    match = KERNEL.match(lines(boot(client, device.machine))[1])
    assert (match["url"], match["op"]) == (rack.os.kernel_url, str(operation.uuid))


def test_a_custom_ipxe_device_is_wiped_by_the_catalogues_default_installer(
    client, deploy, alice, rack, django_capture_on_commit_callbacks
):
    custom = inv.make_os("custom_ipxe", plans=[rack.plan])
    custom.custom_ipxe, custom.kernel_url, custom.initrd_url = True, "", ""
    custom.save()
    device = activate(deploy(operating_system=custom, ipxe_script_url="http://boot.example/x"))
    with django_capture_on_commit_callbacks(execute=False):
        operation = services.delete_device(device=device, acting_user=alice)
    stage(operation, "await_agent")
    match = KERNEL.match(lines(boot(client, device.machine))[1])
    assert (match["url"], match["op"]) == (rack.os.kernel_url, str(operation.uuid))
    # With no installer anywhere, the firmware is told so (and nothing is handed a token).
    OperatingSystem.objects.update(kernel_url="")
    assert lines(boot(client, device.machine)) == [
        "#!ipxe",
        "echo Ironyard has no installer to boot (manage.py build_installer)",
        "exit 1",
    ]


def test_deprovision_boots_the_installer_of_the_devices_os(
    client, deploy, alice, rack, django_capture_on_commit_callbacks
):
    device = activate(deploy())
    with django_capture_on_commit_callbacks(execute=False):
        operation = services.delete_device(device=device, acting_user=alice)
    stage(operation, "await_agent")
    match = KERNEL.match(lines(boot(client, device.machine))[1])
    assert (match["url"], match["op"]) == (rack.os.kernel_url, str(operation.uuid))


def test_after_the_installer_the_machine_boots_from_disk(client, deploy):
    device = deploy()
    stage(open_operation(device), "await_phone_home")
    assert lines(boot(client, device.machine)) == ["#!ipxe", "exit"]


def test_an_active_device_boots_from_disk(client, deploy):
    device = activate(deploy())
    assert lines(boot(client, device.machine)) == ["#!ipxe", "exit"]


def test_always_pxe_chains_the_devices_script(client, deploy):
    device = activate(deploy(always_pxe=True, ipxe_script_url="http://boot.example/my.ipxe"))
    assert lines(boot(client, device.machine)) == ["#!ipxe", "chain http://boot.example/my.ipxe"]


def test_a_custom_ipxe_os_serves_ipxe_user_data_and_starts_the_install(client, deploy, rack):
    os_ = OperatingSystem.objects.create(
        slug="custom_ipxe", name="Custom iPXE", distro="custom", custom_ipxe=True
    )
    userdata = "#!ipxe\necho hello from the user\nchain http://boot.example/next"
    device = deploy(operating_system=os_, userdata=userdata)
    operation = open_operation(device)
    stage(operation, "await_agent")
    assert lines(boot(client, device.machine)) == userdata.splitlines()
    # There is no installer to wait for: serving the user's script completes that step.
    assert step_state(operation, "await_agent") == "done"
    # Once it is active, network boots keep getting the user's script.
    activate(Device.objects.get(pk=device.pk))
    assert lines(boot(client, device.machine)) == userdata.splitlines()


def test_a_plain_device_without_always_pxe_ignores_its_script_url(client, deploy):
    device = activate(deploy(ipxe_script_url="http://boot.example/my.ipxe"))
    assert lines(boot(client, device.machine)) == ["#!ipxe", "exit"]


def test_only_get_is_allowed(client, db):
    assert client.post("/boot/ipxe").status_code == 405
