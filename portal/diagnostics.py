"""Opt-in diagnostics for benchmarks: with IRONYARD_QUERY_COUNT_DIR set, every process counts
its database queries into a file of its own there (one integer, refreshed twice a second), so
a benchmark can add up what its web and worker processes did. Off by default: no cost."""

import os
import threading
import time
from pathlib import Path

_lock = threading.Lock()
_state = {"count": 0, "pid": None}


def _flush_forever(folder: Path) -> None:
    path = folder / f"{os.getpid()}.count"
    while True:
        with _lock:
            count = _state["count"]
        path.write_text(str(count))
        time.sleep(0.5)


def _count_query(execute, sql, params, many, context):
    with _lock:
        _state["count"] += 1
        if _state["pid"] != os.getpid():
            # First query in this process (or in a forked child: threads do not survive fork).
            _state["pid"] = os.getpid()
            _state["count"] = 1
            folder = Path(os.environ["IRONYARD_QUERY_COUNT_DIR"])
            threading.Thread(target=_flush_forever, args=(folder,), daemon=True).start()
    return execute(sql, params, many, context)


def install() -> None:
    """Count queries on every new connection when IRONYARD_QUERY_COUNT_DIR is set."""
    if not os.environ.get("IRONYARD_QUERY_COUNT_DIR"):
        return
    from django.db.backends.signals import connection_created

    def instrument(sender, connection, **kwargs):
        if _count_query not in connection.execute_wrappers:
            connection.execute_wrappers.append(_count_query)

    connection_created.connect(instrument, weak=False)


def read_query_counts(folder: Path) -> int:
    """The total of every process's count in `folder`."""
    return sum(int(p.read_text() or 0) for p in Path(folder).glob("*.count"))
