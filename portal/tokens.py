"""API tokens: shown once, stored as an 8-character lookup plus an HMAC-SHA256 digest."""

import hashlib
import hmac
import secrets
import string

from django.conf import settings

TOKEN_PREFIX = "iy"  # noqa: S105 (a visible marker, not a secret)
_ALPHABET = string.ascii_letters + string.digits
_LOOKUP_LENGTH = 8
_SECRET_LENGTH = 32


def digest(token: str) -> str:
    """Keyed digest of a whole token (a stolen database alone cannot mint or test tokens)."""
    key = settings.API_TOKEN_HMAC_KEY.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def generate() -> tuple[str, str, str]:
    """A fresh token: (token, lookup, digest). Alphanumeric, as clients treat it as opaque."""
    lookup = "".join(secrets.choice(_ALPHABET) for _ in range(_LOOKUP_LENGTH))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH))
    token = f"{TOKEN_PREFIX}{lookup}{secret}"
    return token, lookup, digest(token)


def split_lookup(token: str) -> str | None:
    """The lookup part of a token, or None when the string cannot be one of ours."""
    expected = len(TOKEN_PREFIX) + _LOOKUP_LENGTH + _SECRET_LENGTH
    if len(token) != expected or not token.startswith(TOKEN_PREFIX):
        return None
    return token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _LOOKUP_LENGTH]


def matches(token: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    return hmac.compare_digest(digest(token), stored_digest)


def random_secret(length: int = 43) -> str:
    """A URL-safe secret for links (invitations)."""
    return secrets.token_urlsafe(length)[:length]
