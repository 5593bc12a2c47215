"""Prometheus metrics on a port of their own (``LEVIER_METRICS_PORT``), never on the public one.

The API's request metrics (Litestar's Prometheus middleware), Levier's own (below) and the
process metrics go to prometheus_client's registry; a small HTTP server in a daemon thread serves
them. Kubernetes scrapes the pod's metrics port, which no Service or Ingress routes to from
outside.

Under ``levier serve --workers N`` every API process writes its values in a shared folder
(prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``) and the parent serves their
sum: each gauge below therefore says how processes combine (``multiprocess_mode``); the option
is ignored in a single process (worker, scheduler, ``serve`` with one process).

Labels stay few and bounded: actor, queue, channel, provider, outcome, pool — never a brand.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from backend.config import Settings

# Jobs last from milliseconds (a provisioning) to many minutes (a bulk import).
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

JOBS = Counter(
    "levier_jobs",
    "Job attempts that ended, per actor and outcome: succeeded, failed (an attempt that raised; "
    "retried unless it was the last).",
    ["actor", "queue", "outcome"],
)
JOB_DURATION = Histogram(
    "levier_job_duration_seconds",
    "How long a job attempt ran, per actor.",
    ["actor", "queue"],
    buckets=JOB_BUCKETS,
)
JOBS_DEAD_LETTERED = Counter(
    "levier_jobs_dead_lettered",
    "Jobs that failed for good (retries exhausted) and went to their queue's dead letters.",
    ["actor", "queue"],
)
QUEUE_MESSAGES = Gauge(
    "levier_queue_messages",
    "Messages of a broker queue: ready (waiting for a worker), delayed (retries and delayed "
    "sends), in_flight (fetched by a worker, not acknowledged), dead (dead letters).",
    ["queue", "state"],
    multiprocess_mode="mostrecent",
)
QUEUE_OLDEST_AGE = Gauge(
    "levier_queue_oldest_message_age_seconds",
    "Age of the next ready message of a queue (0 when the queue is empty).",
    ["queue"],
    multiprocess_mode="mostrecent",
)
OUTBOX_PENDING = Gauge(
    "levier_outbox_pending",
    "Outbox rows committed and not yet handed to the broker.",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_PENDING_AGE = Gauge(
    "levier_outbox_oldest_pending_age_seconds",
    "Age of the oldest outbox row not yet handed to the broker (0 when none): grows while the "
    "broker is down.",
    multiprocess_mode="mostrecent",
)
OUTBOX_UNFINISHED = Gauge(
    "levier_outbox_unfinished",
    "Outbox rows handed to the broker whose job has not finished yet (queued, running, "
    "retrying — or lost with the broker's data: `levier jobs redrive-outbox`).",
    multiprocess_mode="mostrecent",
)
OUTBOX_FAILED = Gauge(
    "levier_outbox_failed",
    "Outbox rows whose job failed for good, still kept (`levier jobs failed list`).",
    multiprocess_mode="mostrecent",
)
OUTBOX_RELAYED = Counter("levier_outbox_relayed", "Outbox rows handed to the broker.")
OUTBOX_SEND_ERRORS = Counter(
    "levier_outbox_send_errors", "Attempts to hand an outbox row to the broker that failed."
)
DUE_WORK_LAG = Gauge(
    "levier_due_work_lag_seconds",
    "How long the oldest due and unclaimed work has been due (0 when the scheduler keeps up).",
    multiprocess_mode="mostrecent",
)
DUE_WORK_OVERDUE = Gauge(
    "levier_due_work_overdue",
    "Due work past its time and not yet claimed by a scheduler.",
    multiprocess_mode="mostrecent",
)
WEBHOOK_ATTEMPTS = Counter(
    "levier_webhook_attempts",
    "Outbound webhook delivery attempts, per outcome: succeeded, retrying (failed, another "
    "attempt scheduled), failed (failed, no attempt left).",
    ["outcome"],
)
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "levier_webhook_endpoints_disabled",
    "Webhook endpoints disabled after too many failed attempts in a row.",
)
SEND_OUTCOMES = Counter(
    "levier_send_outcomes",
    "Messages that reached an outcome, per channel, provider (none: refused or failed before "
    "one was chosen) and outcome: sent, deferred, refused, failed.",
    ["channel", "provider", "outcome"],
)
DB_POOL_CHECKED_OUT = Gauge(
    "levier_db_pool_checked_out",
    "Database connections in use, per pool (api, jobs, scheduler, cli).",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_CONNECTIONS = Gauge(
    "levier_db_pool_connections",
    "Database connections open (in use or idle in the pool), per pool.",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "levier_db_pool_capacity",
    "The most connections a pool may open (pool size + overflow); summed over processes.",
    ["pool"],
    multiprocess_mode="livesum",
)


def observe_pool(engine: AsyncEngine, pool_name: str) -> None:
    """Keep ``levier_db_pool_*{pool=pool_name}`` up to date from the engine's pool events."""
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool):
        DB_POOL_CAPACITY.labels(pool_name).set(pool.size() + max(pool._max_overflow, 0))
    checked_out = DB_POOL_CHECKED_OUT.labels(pool_name)
    connections = DB_POOL_CONNECTIONS.labels(pool_name)
    target = engine.sync_engine
    # A connection handed out is given back (checkin) or taken out of the pool (detach).
    event.listen(target, "checkout", lambda *_: checked_out.inc())
    event.listen(target, "checkin", lambda *_: checked_out.dec())
    event.listen(target, "detach", lambda *_: checked_out.dec())
    event.listen(target, "connect", lambda *_: connections.inc())
    event.listen(target, "close", lambda *_: connections.dec())
    event.listen(target, "close_detached", lambda *_: connections.dec())


def count_send_outcomes(outcomes: Iterable[tuple[str, str | None, str]]) -> None:
    """Count messages' outcomes given as (channel, provider kind or None, status)."""
    for channel, provider, outcome in outcomes:
        SEND_OUTCOMES.labels(channel, provider or "none", outcome).inc()


def start_metrics_server(
    settings: Settings, *, multiprocess_dir: Path | None = None
) -> tuple[WSGIServer, threading.Thread] | None:
    """Serve ``/metrics`` on ``metrics_host:metrics_port`` (nothing when no port is set).

    ``multiprocess_dir``: the folder where several API processes write their metrics
    (prometheus_client's multiprocess mode); this process then serves their sum.
    """
    if settings.metrics_port is None:
        return None
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
