"""Platform tests: an APIClient per token."""

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api():
    """api(token) → an APIClient sending `X-Auth-Token` (no token: anonymous)."""

    def client_for(token: str | None = None, **headers) -> APIClient:
        client = APIClient()
        client.credentials(**({"HTTP_X_AUTH_TOKEN": token} if token else {}), **headers)
        return client

    return client_for
