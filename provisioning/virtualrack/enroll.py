"""Enroll a virtual rack's servers through their BMCs, as an operator enrolls real hardware."""

import csv
import io

from inventory.enrollment import CSV_COLUMNS, EnrollmentRequest, EnrollmentResult, enroll_many
from inventory.models import Machine
from portal.models import User


def enrollment_requests(inventory: dict) -> list[EnrollmentRequest]:
    """One request per server of a rack inventory (VirtualRack.inventory() or its JSON file)."""
    return [
        EnrollmentRequest(
            driver=server["bmc"]["driver"],
            address=server["bmc"]["address"],
            username=server["bmc"]["username"],
            password=server["bmc"]["password"],
            facility=server["facility"],
            system_id=server["bmc"]["system_id"] or "",
            name=server["name"],
            plan=server["plan"],
            rack=server["rack"],
            rack_unit=server["rack_unit"],
            macs=tuple(server["macs"]),
            ssh_via=server.get("ssh", ""),
        )
        for server in inventory["servers"]
    ]


def enroll_rack(inventory: dict, *, acting_user: User) -> list[EnrollmentResult]:
    """Enroll the servers not enrolled yet (by name); returns one result per new server."""
    known = set(Machine.objects.values_list("name", flat=True))
    requests = [r for r in enrollment_requests(inventory) if r.name not in known]
    return enroll_many(requests, acting_user=acting_user)


def enrollment_csv(inventory: dict) -> str:
    """The servers not enrolled yet as `enroll_machines --csv` input (with a header row)."""
    known = set(Machine.objects.values_list("name", flat=True))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in enrollment_requests(inventory):
        if r.name not in known:
            writer.writerow(
                [
                    r.driver,
                    r.address,
                    r.username,
                    r.password,
                    r.facility,
                    r.system_id,
                    r.name,
                    r.plan,
                    r.rack,
                    r.rack_unit,
                    "true",
                    ";".join(r.macs),
                    r.ssh_via,
                ]
            )
    return out.getvalue()
