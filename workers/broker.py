"""The broker: Redis when ``LEVIER_REDIS_URL`` is set, otherwise in-process (StubBroker).

Every process declares every task on its broker (so queues exist for the relay to send to); only
worker processes consume them.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage

from backend.config import Settings
from backend.core.jobs import TASKS, TaskSpec
from backend.core.outbox import OutboxMessage, SendToBroker
from workers.runtime import TaskRuntime


def build_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url, namespace=settings.redis_namespace
        )
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    return broker


def _actor_function(runtime: TaskRuntime, spec: TaskSpec):  # type: ignore[no-untyped-def]
    async def run(**kwargs: object) -> None:
        await runtime.run(spec, dict(kwargs))

    run.__name__ = spec.name.replace(".", "_")
    return run


def declare_tasks(broker: dramatiq.Broker, runtime: TaskRuntime) -> None:
    """Declare one dramatiq actor per task of the registry, each running through ``runtime``."""
    for spec in TASKS.values():
        dramatiq.Actor(
            _actor_function(runtime, spec),
            broker=broker,
            actor_name=spec.name,
            queue_name=spec.queue,
            priority=0,
            options={"max_retries": spec.max_retries, "time_limit": spec.time_limit_ms},
        )


def sender(broker: dramatiq.Broker) -> SendToBroker:
    """Send an outbox row as a dramatiq message whose id is the outbox id."""

    def send(row: OutboxMessage) -> None:
        broker.enqueue(
            dramatiq.Message(
                queue_name=row.queue_name,
                actor_name=row.task_name,
                args=(),
                kwargs=row.kwargs,
                options={},
                message_id=str(row.id),
            )
        )

    return send


def ping(broker: dramatiq.Broker) -> None:
    """Raise if the broker cannot be reached (the in-process broker always can)."""
    if isinstance(broker, RedisBroker):
        broker.client.ping()
