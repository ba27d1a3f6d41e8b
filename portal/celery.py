"""The Celery app (`celery -A portal worker -B`); configuration comes from Django settings."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections(sender=None, **kwargs) -> None:
    """A task uses the database connection as a request does: kept for CONN_MAX_AGE and
    checked before use (CONN_HEALTH_CHECKS), instead of opened and closed around every task by
    Celery's Django fixup (see CELERY_DB_REUSE_MAX in settings): a provisioning pass is one
    task, and a new PostgreSQL connection cost more than a pass's queries."""
    from django.db import close_old_connections

    if getattr(sender.request, "is_eager", False):
        return  # run inline by its caller, inside the caller's connection and transaction
    close_old_connections()


@worker_process_shutdown.connect
def _metrics_process_dead(pid=None, **kwargs) -> None:
    """A pool process is exiting: with PROMETHEUS_MULTIPROC_DIR (see portal.metrics), its live
    gauges stop counting; its counters and histograms stay, as counted."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
