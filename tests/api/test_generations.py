"""portal.api.generations: values kept until a scope they came from is bumped."""

import pytest

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
