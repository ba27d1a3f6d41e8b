"""Emulated BMCs for the demo's virtual rack (and the tests).

An emulator runs as its own process (`python -m <module> --config FILE`), binds only to
127.x.y.z and prints one line `READY <json>` on stdout once it is listening
(tests.emulators.process starts one and waits for that line).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

READY_PREFIX = "READY "


def require_loopback(address: str) -> str:
    """Return address if it is an IPv4 loopback address (127.0.0.0/8), else raise ValueError."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"emulators bind to 127.x.y.z addresses only, not {address!r}") from None
    if ip.version != 4 or not ip.is_loopback:
        raise ValueError(f"emulators bind to 127.x.y.z addresses only, not {address!r}")
    return address


def announce_ready(details: dict[str, Any]) -> None:
    """Tell the parent process where the emulator listens."""
    print(READY_PREFIX + json.dumps(details), flush=True)
