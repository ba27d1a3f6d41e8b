"""Processes the benchmarks start and measure: a free port, gunicorn serving the portal, a
Celery worker, and the CPU time of a process tree."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stat(path: Path) -> tuple[str, list[str]]:
    """A /proc/<pid>/stat file: the process's name (comm) and the fields after it, from state
    on (utime, stime, cutime, cstime are fields 11 to 14, in clock ticks)."""
    text = path.read_text()
    return text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 1 :].split()


def _seconds(ticks: list[str]) -> float:
    return sum(int(tick) for tick in ticks) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its live descendants (Linux /proc)."""
    total, stack, seen = 0.0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            _, fields = _stat(Path(f"/proc/{current}/stat"))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += _seconds(fields[11:13])  # utime, stime
        stack.extend(int(c) for c in children)
    return total


def named_cpu_seconds(name: str) -> float:
    """User + system CPU of every live process called `name` (its /proc comm) and of the
    children they reaped, such as the PostgreSQL server's backends (the postmaster reaps those
    that end) when the database runs on this machine; 0 when none does."""
    total = 0.0
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, fields = _stat(path)
        except OSError:
            continue
        if comm == name:
            total += _seconds(fields[11:15])  # utime, stime, cutime, cstime
    return total


def start_gunicorn(port: int, workers: int, env: dict) -> subprocess.Popen:
    """The portal under gunicorn (sync workers) on 127.0.0.1:port, in its own session so the
    benchmark can stop the whole tree."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        start_new_session=True,
    )


def start_worker(env: dict, queues: str, name: str, concurrency: int = 2) -> subprocess.Popen:
    """A Celery worker (prefork) consuming `queues`, in its own session. `name` makes its node
    name its own: another worker on the same broker (a test suite, the demo) would otherwise
    hold the default one's pidbox queue."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            queues,
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}-{os.getpid()}@%h",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        start_new_session=True,
    )


def stop(*processes: subprocess.Popen) -> None:
    """SIGTERM each process and wait for it: gunicorn's master and Celery's main process stop
    their own children (sent to the whole session, Celery's main process would report each
    child's SIGTERM as an error). SIGKILL whatever of its session is left after 30 s (a
    worker's warm shutdown waits for its tasks, which a failed run may have left waiting)."""
    for process in processes:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
