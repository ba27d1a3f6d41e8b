"""/metrics: every process's metrics (portal.metrics) and what is read at scrape time: machines
and devices by state from the database (one grouped query each), the depth of each Celery queue
and whether the broker answers. Nothing here is kept in a process between scrapes.

A scrape never fails because a dependency is down: a database that does not answer leaves the
state gauges out (and is logged), a broker that does not answer within HEALTH_CHECK_TIMEOUT is
`ironyard_broker_up 0` with no queue depths.
"""

import contextlib
import logging

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client.core import GaugeMetricFamily

from inventory.models import Facility, Machine
from portal import metrics as portal_metrics
from portal.celery import app

from .doorbell import site_queue
from .models import Device

logger = logging.getLogger(__name__)


def _by_state(model, states, exclude=()) -> dict[str, int]:
    """{state: rows} over every state in `states` (0 where none), in one grouped query."""
    counts = dict.fromkeys(states, 0)
    rows = model.objects.exclude(state__in=exclude).values_list("state").annotate(n=Count("pk"))
    # order_by(): a model's default ordering would join the GROUP BY.
    counts.update(dict(rows.order_by()))
    return counts


class LifecycleStates:
    """Machines by state (operator view) and live devices by state (Metal's enum; deleted
    devices are history, not counted)."""

    def collect(self):
        try:
            machines = _by_state(Machine, Machine.State.values)
            devices = _by_state(
                Device, set(Device.State.values) - {Device.State.DELETED}, [Device.State.DELETED]
            )
        except DatabaseError as exc:
            logger.warning("metrics: state counts left out, database error %s", type(exc).__name__)
            return
        for name, help_text, counts in (
            ("ironyard_machines", "Machines in the inventory, by state.", machines),
            ("ironyard_devices", "Devices not deleted, by state.", devices),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["state"])
            for state, count in sorted(counts.items()):
                family.add_metric([state], count)
            yield family


def _queues() -> list[str]:
    """The default queue and every facility's site queue."""
    queues = [app.conf.task_default_queue]
    try:
        codes = Facility.objects.order_by("code").values_list("code", flat=True)
        queues += [site_queue(code) for code in codes]
    except DatabaseError as exc:
        logger.warning("metrics: site queues unknown, database error %s", type(exc).__name__)
    return queues


def _depth(connection, queue: str) -> int:
    """Messages waiting in `queue`; 0 for one the broker has never seen (nothing was ever sent
    there). A fresh channel each: AMQP closes a channel whose passive declare found nothing."""
    channel = connection.channel()
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except connection.channel_errors:
        return 0
    finally:
        with contextlib.suppress(Exception):  # closed by the broker already
            channel.close()


class BrokerQueues:
    """Celery queue depths, asked of the broker with a short timeout, and whether it answered."""

    def collect(self):
        queues = _queues()
        depth = GaugeMetricFamily(
            "ironyard_celery_queue_messages",
            "Messages waiting in a Celery queue (the default one and each site's).",
            labels=["queue"],
        )
        timeout = settings.HEALTH_CHECK_TIMEOUT
        try:
            with app.connection_for_read(connect_timeout=timeout) as connection:
                connection.ensure_connection(max_retries=0, timeout=timeout)
                for queue in queues:
                    depth.add_metric([queue], _depth(connection, queue))
        except Exception as exc:  # whatever the transport raises: the scrape goes on
            logger.warning("metrics: broker did not answer (%s)", type(exc).__name__)
            up = 0
        else:
            up = 1
            yield depth
        yield GaugeMetricFamily(
            "ironyard_broker_up", "1 if the Celery broker answered this scrape, else 0.", up
        )


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for the operators' scrapers (METRICS_ALLOWED_NETWORKS or
    METRICS_TOKEN, see portal.metrics)."""
    return portal_metrics.serve(request, [LifecycleStates(), BrokerQueues()])
