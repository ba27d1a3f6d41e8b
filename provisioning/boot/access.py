"""Who may use the boot path: servers on the provisioning networks, nobody else.

The boot endpoints hand out installer tokens, user data and SSH keys to whoever the caller's
address says they are, like Metal's provisioning network did. BOOT_ALLOWED_NETWORKS (CIDRs)
confines them to the networks servers boot from; empty (the demo) allows every address.
"""

import functools
import ipaddress

from django.conf import settings

from portal.api.errors import json_errors
from portal.audit import client_ip


def _allowed(address: str | None) -> bool:
    networks = settings.BOOT_ALLOWED_NETWORKS
    if not networks:
        return True
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def from_boot_network(view):
    """Refuse (403) callers outside BOOT_ALLOWED_NETWORKS before the view runs."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not _allowed(client_ip(request)):
            return json_errors(403, "The boot path answers only the provisioning networks.")
        return view(request, *args, **kwargs)

    return wrapper
