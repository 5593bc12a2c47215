"""Loads every domain's tasks and runs the worker and scheduler processes."""

from __future__ import annotations

import asyncio
import gc
import importlib
import signal
import threading
from collections.abc import Collection

import dramatiq
import structlog
from dramatiq.asyncio import get_event_loop_thread
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.core import tracing
from backend.core.db import engine_for
from backend.core.jobs import TASKS
from backend.core.outbox import OutboxRelay
from backend.core.signals import signals
from backend.core.tenancy import make_session_factory
from backend.wiring import connect_domains
from workers import health
from workers.broker import build_broker, declare_tasks, heartbeat_of, sender
from workers.monitoring import BacklogSampler
from workers.runtime import TaskRuntime
from workers.scheduler import Scheduler

# Every domain with background work lists its tasks module here.
TASK_MODULES = (
    "backend.core.tasks",
    "backend.auth.tasks",
    "backend.tenancy.tasks",
    "backend.profiles.tasks",
    "backend.imports.tasks",
    "backend.webhooks.tasks",
    "backend.connectors.tasks",
    "backend.triggers.tasks",
    "backend.rfm.tasks",
    "backend.segments.tasks",
    "backend.messaging.tasks",
    "backend.campaigns.tasks",
    "backend.scenarios.tasks",
    "backend.billing.tasks",
)

log = structlog.get_logger("levier.worker")


def load_tasks() -> None:
    """Import every table and every domain's tasks, and wire the domains' signals."""
    importlib.import_module("backend.models")
    for module in TASK_MODULES:
        importlib.import_module(module)
    connect_domains(signals)


def build_job_system(
    settings: Settings, role: str = tracing.WORKER
) -> tuple[dramatiq.Broker, TaskRuntime]:
    """A broker with every task declared, and the runtime its actors run through; ``role``:
    the process's, for its spans (api, worker, scheduler, cli)."""
    load_tasks()
    broker = build_broker(settings, role)
    runtime = TaskRuntime(settings, role)
    runtime.send = sender(broker)
    declare_tasks(broker, runtime)
    return broker, runtime


class QueueSelectionError(ValueError):
    """``--queues`` / ``--exclude-queues`` name a queue no task uses, or leave none to consume."""


def known_queues() -> frozenset[str]:
    """Every queue a task of the registry is sent to."""
    load_tasks()
    return frozenset(spec.queue for spec in TASKS.values())


def select_queues(
    queues: Collection[str] = (), exclude: Collection[str] = ()
) -> frozenset[str] | None:
    """The queues a worker consumes: ``queues`` if given, else every queue but ``exclude``;
    ``None`` (every queue, those of tasks added later included) when neither is given."""
    if queues and exclude:
        raise QueueSelectionError("give --queues or --exclude-queues, not both")
    known = known_queues()
    unknown = sorted((set(queues) | set(exclude)) - known)
    if unknown:
        raise QueueSelectionError(
            f"unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(sorted(known))}"
        )
    if queues:
        return frozenset(queues)
    if exclude:
        selected = known - set(exclude)
        if not selected:
            raise QueueSelectionError("--exclude-queues leaves no queue to consume")
        return selected
    return None


def start_worker(
    broker: dramatiq.Broker,
    threads: int,
    poll_ms: int,
    queues: frozenset[str] | None = None,
) -> dramatiq.Worker:
    """Start consuming ``queues`` (every declared queue when None), and their delay queues."""
    worker = dramatiq.Worker(
        broker,
        queues=set(queues) if queues else None,
        worker_threads=threads,
        worker_timeout=poll_ms,
    )
    worker.start()
    return worker


def stop_worker(worker: dramatiq.Worker, runtime: TaskRuntime) -> None:
    """Dispose the runtime's engine on the worker's loop, then stop the worker."""
    from dramatiq.asyncio import get_event_loop_thread

    loop_thread = get_event_loop_thread()
    if loop_thread is not None:
        loop_thread.run_coroutine(runtime.dispose())
        # Pooled SMTP connections and provider HTTP clients belong to the worker's loop.
        from backend.messaging.providers.registry import close_providers

        loop_thread.run_coroutine(close_providers())
    worker.stop()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def run_worker(settings: Settings, threads: int = 8, queues: frozenset[str] | None = None) -> None:
    """`levier worker`: consume ``queues`` (every queue when None) until SIGINT or SIGTERM."""
    if not settings.redis_url:
        raise SystemExit(
            "levier worker needs LEVIER_REDIS_URL; `levier serve` runs jobs in-process"
        )
    broker, runtime = build_job_system(settings)
    if settings.gc_freeze:
        # As the API does at startup: what loading built lives as long as the process, and a
        # batch's rows would otherwise set off full collections that walk every loaded module.
        gc.collect()
        gc.freeze()
    worker = start_worker(broker, threads, settings.worker_poll_ms, queues)
    probes = _start_worker_probes(settings, worker, runtime)
    log.info(
        "worker_started",
        queues=sorted(queues if queues else broker.get_declared_queues()),
        threads=threads,
        health_port=probes.port if probes else None,
    )
    _wait_for_signal()
    stop_worker(worker, runtime)
    if probes is not None:
        probes.stop()


def _start_worker_probes(
    settings: Settings, worker: dramatiq.Worker, runtime: TaskRuntime
) -> health.HealthServer | None:
    """Liveness: the heartbeat loop turns, every consumer and worker thread lives, the tasks'
    event loop answers. Readiness: PostgreSQL (through the tasks' engine) and Redis answer."""
    assert settings.redis_url is not None
    heartbeat = heartbeat_of(worker.broker)
    assert heartbeat is not None, "a Redis broker carries the Heartbeat middleware"

    def threads() -> dict[str, threading.Thread]:
        named: dict[str, threading.Thread] = {
            f"consumer:{queue}": thread for queue, thread in worker.consumers.items()
        }
        named |= {f"worker:{n}": thread for n, thread in enumerate(worker.workers)}
        return named

    def loop() -> asyncio.AbstractEventLoop | None:
        thread = get_event_loop_thread()
        return thread.loop if thread is not None else None

    return health.start_health_server(
        settings,
        liveness={
            "heartbeat": health.recent(
                heartbeat.rounds, settings.health_stall_seconds, "heartbeat"
            ),
            "threads": health.threads_alive(threads),
            "event_loop": health.loop_answers(loop),
        },
        readiness={
            "database": health.database_reachable(loop, runtime.session_factory),
            "broker": health.broker_reachable(settings.redis_url),
        },
    )


async def _run_scheduler(settings: Settings) -> None:
    broker, _runtime = build_job_system(settings, tracing.SCHEDULER)
    engine = engine_for(settings, "scheduler", tracing.SCHEDULER)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    relay = OutboxRelay(factory, sender(broker), interval_seconds=settings.relay_interval_seconds)
    scheduler = Scheduler(factory, relay, interval_seconds=settings.scheduler_interval_seconds)
    sampler = BacklogSampler(factory, broker, interval_seconds=settings.backlog_sample_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    probes = _start_scheduler_probes(settings, scheduler, loop, factory)
    log.info("scheduler_started", health_port=probes.port if probes else None)
    try:
        await asyncio.gather(scheduler.run(stop), relay.run(stop), sampler.run(stop))
    finally:
        if probes is not None:
            probes.stop()
        await engine.dispose()
        tracing.flush(tracing.tracer_provider(settings, tracing.SCHEDULER))


def _start_scheduler_probes(
    settings: Settings,
    scheduler: Scheduler,
    loop: asyncio.AbstractEventLoop,
    factory: async_sessionmaker[AsyncSession],
) -> health.HealthServer | None:
    """Liveness: the scheduler's loop turns and its event loop answers. Readiness: PostgreSQL
    and, when set, Redis answer."""
    readiness = {"database": health.database_reachable(lambda: loop, lambda: factory)}
    if settings.redis_url:
        readiness["broker"] = health.broker_reachable(settings.redis_url)
    return health.start_health_server(
        settings,
        liveness={
            "scheduler": health.recent(
                scheduler.rounds, settings.health_stall_seconds, "scheduler"
            ),
            "event_loop": health.loop_answers(lambda: loop),
        },
        readiness=readiness,
    )


def run_scheduler(settings: Settings) -> None:
    """`levier scheduler`: periodic and due work, and the outbox relay, until a signal."""
    asyncio.run(_run_scheduler(settings))
