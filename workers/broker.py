"""The broker: Redis when ``LEVIER_REDIS_URL`` is set, otherwise in-process (StubBroker).

Every process declares every task on its broker (so queues exist for the relay to send to); only
worker processes consume them.
"""

from __future__ import annotations

import threading

import dramatiq
import redis
import structlog
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, CurrentMessage, Middleware
from opentelemetry.trace import SpanKind

from backend.config import Settings
from backend.core import tracing
from backend.core.jobs import TASKS, TaskSpec
from backend.core.outbox import OutboxMessage, SendToBroker
from workers.health import Stamp
from workers.observability import HEADERS_OPTION, JobObservability, observability_of
from workers.runtime import TaskRuntime

log = structlog.get_logger("levier.worker")


class Heartbeat(Middleware):
    """A worker's heartbeat, and the timely return of the jobs a dead worker held.

    dramatiq's Redis broker notes a heartbeat on each of a worker's commands and keeps the
    messages a worker fetched in a set of that worker's until it acknowledges them. Only its
    "maintenance" gives the messages of a worker whose heartbeat is older than the timeout back to
    their queue, and it runs on a random 1 in 1,000 commands, for the queue of that command: a
    killed worker's job waited many minutes. Here every worker, on a timer, beats and runs the
    maintenance of every queue: a live worker beats even when all its threads are busy (so it is
    never taken for dead), and a dead worker's jobs are queued again at most a third of the
    timeout after its heartbeat expired. Tasks are idempotent, and imports resume from their last
    checkpoint, so a job run again does its work once.
    """

    def __init__(self, broker: RedisBroker, heartbeat_timeout_ms: int) -> None:
        self._broker = broker
        self._interval = heartbeat_timeout_ms / 3000
        # The same broker id and connections, with maintenance on every command it sends.
        self._maintenance = RedisBroker(  # type: ignore[no-untyped-call]
            client=broker.client,
            namespace=broker.namespace,
            middleware=[],
            heartbeat_timeout=heartbeat_timeout_ms,
            dead_message_ttl=broker.dead_message_ttl,
            maintenance_chance=MAINTENANCE_SCALE,
        )
        self._maintenance.broker_id = broker.broker_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Touched after every round, beaten or failed: the worker's liveness probe reads it.
        self.rounds = Stamp()

    def beat(self) -> None:
        """Note this worker alive and requeue dead workers' messages, on every queue."""
        queues = self._broker.get_declared_queues() | set(self._broker.delay_queues)
        for queue in sorted(queues):
            # Any command beats and (on this broker) runs the queue's maintenance; qsize only reads.
            self._maintenance.do_qsize(queue)

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:  # Redis unreachable: beat again on the next round
                log.warning("worker_heartbeat_failed", error=f"{type(exc).__name__}: {exc}")
            self.rounds.touch()
            if self._stop.wait(self._interval):
                return

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="levier-heartbeat", daemon=True)
        self._thread.start()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Not before: a worker finishing its tasks while shutting down must still look alive.
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def heartbeat_of(broker: dramatiq.Broker) -> Heartbeat | None:
    """The broker's Heartbeat middleware (Redis brokers only)."""
    return next((m for m in broker.middleware if isinstance(m, Heartbeat)), None)


def build_broker(settings: Settings, role: str = tracing.WORKER) -> dramatiq.Broker:
    """``role``: the process's (api, worker, scheduler, cli), the service its spans are of."""
    broker: dramatiq.Broker
    if settings.redis_url:
        timeout_ms = int(settings.worker_heartbeat_timeout_seconds * 1000)
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url,
            namespace=settings.redis_namespace,
            heartbeat_timeout=timeout_ms,
        )
        broker.add_middleware(Heartbeat(broker, timeout_ms))
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(JobObservability(tracing.tracer_provider(settings, role)))
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
    """Send an outbox row as a dramatiq message whose id is the outbox id. Its headers (trace
    context, request id) go in the message's options, the trace continued by a producer span:
    the hand-over to the broker, in the trace of the work that enqueued the row."""
    observability = observability_of(broker)
    tracer = observability.tracer if observability is not None else tracing.tracer_of(None)

    def enqueue(row: OutboxMessage, headers: dict[str, str]) -> None:
        broker.enqueue(
            dramatiq.Message(
                queue_name=row.queue_name,
                actor_name=row.task_name,
                args=(),
                kwargs=row.kwargs,
                options={HEADERS_OPTION: headers} if headers else {},
                message_id=str(row.id),
            )
        )

    def send(row: OutboxMessage) -> None:
        headers = {str(k): str(v) for k, v in (row.headers or {}).items()}
        if observability is None or observability.provider is None:
            enqueue(row, headers)  # tracing off: the headers travel as they are
            return
        parent = tracing.context_of(headers)
        with tracer.start_as_current_span(
            f"send {row.task_name}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "dramatiq",
                "messaging.operation.type": "send",
                "messaging.destination.name": row.queue_name,
                "messaging.message.id": str(row.id),
            },
        ) as span:
            if span.is_recording():
                tracing.inject_into(headers)
            enqueue(row, headers)

    return send


# A readiness probe must answer within its own timeout, even when Redis's host is silent.
PING_TIMEOUT_SECONDS = 2.0


def ping(broker: dramatiq.Broker) -> None:
    """Raise if the broker cannot be reached within a short timeout (the in-process broker
    always can)."""
    if isinstance(broker, RedisBroker):
        pool = broker.client.connection_pool
        options = {
            **pool.connection_kwargs,
            "socket_connect_timeout": PING_TIMEOUT_SECONDS,
            "socket_timeout": PING_TIMEOUT_SECONDS,
        }
        client = redis.Redis(
            connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class, max_connections=1, **options
            )
        )
        try:
            client.ping()
        finally:
            client.close()
            client.connection_pool.disconnect()
