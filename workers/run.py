"""Loads every domain's tasks and runs the worker and scheduler processes."""

from __future__ import annotations

import asyncio
import gc
import importlib
import signal
import threading

import dramatiq
import structlog

from backend.config import Settings
from backend.core.db import create_engine
from backend.core.outbox import OutboxRelay
from backend.core.signals import signals
from backend.core.tenancy import make_session_factory
from backend.wiring import connect_domains
from workers.broker import build_broker, declare_tasks, sender
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
    "backend.billing.tasks",
)

log = structlog.get_logger("levier.worker")


def load_tasks() -> None:
    """Import every table and every domain's tasks, and wire the domains' signals."""
    importlib.import_module("backend.models")
    for module in TASK_MODULES:
        importlib.import_module(module)
    connect_domains(signals)


def build_job_system(settings: Settings) -> tuple[dramatiq.Broker, TaskRuntime]:
    """A broker with every task declared, and the runtime its actors run through."""
    load_tasks()
    broker = build_broker(settings)
    runtime = TaskRuntime(settings)
    runtime.send = sender(broker)
    declare_tasks(broker, runtime)
    return broker, runtime


def start_worker(broker: dramatiq.Broker, threads: int, poll_ms: int) -> dramatiq.Worker:
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=poll_ms)
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


def run_worker(settings: Settings, threads: int = 8) -> None:
    """`levier worker`: consume every queue until SIGINT or SIGTERM."""
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
    worker = start_worker(broker, threads, settings.worker_poll_ms)
    log.info("worker_started", queues=sorted(broker.get_declared_queues()), threads=threads)
    _wait_for_signal()
    stop_worker(worker, runtime)


async def _run_scheduler(settings: Settings) -> None:
    broker, _runtime = build_job_system(settings)
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    relay = OutboxRelay(factory, sender(broker), interval_seconds=settings.relay_interval_seconds)
    scheduler = Scheduler(factory, relay, interval_seconds=settings.scheduler_interval_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("scheduler_started")
    try:
        await asyncio.gather(scheduler.run(stop), relay.run(stop))
    finally:
        await engine.dispose()


def run_scheduler(settings: Settings) -> None:
    """`levier scheduler`: periodic and due work, and the outbox relay, until a signal."""
    asyncio.run(_run_scheduler(settings))
