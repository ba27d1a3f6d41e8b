"""System checks for the boot path: it hands installer tokens, user data and SSH keys to the
servers it recognises, so production must not leave it open to every network."""

import ipaddress

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def check_boot_networks(app_configs, **kwargs):
    """Every BOOT_ALLOWED_NETWORKS entry must be a network (a typo would lock servers out)."""
    errors = []
    for network in settings.BOOT_ALLOWED_NETWORKS:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            errors.append(
                checks.Error(
                    f"BOOT_ALLOWED_NETWORKS: {network!r} is not a network ({exc}).",
                    id="ironyard.E005",
                )
            )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_boot_path_closed(app_configs, **kwargs):
    """`check --deploy` refuses a boot path that answers every address."""
    if settings.BOOT_ALLOWED_NETWORKS:
        return []
    return [
        checks.Error(
            "BOOT_ALLOWED_NETWORKS is empty: the boot path (iPXE, installer agent, metadata "
            "service) would answer every address, not only the provisioning networks.",
            hint="Set BOOT_ALLOWED_NETWORKS to the CIDRs of your provisioning networks and of "
            "the IP blocks your servers call the metadata service from.",
            id="ironyard.E004",
        )
    ]
