"""OpenTelemetry tracing, off unless ``LEVIER_OTLP_ENDPOINT`` names an OTLP/HTTP collector.

One trace follows a piece of work across processes: the HTTP request (a server span), the SQL it
runs (client spans), the outbox row it commits, the relay handing that row to the broker (a
producer span) and the job a worker runs for it (a consumer span) with its own SQL. The W3C
``traceparent`` of the enqueuing context travels in the outbox row's ``headers``, then in the
dramatiq message's options; the request id travels beside it, so the job's log lines carry the
request id of the call that caused them.

Background loops (the relay's polling, the scheduler's ticks, the backlog sampler) run with
instrumentation suppressed: their idle SQL would otherwise be a new trace every second.

The providers are kept per configuration and passed explicitly (never installed globally), so
one process may hold apps of different settings, as the tests do.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.core.logging import bind_log_context, request_id_of

# The processes' roles: the suffix of service.name.
API, WORKER, SCHEDULER, CLI = "api", "worker", "scheduler", "cli"
REQUEST_ID_HEADER = "x-request-id"
INSTRUMENTATION_NAME = "levier"

_PROPAGATOR = TraceContextTextMapPropagator()
_PROVIDERS: dict[tuple[str, str, float], TracerProvider] = {}
_PROVIDERS_LOCK = threading.Lock()


def tracer_provider(settings: Settings, role: str) -> TracerProvider | None:
    """The provider of this process's spans (one per configuration), or None when tracing is
    off. Spans are batched and posted to ``<LEVIER_OTLP_ENDPOINT>/v1/traces``; the SDK's own
    ``OTEL_BSP_*`` and ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout, certificates) apply."""
    if not settings.otlp_endpoint:
        return None
    service = f"{settings.otlp_service_name}-{role}"
    key = (settings.otlp_endpoint, service, settings.trace_sample_ratio)
    with _PROVIDERS_LOCK:
        provider = _PROVIDERS.get(key)
        if provider is None:
            provider = TracerProvider(
                resource=Resource.create({"service.name": service}),
                sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
            )
            endpoint = f"{settings.otlp_endpoint.rstrip('/')}/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
            _PROVIDERS[key] = provider
    return provider


def tracer_of(provider: TracerProvider | None) -> trace.Tracer:
    """Levier's own tracer on ``provider``; one that records nothing when tracing is off."""
    if provider is None:
        return trace.NoOpTracer()
    return provider.get_tracer(INSTRUMENTATION_NAME)


def flush(provider: TracerProvider | None, timeout_ms: int = 5_000) -> None:
    """Export the spans still buffered (a process stopping, an app's lifespan ending)."""
    if provider is not None:
        provider.force_flush(timeout_ms)


def instrument_engine(engine: AsyncEngine, provider: TracerProvider | None) -> None:
    """A client span per SQL statement of ``engine``, child of whatever span is current."""
    if provider is None:
        return
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    usage = NoOpMeter("levier").create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """Instrumented libraries (SQL) record nothing in this block: background polling."""
    with suppress_instrumentation():
        yield


# Propagation: what travels with a piece of work ----------------------------------------------


def current_headers() -> dict[str, str] | None:
    """The current trace context and request id, as headers to store with work handed on
    (an outbox row); None when there is neither."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if isinstance(request_id, str):
        headers[REQUEST_ID_HEADER] = request_id
    return headers or None


def context_of(headers: Mapping[str, str] | None) -> Context:
    """The trace context carried by ``headers`` (an empty one when they carry none)."""
    return _PROPAGATOR.extract(dict(headers or {}), context=Context())


def inject_into(headers: dict[str, str], context: Context | None = None) -> None:
    """Write the trace context (the current one by default) into ``headers``."""
    _PROPAGATOR.inject(headers, context=context)


def request_id_in(headers: Mapping[str, str] | None) -> str | None:
    return (headers or {}).get(REQUEST_ID_HEADER)


def trace_id_of(span: trace.Span) -> str | None:
    """The hexadecimal trace id of a recording span (for log lines), else None."""
    if not span.is_recording():
        return None
    return trace.format_trace_id(span.get_span_context().trace_id)


def attach(context: Context) -> object:
    return otel_context.attach(context)


def detach(token: object) -> None:
    otel_context.detach(token)  # type: ignore[arg-type]


# HTTP --------------------------------------------------------------------------------------------


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    # The route is known only once Litestar has routed: the name is completed afterwards.
    return str(scope.get("method", "HTTP")), {}


class _RouteDetails:
    """Inside the server span: names it after the route template (``GET
    /v1/brands/{brand_id}/profiles``, not the path with its ids), tags it with the request id,
    and puts the trace id on the request's log lines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        if scope["type"] != ScopeType.HTTP or not span.is_recording():
            await self.app(scope, receive, send)
            return
        span.set_attribute("levier.request_id", request_id_of(scope))
        bind_log_context(scope, trace_id=trace_id_of(span))

        async def send_naming_the_span(message: Message) -> None:
            # Routed by now; the span ends with the response, so it is named before.
            template = scope.get("path_template")
            if message["type"] == "http.response.start" and template:
                span.update_name(f"{scope['method']} {template}")
                span.set_attribute("http.route", template)
            await send(message)

        await self.app(scope, receive, send_naming_the_span)


def traced_asgi(app: ASGIApp, provider: TracerProvider | None, *, inner: bool = False) -> ASGIApp:
    """``inner``: the part that runs inside the request context (names and tags the span);
    otherwise the outer server span itself. Both are ``app`` unchanged when tracing is off."""
    if provider is None:
        return app
    if inner:
        return _RouteDetails(app)
    return OpenTelemetryMiddleware(  # type: ignore[return-value]
        app,
        excluded_urls="/health$,/ready$",
        default_span_details=_span_details,
        tracer_provider=provider,
        exclude_spans=["receive", "send"],
    )
