"""The messages that reached the broker the suite runs against (RabbitMQ in CI, the embedded
filesystem broker otherwise), read back from a queue: what a worker would get."""

from portal.celery import app


def _bound(channel, name: str):
    # The queue as Celery declares it when it routes a task there.
    queue = app.amqp.queues.get(name) or app.amqp.queues.new_missing(name)
    bound = queue.bind(channel)
    bound.declare()
    return bound


def purge(*queues: str) -> None:
    """Empty these queues (other tests publish to them too)."""
    with app.connection_for_write() as connection:
        for name in queues:
            _bound(connection.default_channel, name).purge()


def drain(*queues: str) -> list[tuple[str, list, str]]:
    """Take every message off these queues: (task name, args, queue), queue by queue (in the
    order published on RabbitMQ; the embedded filesystem broker keeps none within a
    millisecond)."""
    found = []
    with app.connection_for_read() as connection:
        for name in queues:
            queue = _bound(connection.default_channel, name)
            while (message := queue.get(no_ack=True)) is not None:
                args, _kwargs, _embed = message.decode()
                found.append((message.headers["task"], args, name))
    return found


def operations_rung(queue: str) -> list[int]:
    """The operation ids that the messages on a site queue ask a worker to run."""
    ids = []
    for task, args, _ in drain(queue):
        if task == "provisioning.tasks.run_operation":
            ids.append(args[0])
        elif task == "provisioning.tasks.run_operations":
            ids.extend(args[0])
    return ids


def dead_broker(monkeypatch, url: str) -> None:
    """Point the app at a broker that does not answer, for one test (CELERY_BROKER_URL in the
    environment outranks the app's configuration, so both; the configuration first, as what
    it reads back to restore comes from the environment)."""
    monkeypatch.setattr(app.conf, "broker_url", url)
    monkeypatch.setenv("CELERY_BROKER_URL", url)
