"""Logging into the rack's VMs as their users do: a key of one's own and OpenSSH's client
(scripts, the VM tests and bench_vm use it)."""

import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def new_key(identity: Path, comment: str) -> str:
    """Write a new Ed25519 private key to `identity` (mode 600); its public key line."""
    key = Ed25519PrivateKey.generate()
    identity.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    identity.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{public.decode()} {comment}"


def run(
    endpoint: str, identity: Path, command: str, timeout: float = 60
) -> subprocess.CompletedProcess:
    """`ssh root@HOST -p PORT command` (endpoint "HOST:PORT"); a new VM's host key is taken
    on trust, as on first contact."""
    host, port = endpoint.rsplit(":", 1)
    return subprocess.run(  # noqa: S603 (fixed argv, no shell)
        [  # noqa: S607 (the system's OpenSSH client)
            "ssh",
            *("-i", str(identity), "-p", port),
            *("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"),
            *("-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"),
            *("-o", "ConnectTimeout=10"),
            f"root@{host}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def can_log_in(endpoint: str, identity: Path) -> bool:
    try:
        return run(endpoint, identity, "true", timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False
