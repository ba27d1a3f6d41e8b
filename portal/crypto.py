"""Secrets at rest (BMC credentials, root passwords): Fernet with rotation (MultiFernet).

SECRETS_ENCRYPTION_KEY holds one or more Fernet keys, comma-separated; the first encrypts and
all decrypt, so a new key can be put first and old rows re-encrypted at leisure. Without one,
a key is derived from SECRET_KEY so the demo runs with no configuration; the deploy check
refuses that in production.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.SECRETS_ENCRYPTION_KEYS)
    if not keys:
        derived = hashlib.sha256(b"ironyard-secrets:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    """Encrypt a string for storage."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Decrypt a stored string; raises ValueError if no configured key opens it."""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured keys") from exc


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code sees plaintext."""

    def from_db_value(self, value, expression, connection):
        return None if value is None or value == "" else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value if value is None or value == "" else encrypt(value)
