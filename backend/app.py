"""``create_app(settings)``: the Litestar application with its routes, GraphQL, jobs and plugins."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.prometheus import PrometheusConfig
from litestar.template.config import TemplateConfig

import backend.models  # noqa: F401  (every table, registered)
from backend.audit.routes import AuditController
from backend.auth.backoff import build_sign_in_backoff
from backend.auth.caller_cache import CallerCache
from backend.auth.middleware import AuthenticationMiddleware
from backend.auth.oauth import AuthorizationServer
from backend.auth.oauth_routes import OAuthController, SignInController
from backend.auth.routes import ClientController
from backend.billing.routes import (
    AgencyBillingController,
    BrandBillingController,
    StripeWebhookController,
)
from backend.campaigns.routes import CampaignController
from backend.config import Settings, load_settings
from backend.connectors.routes import ConnectorController, HookController
from backend.content.coupons.routes import CouponPoolController
from backend.content.live.drawing import ImageCache
from backend.content.live.routes import LiveContentController
from backend.content.routes import SnippetController, TemplateController
from backend.core import tracing
from backend.core.db import engine_for
from backend.core.dependencies import provide_page, provide_session
from backend.core.edge import EdgeMiddleware
from backend.core.errors import EXCEPTION_HANDLERS
from backend.core.health import health, ready
from backend.core.idempotency import IdempotencyMiddleware
from backend.core.logging import RequestContextMiddleware, configure_logging
from backend.core.outbox import OutboxRelay, resend_unfinished
from backend.core.ratelimit import RateLimitMiddleware, build_rate_limiter
from backend.core.read_cache import config_cache_info
from backend.core.security_headers import SecurityHeadersMiddleware
from backend.core.signals import signals
from backend.core.tenancy import make_session_factory
from backend.events.batcher import SingleEventBatcher
from backend.events.routes import (
    EventController,
    EventSettingsController,
    EventTypeController,
    ProfileEventsController,
)
from backend.graphql import graphql_controller
from backend.imports.routes import ImportController
from backend.messaging.accounts.routes import (
    CapturedMessageController,
    ProviderAccountController,
    SenderIdentityController,
)
from backend.messaging.devices.routes import DeviceController
from backend.messaging.inbound.routes import InboundSmsController
from backend.messaging.providers.registry import close_providers
from backend.messaging.routes import (
    MessageController,
    PressurePolicyController,
    ProfileMessagesController,
)
from backend.messaging.tracking.outbox import OutboxController
from backend.messaging.tracking.routes import (
    MessagingHookController,
    TrackingController,
    UnsubscribeController,
)
from backend.openapi import openapi_config
from backend.profiles.exports.routes import ExportController
from backend.profiles.gdpr.routes import ProfileGdprController
from backend.profiles.linked.routes import LinkedTableController, ProfileLinkedController
from backend.profiles.routes import (
    MERGED_HANDLERS,
    ConsentTopicController,
    ProfileAttributeController,
    ProfileController,
)
from backend.programs.routes import ProgramController, ProgramTemplateController
from backend.rfm.routes import ProfileRfmController, RfmController
from backend.scenarios.routes import ScenarioController
from backend.segments.routes import ProfileSegmentsController, SegmentController
from backend.tenancy.routes import AgencyController, BrandController, BrandListController
from backend.triggers.routes import (
    ProfileTriggerOccurrenceController,
    TriggerController,
    TriggerOccurrenceController,
)
from backend.webhooks.routes import WebhookEndpointController
from backend.wiring import connect_domains
from workers.broker import ping, sender
from workers.monitoring import BacklogSampler
from workers.run import build_job_system, start_worker, stop_worker
from workers.scheduler import Scheduler

log = structlog.get_logger("levier.app")
TEMPLATES = Path(__file__).parent / "auth" / "templates"


def build_state(settings: Settings) -> dict[str, Any]:
    """What one deployment of the app holds: its connection pools, broker, limiters and relay.

    Kept apart from the routes so that the lifespan and every request read them from
    ``app.state`` alone (a test process builds the routes once and gives each test its own)."""
    engine = engine_for(settings, "api", tracing.API)
    session_factory = make_session_factory(
        engine,
        secret_key=settings.secret_key,
        info=config_cache_info(settings.config_cache_seconds),
    )
    broker, runtime = build_job_system(settings, tracing.API)
    relay = OutboxRelay(
        session_factory, sender(broker), interval_seconds=settings.relay_interval_seconds
    )
    return {
        "settings": settings,
        "engine": engine,
        "session_factory": session_factory,
        "broker": broker,
        "task_runtime": runtime,
        "relay": relay,
        "ping_broker": lambda: ping(broker),
        "worker": None,
        "rate_limiter": build_rate_limiter(settings),
        "sign_in_backoff": build_sign_in_backoff(settings),
        "caller_cache": CallerCache(settings.caller_cache_seconds),
        "event_batcher": SingleEventBatcher(session_factory, relay.wake),
        "oauth_server": AuthorizationServer(settings),
        "live_images": ImageCache(settings),
    }


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Relay, and in embedded mode worker threads and scheduler, for as long as the app serves."""
    state = app.state
    settings: Settings = state.settings
    stop = asyncio.Event()
    if settings.gc_freeze:
        # What startup built lives as long as the process: keeping it out of the
        # collector's full passes shortens the pauses they impose on requests in flight.
        gc.collect()
        gc.freeze()
    if settings.runs_embedded_worker and settings.redis_url is None:
        # The in-process broker's messages died with the process before this one: what it
        # sent and never finished goes out again (tasks are idempotent; imports resume).
        async with state.session_factory() as session, session.begin():
            resent = await resend_unfinished(session)
        if resent:
            log.info("unfinished_jobs_resent", count=resent)
    relay: OutboxRelay = state.relay
    loops = [asyncio.create_task(relay.run(stop), name="outbox-relay")]
    worker = None
    if settings.runs_embedded_worker:
        # One process runs the demo: worker threads and the scheduler live beside the API.
        worker = start_worker(state.broker, threads=2, poll_ms=settings.worker_poll_ms)
        state.worker = worker
        scheduler = Scheduler(
            state.session_factory, relay, interval_seconds=settings.scheduler_interval_seconds
        )
        loops.append(asyncio.create_task(scheduler.run(stop), name="scheduler"))
        sampler = BacklogSampler(
            state.session_factory, state.broker, interval_seconds=settings.backlog_sample_seconds
        )
        loops.append(asyncio.create_task(sampler.run(stop), name="backlog-sampler"))
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
        if worker is not None:
            await asyncio.to_thread(stop_worker, worker, state.task_runtime)
        await close_providers()  # pooled SMTP connections and HTTP clients of this loop
        await state.engine.dispose()
        if state.rate_limiter is not None:
            await state.rate_limiter.aclose()
        await state.sign_in_backoff.aclose()
        await state.live_images.aclose()
        await asyncio.to_thread(tracing.flush, tracing.tracer_provider(settings, tracing.API))


def own_signature_fields(app: Litestar) -> None:
    """Give each handler's signature model a field table of its own.

    Litestar's OpenAPI generation (2.25, ``_openapi/parameters.py``) documents the path
    parameters a handler does not consume by adding them, in place, to the handler's parsed
    signature — the very table its signature model checks requests against. After the first
    ``/schema`` request, every 422 of such a route (``{brand_id}`` routes above all) also named
    the path parameter. The copy keeps validation as registered."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            model = handler.signature_model
            model._fields = dict(model._fields)


def create_app(settings: Settings | None = None) -> Litestar:
    """The application for ``settings`` (read from the environment when not given)."""
    settings = (settings or load_settings()).validate()
    configure_logging(settings)
    connect_domains(signals)

    # Request metrics are recorded here and served on their own port (backend/core/metrics.py).
    prometheus = PrometheusConfig(app_name="levier", group_path=True, exclude=["/health"])
    cors = (
        CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Levier-Brand"],
            expose_headers=[
                "X-Request-ID",
                "Idempotent-Replayed",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
        )
        if settings.cors_origins
        else None
    )
    app = Litestar(
        route_handlers=[
            health,
            ready,
            AgencyController,
            BrandListController,
            BrandController,
            AuditController,
            AgencyBillingController,
            BrandBillingController,
            StripeWebhookController,
            ProfileAttributeController,
            ConsentTopicController,
            ProfileController,
            ProfileLinkedController,
            ProfileGdprController,
            LinkedTableController,
            ExportController,
            ImportController,
            WebhookEndpointController,
            SenderIdentityController,
            ProviderAccountController,
            CapturedMessageController,
            ConnectorController,
            HookController,
            EventController,
            ProfileEventsController,
            EventTypeController,
            EventSettingsController,
            TriggerController,
            TriggerOccurrenceController,
            ProfileTriggerOccurrenceController,
            RfmController,
            ProfileRfmController,
            SegmentController,
            CampaignController,
            ScenarioController,
            TemplateController,
            SnippetController,
            CouponPoolController,
            ProfileSegmentsController,
            ProgramController,
            ProgramTemplateController,
            MessageController,
            ProfileMessagesController,
            PressurePolicyController,
            DeviceController,
            InboundSmsController,
            MessagingHookController,
            OutboxController,
            TrackingController,
            UnsubscribeController,
            ClientController,
            SignInController,
            OAuthController,
            LiveContentController,
            graphql_controller(settings),
        ],
        dependencies={
            "db_session": Provide(provide_session),
            "page": Provide(provide_page, sync_to_thread=False),
        },
        middleware=[
            prometheus.middleware,
            AuthenticationMiddleware,
            RateLimitMiddleware,
            EdgeMiddleware,
            DefineMiddleware(IdempotencyMiddleware),
        ],
        exception_handlers={**EXCEPTION_HANDLERS, **MERGED_HANDLERS},
        openapi_config=openapi_config(),
        cors_config=cors,
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        lifespan=[lifespan],
        state=State(build_state(settings)),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,  # logging is configured once, as JSON, by configure_logging
    )
    own_signature_fields(app)
    # Route middleware skips unmatched routes (404, 405): the request context wraps everything,
    # and the request's span (when tracing is on) wraps the request context.
    provider = tracing.tracer_provider(settings, tracing.API)
    app.asgi_handler = tracing.traced_asgi(
        RequestContextMiddleware(
            tracing.traced_asgi(
                SecurityHeadersMiddleware(app.asgi_handler, hsts=settings.is_production),
                provider,
                inner=True,
            )
        ),
        provider,
    )
    return app
