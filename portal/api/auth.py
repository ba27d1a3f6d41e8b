"""X-Auth-Token authentication: the token maps to its user, so for_user() applies unchanged;
the ApiKey rides along as request.auth for read-only and project narrowing."""

from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from portal import tokens
from portal.models import ApiKey

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class TokenAuthentication(BaseAuthentication):
    """Metal's `X-Auth-Token` header. `X-Consumer-Token` (legacy app id) is ignored."""

    def authenticate(self, request):
        presented = request.META.get("HTTP_X_AUTH_TOKEN", "").strip()
        if not presented:
            return None
        lookup = tokens.split_lookup(presented)
        # By the key's unique lookup index; the token itself is checked against the digest.
        key = (
            ApiKey.objects.select_related("user").filter(lookup=lookup).first()
            if lookup is not None
            else None
        )
        if key is None or not tokens.matches(presented, key.digest) or not key.user.is_active:
            raise AuthenticationFailed("Invalid authentication token")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key.user, key

    def authenticate_header(self, request) -> str:
        # Any value makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return "X-Auth-Token"
