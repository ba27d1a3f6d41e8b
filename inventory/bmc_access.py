"""Reaching a machine's BMC from its stored record: endpoint, CA bundle, power checks."""

import hashlib
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal import audit

from .bmc import BmcEndpoint, BmcError, driver_for
from .models import Machine


def ca_bundle_path(pem: str) -> str | None:
    """A file holding `pem` (drivers take a path); None means the system CAs."""
    if not pem.strip():
        return None
    folder = Path(settings.VAR_DIR) / "bmc-ca"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(pem.encode()).hexdigest()}.pem"
    if not path.exists():
        path.write_text(pem)
    return str(path)


def endpoint(machine: Machine) -> BmcEndpoint:
    """The driver endpoint for a machine's BMC (credentials decrypted in memory only)."""
    return BmcEndpoint(
        driver=machine.bmc_driver,
        address=machine.bmc_address,
        username=machine.bmc_username,
        password=machine.bmc_password,
        system_id=machine.bmc_system_id or None,
        verify_tls=machine.bmc_verify_tls,
        ca_bundle=ca_bundle_path(machine.bmc_ca_certificate),
    )


def check_power(machine: Machine, *, acting_user=None) -> str:
    """Read the power state from the BMC now and store it; returns the state or raises
    BmcError (the stored state becomes "unknown" so nobody trusts an old reading)."""
    try:
        with driver_for(endpoint(machine)) as driver:
            state = str(driver.power_state())
    except BmcError:
        Machine.objects.filter(pk=machine.pk).update(
            power_state=Machine.PowerState.UNKNOWN, power_checked_at=timezone.now()
        )
        raise
    with transaction.atomic():
        Machine.objects.filter(pk=machine.pk).update(
            power_state=state, power_checked_at=timezone.now()
        )
        if acting_user is not None:
            audit.record(
                "machine.power_checked",
                actor=acting_user,
                text=f"{{actor}} checked {machine.name}'s power: {state}",
                user=acting_user,
                objects=[machine],
            )
    machine.power_state = state
    return state
