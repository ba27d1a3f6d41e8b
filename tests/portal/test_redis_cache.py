"""portal.cache.RedisCache: Django's Redis backend with one shared client and a one-round-trip
`incr` that keeps Django's meaning (a missing key is an error, not a new counter)."""

import os
import uuid

import pytest

from portal.cache import RedisCache


@pytest.fixture
def redis_cache():
    location = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    backend = RedisCache(location, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    yield backend
    backend.clear()


def test_incr_counts_an_existing_key(redis_cache):
    redis_cache.add("counter", 1, timeout=60)
    assert redis_cache.incr("counter") == 2
    assert redis_cache.incr("counter", 5) == 7
    assert redis_cache.get("counter") == 7


def test_incr_refuses_a_missing_key_and_creates_nothing(redis_cache):
    with pytest.raises(ValueError, match="not found"):
        redis_cache.incr("missing")
    assert redis_cache.get("missing") is None


def test_one_client_serves_every_call(redis_cache):
    redis_cache.set("a", 1)
    client = redis_cache._cache.get_client("a", write=True)
    assert redis_cache._cache.get_client("b", write=True) is client
    assert redis_cache.get_many(["a", "b"]) == {"a": 1}


def test_count_adds_to_counters_in_one_call(redis_cache):
    redis_cache.add("seen", 4, timeout=60)
    assert redis_cache.count(["seen", "new", "other"], [60, 120, 5]) == [5, 1, 1]
    assert redis_cache.count(["new"], [999]) == [2]
    assert redis_cache.get("new") == 2
    client = redis_cache._cache.get_client(write=True)
    # A new counter expires with its own timeout; a counter already running keeps its own.
    assert 115 <= client.ttl(redis_cache.make_key("new")) <= 120
    assert 1 <= client.ttl(redis_cache.make_key("other")) <= 5
