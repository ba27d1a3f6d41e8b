"""Waiting for a condition with a deadline, instead of sleeping for a guessed time."""

import time

import pytest


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = ""):
    """Poll `predicate` until truthy and return its value; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what or predicate}")
