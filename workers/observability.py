"""What a job leaves behind: its metrics, its span, and log lines carrying its request id.

A dramatiq middleware, on every broker (Redis or in-process). Before a message runs it restores
the trace context and the request id that travelled with it (outbox row → message options),
starts a consumer span as a child of the enqueuing span and makes it current; the actor's
coroutine inherits that context (dramatiq's event loop runs it in a copy of the worker thread's
context), so the job's SQL spans and log lines belong to it. After the message: the duration and
outcome per actor, the span ended with the error if any. A message the broker dead-letters
(retries exhausted) is counted apart.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog
from dramatiq.common import q_name
from dramatiq.middleware import Middleware
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from backend.core import tracing
from backend.core.metrics import JOB_DURATION, JOBS, JOBS_DEAD_LETTERED

# The message option holding the headers of the outbox row (trace context, request id).
HEADERS_OPTION = "levier_headers"


@dataclass
class _Running:
    started: float
    span: trace.Span
    token: object
    log_keys: tuple[str, ...]


class JobObservability(Middleware):
    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self.tracer = tracing.tracer_of(provider)
        # A worker thread runs one message at a time, from before_ to after_process_message.
        self._local = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        headers = message.options.get(HEADERS_OPTION) or {}
        queue = q_name(message.queue_name)
        span = self.tracer.start_span(
            f"process {message.actor_name}",
            context=tracing.context_of(headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "dramatiq",
                "messaging.operation.type": "process",
                "messaging.destination.name": queue,
                "messaging.message.id": message.message_id,
                "levier.task": message.actor_name,
                "levier.retries": int(message.options.get("retries", 0)),
            },
        )
        token = tracing.attach(trace.set_span_in_context(span))
        log_values = {
            "request_id": tracing.request_id_in(headers),
            "trace_id": tracing.trace_id_of(span),
        }
        bound = {key: value for key, value in log_values.items() if value is not None}
        structlog.contextvars.bind_contextvars(**bound)
        self._local.running = _Running(time.perf_counter(), span, token, tuple(bound))

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        running: _Running | None = getattr(self._local, "running", None)
        self._local.running = None
        if running is None:
            return
        actor, queue = message.actor_name, q_name(message.queue_name)
        JOB_DURATION.labels(actor, queue).observe(time.perf_counter() - running.started)
        JOBS.labels(actor, queue, "failed" if exception is not None else "succeeded").inc()
        if exception is not None:
            running.span.record_exception(exception)
            running.span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
        self._finish(running)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        running: _Running | None = getattr(self._local, "running", None)
        self._local.running = None
        if running is not None:
            JOBS.labels(message.actor_name, q_name(message.queue_name), "skipped").inc()
            self._finish(running)

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        JOBS_DEAD_LETTERED.labels(message.actor_name, q_name(message.queue_name)).inc()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        tracing.flush(self.provider)

    def _finish(self, running: _Running) -> None:
        running.span.end()
        tracing.detach(running.token)
        structlog.contextvars.unbind_contextvars(*running.log_keys)


def observability_of(broker: dramatiq.Broker) -> JobObservability | None:
    """The broker's observability middleware (None for a bare broker)."""
    return next((m for m in broker.middleware if isinstance(m, JobObservability)), None)
