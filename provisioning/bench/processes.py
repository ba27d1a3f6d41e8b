"""Processes the benchmarks start and measure: a free port, gunicorn serving the portal, and
the CPU time of a process tree."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its live descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, stack, seen = 0.0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        stack.extend(int(c) for c in children)
    return total


def named_cpu_seconds(name: str) -> float:
    """User + system CPU of every live process called `name` (its /proc comm) and of the
    children they reaped, such as the PostgreSQL server's backends (the postmaster reaps those
    that end) when the database runs on this machine; 0 when none does."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1]
        if comm == name:
            fields = rest.split()
            total += sum(int(f) for f in fields[11:15]) / ticks  # utime, stime, cutime, cstime
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
