"""Timed callbacks on a small thread pool: one timer thread and N workers for the whole rack.

Simulated servers never own a thread. A delay (power change, firmware, an image write) is an
entry in a heap; when it is due its callback runs on the pool and schedules whatever comes next.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger(__name__)


class Handle:
    """A scheduled callback; cancel() stops it from running if it has not started yet."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback (no effect once it has started)."""
        self.cancelled = True


class Scheduler:
    """Runs callbacks after a delay on a fixed-size worker pool."""

    def __init__(self, workers: int, name: str = "virtual-rack") -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._heap: list[tuple[float, int, Handle, Callable, tuple]] = []
        self._counter = itertools.count()
        self._wakeup = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-timer", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, function: Callable[..., Any], *args: Any) -> Handle:
        """Run function(*args) on the pool after delay seconds (at once when delay <= 0)."""
        handle = Handle()
        if delay <= 0:
            self._submit(handle, function, args)
            return handle
        due = time.monotonic() + delay
        with self._wakeup:
            heapq.heappush(self._heap, (due, next(self._counter), handle, function, args))
            if self._heap[0][2] is handle:
                self._wakeup.notify()
        return handle

    def stop(self) -> None:
        """Drop pending callbacks and wait for running ones to finish."""
        with self._wakeup:
            self._stopped = True
            self._heap.clear()
            self._wakeup.notify()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, handle: Handle, function: Callable, args: tuple) -> None:
        if self._stopped:
            return
        # The pool may shut down between the check and the submit: we are stopping then.
        with contextlib.suppress(RuntimeError):
            self._pool.submit(self._call, handle, function, args)

    @staticmethod
    def _call(handle: Handle, function: Callable, args: tuple) -> None:
        if handle.cancelled:
            return
        try:
            function(*args)
        except Exception:
            # A bug in one server's callback must not stop the rack's other servers.
            logger.exception("virtual rack callback %r failed", function)

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wakeup.wait(timeout)
                if self._stopped:
                    return
                _, _, handle, function, args = heapq.heappop(self._heap)
            if not handle.cancelled:
                self._submit(handle, function, args)
