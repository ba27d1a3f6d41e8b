"""The portal's settings plus the benchmark's baseline view (`make bench-api` only)."""

from portal.settings import *  # noqa: F403 - the benchmark measures the real configuration

ROOT_URLCONF = "provisioning.bench.urls"
# The limits' counting stays in the measured path; only the ceilings move out of the way of a
# load generator that sends thousands of requests a second from one token and address.
API_RATE_PER_TOKEN = "100000000/m"  # noqa: S105 - a rate, not a secret
API_RATE_PER_IP = "100000000/m"
