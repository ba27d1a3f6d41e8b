"""The device story driven by equinix-metal 0.11.0 (module `equinix_metal`), run in its own
virtualenv by test_live_equinix_metal.py: it prints one JSON object of what it saw.

Environment: METAL_URL, METAL_TOKEN, METAL_READ_ONLY_TOKEN, METAL_CA, METAL_ORG, METAL_FOREIGN.
"""

import json
import os
import sys
import time

import equinix_metal as em
from equinix_metal.exceptions import ApiException


def client(token: str | None) -> em.ApiClient:
    conf = em.Configuration(host=os.environ["METAL_URL"], ssl_ca_cert=os.environ["METAL_CA"])
    if token:
        conf.api_key["x_auth_token"] = token
    return em.ApiClient(conf)


def wait(devices: em.DevicesApi, device_id: str, state: str) -> em.Device:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        device = devices.find_device_by_id(device_id)
        if device.state == state:
            return device
        if device.state == "failed":
            break
        time.sleep(0.2)
    sys.exit(f"device {device_id} is {device.state}, wanted {state}")


def status(call) -> int:
    try:
        call()
    except ApiException as error:
        if '"errors"' not in (error.body or ""):
            sys.exit(f"not Metal's error shape: {error.body}")
        return error.status
    return 200


def main() -> None:
    sdk = client(os.environ["METAL_TOKEN"])
    seen: dict = {}
    seen["plans"] = [p.slug for p in em.PlansApi(sdk).find_plans().plans]
    seen["metros"] = [m.code for m in em.MetrosApi(sdk).find_metros().metros]
    seen["oses"] = [
        o.slug for o in em.OperatingSystemsApi(sdk).find_operating_systems().operating_systems
    ]
    capacity = em.CapacityApi(sdk).check_capacity_for_metro(
        em.CapacityInput(servers=[em.ServerInfo(metro="sv", plan="c3.small.x86", quantity="1")])
    )
    seen["available"] = capacity.servers[0].available
    project = em.ProjectsApi(sdk).create_project(
        em.ProjectCreateFromRootInput(name="em", organization_id=os.environ["METAL_ORG"])
    )
    em.SSHKeysApi(sdk).create_project_ssh_key(
        str(project.id), em.SSHKeyCreateInput(label="ci", key=os.environ["METAL_SSH_KEY"])
    )
    devices = em.DevicesApi(sdk)
    created = devices.create_device(
        str(project.id),
        em.CreateDeviceRequest(
            em.DeviceCreateInFacilityInput(
                facility=em.FacilityInputFacility(["sv15"]),
                hostname="em-1",
                plan="c3.small.x86",
                operating_system="ubuntu_24_04",
            )
        ),
    )
    device_id = str(created.id)
    device = wait(devices, device_id, "active")
    seen["created_by"] = device.created_by.short_id
    seen["pages"] = [
        d.hostname
        for d in devices.find_project_devices_all_pages(str(project.id), per_page=1).devices
    ]
    for kind, state in (("power_off", "inactive"), ("power_on", "active")):
        devices.perform_action(device_id, em.DeviceActionInput(type=kind))
        wait(devices, device_id, state)
    devices.perform_action(device_id, em.DeviceActionInput(type="reboot"))
    time.sleep(0.5)
    wait(devices, device_id, "active")
    devices.perform_action(
        device_id, em.DeviceActionInput(type="reinstall", operating_system="debian_12")
    )
    time.sleep(0.5)
    seen["os"] = wait(devices, device_id, "active").operating_system.slug
    seen["events"] = [
        e.type for e in em.EventsApi(sdk).find_device_events(device_id, per_page=50).events
    ]
    seen["ips"] = sorted(
        [ip.address_family, ip.public] for ip in devices.find_ip_assignments(device_id).ip_addresses
    )
    updated = devices.update_device(device_id, em.DeviceUpdateInput(hostname="em-2", tags=["t"]))
    seen["updated"] = [updated.hostname, updated.tags]
    devices.delete_device(device_id)
    seen["deleted_state"] = devices.find_device_by_id(device_id).state

    bad = em.CreateDeviceRequest(
        em.DeviceCreateInFacilityInput(
            facility=em.FacilityInputFacility(["sv15"]),
            plan="nope.x86",
            operating_system="ubuntu_24_04",
        )
    )
    good = em.CreateDeviceRequest(
        em.DeviceCreateInFacilityInput(
            facility=em.FacilityInputFacility(["sv15"]),
            plan="c3.small.x86",
            operating_system="ubuntu_24_04",
        )
    )
    read_only = em.DevicesApi(client(os.environ["METAL_READ_ONLY_TOKEN"]))
    seen["refusals"] = [
        status(lambda: devices.create_device(str(project.id), bad)),
        status(lambda: devices.find_project_devices(os.environ["METAL_FOREIGN"])),
        status(lambda: read_only.create_device(str(project.id), good)),
        status(lambda: em.DevicesApi(client(None)).find_project_devices(str(project.id))),
    ]
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
