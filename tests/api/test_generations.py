"""portal.api.generations: values kept until a scope they came from is bumped."""

import uuid

import pytest
from django.core.cache import cache

from portal.api import generations

pytestmark = pytest.mark.django_db


def test_a_bump_in_a_transaction_counts_again_at_commit(
    api_cache, django_capture_on_commit_callbacks
):
    found = generations.lookup("probe", ("probe-scope",))
    assert found.generations is None  # first sight: counted from now on, nothing stored
    start = generations.lookup("probe", ("probe-scope",)).generations
    with django_capture_on_commit_callbacks(execute=True):
        generations.bump("probe-scope")
        # A reader now may see the new generation with the old rows (not committed yet) …
        during = generations.lookup("probe", ("probe-scope",)).generations
        assert during != start
    # … and whatever it stored is retired by the bump at commit.
    assert generations.lookup("probe", ("probe-scope",)).generations != during


def test_a_value_stored_is_found_until_its_scope_is_bumped(api_cache):
    assert generations.lookup("page", ("a", "b")).generations is None  # counters start
    found = generations.lookup("page", ("a", "b"))
    generations.store(found, b"rendered")
    assert generations.lookup("page", ("a", "b")).value == b"rendered"
    generations.bump("b")
    assert generations.lookup("page", ("a", "b")).value is None


def _bump_elsewhere(scope):
    """A bump by another process: the counter moves, this process is not told."""
    cache.incr(generations._generation_key(scope))


def test_a_request_reads_each_generation_once_and_expected_ones_early(api_cache):
    generations.lookup("warm", ("key", "list"))  # start the counters
    with generations.reading():
        generations.expect("list")
        key_generations = generations.lookup("api-key", ("key",)).generations
        list_generations = generations.lookup("page", ("list",)).generations
        _bump_elsewhere("key")
        _bump_elsewhere("list")
        # Read at the request's first lookup, not again.
        assert generations.lookup("api-key", ("key",)).generations == key_generations
        assert generations.lookup("page", ("list",)).generations == list_generations
        # A bump made by this request is seen by its next lookup.
        generations.bump("list")
        assert generations.lookup("page", ("list",)).generations != list_generations
    # The next request reads afresh.
    assert generations.lookup("api-key", ("key",)).generations != key_generations


def test_expected_generations_can_come_from_another_callers_round_trip(api_cache):
    counted, new = f"counted-{uuid.uuid4()}", f"new-{uuid.uuid4()}"
    generations.lookup("warm", (counted,))  # starts that counter; `new` was never counted
    with generations.reading():
        generations.expect(counted, new)
        keys = generations.expected_keys()
        assert sorted(keys) == sorted(generations._generation_key(s) for s in (counted, new))
        generations.take(cache.get_many(keys))
        assert generations.expected_keys() == [generations._generation_key(new)]
        taken = generations.lookup("page", (counted,)).generations
        assert generations.expected_keys() == []  # that lookup read (and started) `new`
        _bump_elsewhere(counted)
        assert generations.lookup("page", (counted,)).generations == taken  # not read again


def test_a_value_found_stale_is_checked_against_the_counters_not_the_request(api_cache):
    generations.lookup("page", ("list",))
    found = generations.lookup("page", ("list",))
    generations.store(found, b"old")
    with generations.reading():
        found = generations.lookup("page", ("list",))
        _bump_elsewhere("list")  # a concurrent writer, between the lookup and the check
        generations.verify(found, b"new")  # no StaleCache: the writer's bump explains it


def test_recent_values_stay_within_their_byte_budget():
    recent = generations._Recent(budget=10)
    recent.put("one", (1,), float("inf"), b"12345")
    recent.put("two", (1,), float("inf"), b"12345")
    assert recent.get("one", (1,)) == b"12345"  # now the most recently used
    recent.put("three", (1,), float("inf"), b"123")
    assert recent.get("two", (1,)) is None  # the least recently used went
    assert recent.get("one", (1,)) == b"12345"
    assert recent.get("three", (1,)) == b"123"
    assert recent.used == 8
    recent.put("huge", (1,), float("inf"), b"x" * 11)  # larger than the budget: not kept
    assert recent.get("huge", (1,)) is None
    assert recent.get("one", (2,)) is None  # another generation: not current
