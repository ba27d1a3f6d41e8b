"""gunicorn settings for the web processes: `gunicorn portal.wsgi -c python:portal.gunicorn_config`.

With PROMETHEUS_MULTIPROC_DIR set (see portal.metrics), a worker that exits is marked dead so
that its live gauges stop counting; its counters and histograms stay in the directory, as they
were counted. Emptying the directory before gunicorn starts is the job of whoever starts it.
"""

import os

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    """gunicorn's hook, in the master, after a worker process exited."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
