"""The ``levier`` command. Each command prints one JSON object on stdout; errors go to stderr
as JSON with a non-zero exit status."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import click
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings, SettingsError, export_to_child_processes, load_settings

P = ParamSpec("P")
R = TypeVar("R")

DEMO_EMAIL = "demo@levier.local"
DEMO_PASSWORD = "levier-demo-password"  # noqa: S105  (embedded demo only; refused in production)


def emit(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, default=str))


def fail(error: str, detail: str, code: int = 1) -> None:
    click.echo(json.dumps({"error": error, "detail": detail}), err=True)
    sys.exit(code)


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures into a JSON error on stderr and exit status 1."""
    from backend.core.database_roles import UnsafeDatabaseRole
    from backend.core.errors import LevierError

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except UnsafeDatabaseRole as exc:
            fail("unsafe-database-role", str(exc), 2)
        except SettingsError as exc:
            fail("invalid-settings", str(exc), 2)
        except LevierError as exc:
            fail(exc.slug, exc.detail or exc.title)
        raise AssertionError("unreachable")

    return wrapper


def settings_from(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def runtime_settings(ctx: click.Context) -> Settings:
    """The settings of a long-running process (API, worker, scheduler), once its database role
    is known to be bound by row-level security."""
    from backend.core.database_roles import ensure_safe_runtime_role

    settings = settings_from(ctx)
    ensure_safe_runtime_role(settings)
    return settings


async def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[R]]) -> R:
    """Run ``work`` in one committed transaction, then relay its jobs to a shared broker."""
    from backend.core.db import create_engine
    from backend.core.jobs import take_outbox_flag
    from backend.core.outbox import OutboxRelay
    from backend.core.signals import signals
    from backend.core.tenancy import make_session_factory, open_session
    from backend.wiring import connect_domains
    from workers.broker import sender
    from workers.run import build_job_system, load_tasks

    load_tasks()
    connect_domains(signals)  # the services run here send the domains' signals
    engine = create_engine(settings.database_url)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    try:
        async with open_session(factory, actor="operator:cli") as session:
            result = await work(session)
            await session.commit()
        # With the in-process broker nobody here consumes: `levier serve` relays the rows.
        if take_outbox_flag(session) and settings.redis_url:
            broker, _ = build_job_system(settings)
            await OutboxRelay(factory, sender(broker)).drain()
        return result
    finally:
        await engine.dispose()


def run(settings: Settings, work: Callable[[AsyncSession], Coroutine[Any, Any, R]]) -> R:
    return asyncio.run(_in_session(settings, work))


@click.group()
@click.pass_context
@handles_errors
def main(ctx: click.Context) -> None:
    """Levier: multi-tenant marketing activation backend."""
    ctx.obj = load_settings()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="API processes sharing the port (one per core pays on a busy node); needs Redis.",
)
@click.pass_context
@handles_errors
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the API and GraphQL (and, without Redis, the worker and scheduler in-process);
    Prometheus metrics on LEVIER_METRICS_PORT when set."""
    import uvicorn

    from backend.app import create_app
    from backend.core.metrics import start_metrics_server

    settings = settings_from(ctx)
    if workers > 1 and settings.runs_embedded_worker:
        # Each process would run its own in-memory broker: jobs queued in one never reach another.
        raise SettingsError(
            "levier serve --workers above 1 needs LEVIER_REDIS_URL (a shared broker)"
        )
    runtime_settings(ctx)
    emit(
        {
            "serving": f"http://{host}:{port}",
            "graphql": f"http://{host}:{port}/graphql",
            "openapi": f"http://{host}:{port}/schema",
            "embedded_worker": settings.runs_embedded_worker,
            "metrics": _metrics_url(settings),
        }
    )
    if workers > 1:
        with tempfile.TemporaryDirectory(prefix="levier-metrics-") as folder:
            if settings.metrics_port is not None:
                # prometheus_client's multiprocess mode: each API process writes its metrics
                # in this folder (the variable is the library's, read by the children), and
                # this process serves their sum.
                export_to_child_processes("PROMETHEUS_MULTIPROC_DIR", folder)
                start_metrics_server(settings, multiprocess_dir=Path(folder))
            # Each process builds its app from the environment, as this one did.
            uvicorn.run(
                "backend.app:create_app",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                forwarded_allow_ips=settings.forwarded_allow_ips,
            )
        return
    start_metrics_server(settings)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def _metrics_url(settings: Settings) -> str | None:
    if settings.metrics_port is None:
        return None
    return f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"


@main.command()
@click.option("--threads", default=8, show_default=True, type=int)
@click.pass_context
@handles_errors
def worker(ctx: click.Context, threads: int) -> None:
    """Consume background jobs from Redis until SIGINT or SIGTERM (process metrics on
    LEVIER_METRICS_PORT when set)."""
    from backend.core.logging import configure_logging
    from backend.core.metrics import start_metrics_server
    from workers.run import run_worker

    settings = runtime_settings(ctx)
    configure_logging(settings)
    start_metrics_server(settings)
    emit({"worker": "starting", "threads": threads, "metrics": _metrics_url(settings)})
    run_worker(settings, threads)


@main.command()
@click.pass_context
@handles_errors
def scheduler(ctx: click.Context) -> None:
    """Claim due and periodic work, and relay the outbox, until SIGINT or SIGTERM (process
    metrics on LEVIER_METRICS_PORT when set)."""
    from backend.core.logging import configure_logging
    from backend.core.metrics import start_metrics_server
    from workers.run import run_scheduler

    settings = runtime_settings(ctx)
    configure_logging(settings)
    start_metrics_server(settings)
    emit({"scheduler": "starting", "metrics": _metrics_url(settings)})
    run_scheduler(settings)


@main.command()
@click.option("--revision", default="head", show_default=True)
@click.pass_context
@handles_errors
def migrate(ctx: click.Context, revision: str) -> None:
    """Apply database migrations (up to the latest by default) as the schema owner
    (LEVIER_MIGRATION_DATABASE_URL on PostgreSQL), granting the runtime role its privileges."""
    from backend.core import schema

    schema.upgrade(settings_from(ctx), revision)
    emit({"migrated": revision})


@main.command("export-openapi")
@click.option("--out", default="openapi", show_default=True, type=click.Path(path_type=Path))
def export_openapi(out: Path) -> None:
    """Write openapi/openapi.json and openapi/schema.graphql."""
    from backend.openapi import write_schemas

    openapi_path, graphql_path = write_schemas(out)
    emit({"openapi": str(openapi_path), "graphql": str(graphql_path)})


@main.group()
def agency() -> None:
    """Manage agencies."""


@agency.command("create")
@click.option("--name", required=True)
@click.pass_context
@handles_errors
def agency_create(ctx: click.Context, name: str) -> None:
    """Create an agency."""
    from backend.core.schemas import parse_input
    from backend.tenancy import service
    from backend.tenancy.schemas import AgencyCreate

    data = parse_input(AgencyCreate, name=name)
    created = run(settings_from(ctx), lambda session: service.create_agency(session, data, None))
    emit({"id": created.id})


@main.group()
def brand() -> None:
    """Manage brands."""


@brand.command("create")
@click.option("--agency", "agency_id", required=True, type=click.UUID)
@click.option("--name", required=True)
@click.option("--time-zone", default="UTC", show_default=True)
@click.option("--locale", default="en", show_default=True)
@click.pass_context
@handles_errors
def brand_create(
    ctx: click.Context, agency_id: UUID, name: str, time_zone: str, locale: str
) -> None:
    """Create a brand in an agency (provisioned by a background job)."""
    from backend.core.schemas import parse_input
    from backend.tenancy import service
    from backend.tenancy.schemas import BrandCreate

    data = parse_input(BrandCreate, name=name, time_zone=time_zone, locale=locale)
    created = run(
        settings_from(ctx), lambda session: service.create_brand(session, None, agency_id, data)
    )
    emit({"id": created.id})


ROLES = ("agency_owner", "agency_admin", "brand_manager", "brand_viewer")


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.option("--agency", "agency_id", required=True, type=click.UUID)
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--brand", "brand_ids", multiple=True, type=click.UUID, help="Repeat for each brand.")
@click.option("--name", default=None)
@click.pass_context
@handles_errors
def user_create(
    ctx: click.Context,
    agency_id: UUID,
    email: str,
    password: str,
    role: str,
    brand_ids: tuple[UUID, ...],
    name: str | None,
) -> None:
    """Create a user in an agency with a role (brand roles need at least one --brand)."""
    from backend.tenancy import service

    created = run(
        settings_from(ctx),
        lambda session: service.onboard_user(
            session,
            agency_id,
            email=email,
            password=password,
            role=role,
            brand_ids=brand_ids,
            name=name,
        ),
    )
    emit({"id": created.id})


@main.group()
def token() -> None:
    """Manage access tokens."""


@token.command("create")
@click.option("--user", "user_id", required=True, type=click.UUID)
@click.option(
    "--ttl-minutes", default=None, type=int, help="Defaults to LEVIER_ACCESS_TOKEN_TTL_MINUTES."
)
@click.option(
    "--scopes",
    default=None,
    help='Space-separated, e.g. "brands:read profiles:*" (default: all the user\'s role allows).',
)
@click.pass_context
@handles_errors
def token_create(
    ctx: click.Context, user_id: UUID, ttl_minutes: int | None, scopes: str | None
) -> None:
    """Issue a personal bearer token for a user (printed once; only its hash is stored)."""
    from backend.auth import service as auth_service

    settings = settings_from(ctx)
    ttl = dt.timedelta(minutes=ttl_minutes or settings.access_token_ttl_minutes)

    async def issue(session: AsyncSession) -> tuple[str, Any]:
        await auth_service.get_user(session, user_id)
        return await auth_service.issue_access_token(session, user_id, ttl=ttl, scopes=scopes)

    secret, row = run(settings, issue)
    emit({"access_token": secret, "expires_at": row.expires_at.isoformat()})


@main.group()
def client() -> None:
    """Manage OAuth clients."""


@client.command("create")
@click.option("--agency", "agency_id", required=True, type=click.UUID)
@click.option("--name", required=True)
@click.option("--brand", "brand_ids", multiple=True, type=click.UUID, help="Repeat for each brand.")
@click.option(
    "--scopes",
    default=None,
    help='Space-separated, e.g. "profiles:write events:write" (default: every brand scope; '
    "every scope for a public client).",
)
@click.option("--public", is_flag=True, help="A SPA: no secret, authorization code with PKCE.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Repeat for each URI.")
@click.option("--first-party", is_flag=True, help="The agency's own app: no consent screen.")
@click.pass_context
@handles_errors
def client_create(
    ctx: click.Context,
    agency_id: UUID,
    name: str,
    brand_ids: tuple[UUID, ...],
    scopes: str | None,
    public: bool,
    redirect_uris: tuple[str, ...],
    first_party: bool,
) -> None:
    """Register an OAuth client; prints its id and its secret (shown once; none when public)."""
    from backend.auth import clients
    from backend.auth.schemas import ClientCreate
    from backend.core.schemas import parse_input

    data = parse_input(
        ClientCreate,
        name=name,
        brand_ids=list(brand_ids),
        scopes=scopes.split() if scopes is not None else None,
        public=public,
        redirect_uris=list(redirect_uris),
        first_party=first_party,
    )
    view, secret = run(
        settings_from(ctx), lambda session: clients.create_client(session, None, agency_id, data)
    )
    emit({"client_id": str(view.client.id), "client_secret": secret})


@main.group()
def billing() -> None:
    """Billing with Stripe."""


@billing.command("sync-plans")
@click.pass_context
@handles_errors
def billing_sync_plans(ctx: click.Context) -> None:
    """Read the prices named by LEVIER_STRIPE_PLANS and LEVIER_STRIPE_METERED_PRICES (lookup
    keys) from Stripe, with their entitlements, and store them (all or nothing)."""
    from backend.billing import catalogue

    settings = settings_from(ctx)
    result = run(settings, lambda session: catalogue.sync(session, settings))
    emit(
        {
            "plans": result.plans,
            "metered": result.metered,
            "deactivated": result.deactivated,
        }
    )


@main.command("reseal-secrets")
@click.pass_context
@handles_errors
def reseal_secrets(ctx: click.Context) -> None:
    """Encrypt every brand's provider credentials and DKIM keys again with LEVIER_SECRET_KEY
    (after a rotation: the old key listed in LEVIER_PREVIOUS_SECRET_KEYS until this ran)."""
    from backend.core.db import create_engine
    from backend.core.tenancy import make_session_factory
    from backend.messaging.accounts.rotation import reseal_all

    settings = settings_from(ctx)

    async def work() -> int:
        engine = create_engine(settings.database_url)
        try:
            factory = make_session_factory(engine, secret_key=settings.secret_key)
            return await reseal_all(factory, settings)
        finally:
            await engine.dispose()

    emit({"resealed": asyncio.run(work())})


@main.command()
@click.pass_context
@handles_errors
def demo(ctx: click.Context) -> None:
    """Load a demo agency, brand and user (again: reuses them) and print a fresh token."""
    from backend.demo import load_demo

    settings = settings_from(ctx)
    if settings.is_production:
        fail("refused", "the demo is not loaded in production")
    emit(run(settings, lambda session: load_demo(session, settings, DEMO_EMAIL, DEMO_PASSWORD)))


if __name__ == "__main__":
    main()
