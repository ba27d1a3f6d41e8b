"""Parsing and fingerprinting OpenSSH public keys (the server computes fingerprints)."""

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

MAX_KEY_LENGTH = 16_384


@dataclass(frozen=True)
class ParsedKey:
    key_type: str
    key: str  # normalised: "type base64 [comment]"
    comment: str
    fingerprint_md5: str
    fingerprint_sha256: str


class InvalidSSHKey(ValueError):
    """The text is not an OpenSSH public key we can use."""


def parse(text: str) -> ParsedKey:
    """Validate one OpenSSH public key line and compute its fingerprints."""
    text = " ".join((text or "").split())
    if not text:
        raise InvalidSSHKey(
            "Paste a public key, for example the contents of ~/.ssh/id_ed25519.pub."
        )
    if len(text) > MAX_KEY_LENGTH:
        raise InvalidSSHKey("This key is too long to be an SSH public key.")
    if "PRIVATE KEY" in text:
        raise InvalidSSHKey("This is a private key. Paste the public key (the .pub file) instead.")
    parts = text.split(" ", 2)
    if len(parts) < 2:
        raise InvalidSSHKey("An SSH public key looks like 'ssh-ed25519 AAAA… comment'.")
    key_type, blob_b64 = parts[0], parts[1]
    comment = parts[2] if len(parts) > 2 else ""
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSSHKey("The key data is not valid base64.") from exc
    try:
        serialization.load_ssh_public_key(f"{key_type} {blob_b64}".encode())
    except UnsupportedAlgorithm as exc:
        raise InvalidSSHKey(f"Unsupported key type '{key_type}'.") from exc
    except ValueError as exc:
        raise InvalidSSHKey(f"This is not a valid {key_type} public key.") from exc
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    sha256 = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    normalised = f"{key_type} {blob_b64}" + (f" {comment}" if comment else "")
    return ParsedKey(
        key_type=key_type,
        key=normalised,
        comment=comment,
        fingerprint_md5=":".join(md5[i : i + 2] for i in range(0, 32, 2)),
        fingerprint_sha256=f"SHA256:{sha256}",
    )
