"""Secrets at rest and the deployment checks that guard them."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from portal import crypto


@pytest.fixture
def fresh_keys(settings):
    crypto._fernet.cache_clear()
    yield settings
    crypto._fernet.cache_clear()


def test_encryption_round_trips_and_does_not_store_plaintext(fresh_keys):
    fresh_keys.SECRETS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    stored = crypto.encrypt("bmc-password")
    assert "bmc-password" not in stored
    assert crypto.decrypt(stored) == "bmc-password"


def test_rotation_keeps_old_ciphertexts_readable(fresh_keys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    fresh_keys.SECRETS_ENCRYPTION_KEYS = [old]
    stored = crypto.encrypt("s3cret")
    crypto._fernet.cache_clear()
    fresh_keys.SECRETS_ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt(stored) == "s3cret"
    crypto._fernet.cache_clear()
    fresh_keys.SECRETS_ENCRYPTION_KEYS = [new]
    with pytest.raises(ValueError, match="cannot be decrypted"):
        crypto.decrypt(stored)


def test_deploy_check_refuses_the_demo_secret_key(settings):
    settings.SECRET_KEY = settings.DEMO_SECRET_KEY
    settings.SECRETS_ENCRYPTION_KEYS = []
    with pytest.raises(SystemCheckError, match=r"ironyard\.E001[\s\S]*ironyard\.E002"):
        call_command("check", "--deploy", "--tag", "security")
