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
from typing import Any, NoReturn, ParamSpec, TypeVar
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


def fail(error: str, detail: str, code: int = 1) -> NoReturn:
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
    from backend.core import tracing
    from backend.core.db import engine_for
    from backend.core.jobs import take_outbox_flag
    from backend.core.outbox import OutboxRelay
    from backend.core.signals import signals
    from backend.core.tenancy import make_session_factory, open_session
    from backend.wiring import connect_domains
    from workers.broker import sender
    from workers.run import build_job_system, load_tasks

    load_tasks()
    connect_domains(signals)  # the services run here send the domains' signals
    engine = engine_for(settings, "cli", tracing.CLI)
    factory = make_session_factory(engine, secret_key=settings.secret_key)
    try:
        async with open_session(factory, actor="operator:cli") as session:
            result = await work(session)
            await session.commit()
        # With the in-process broker nobody here consumes: `levier serve` relays the rows.
        if take_outbox_flag(session) and settings.redis_url:
            broker, _ = build_job_system(settings, tracing.CLI)
            await OutboxRelay(factory, sender(broker)).drain()
        return result
    finally:
        await engine.dispose()
        tracing.flush(tracing.tracer_provider(settings, tracing.CLI))


def run(settings: Settings, work: Callable[[AsyncSession], Coroutine[Any, Any, R]]) -> R:
    return asyncio.run(_in_session(settings, work))


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("levier")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        emit({"version": _installed_version()})
        ctx.exit()


@click.group()
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help='Print {"version": …} (the installed package\'s) and exit.',
)
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
                # A process still importing (compiling, GIL held) misses uvicorn's 5 s health
                # pings on a busy node and was killed and restarted, again and again.
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
                ws_max_size=settings.graphql_ws_max_message_bytes,
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
        # Websocket frames above the cap are refused by the server (1009) before being buffered.
        ws_max_size=settings.graphql_ws_max_message_bytes,
    )


WORKER_HEALTHCHECK_SECONDS = 60


def _metrics_url(settings: Settings) -> str | None:
    if settings.metrics_port is None:
        return None
    return f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"


def _queue_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def _health_url(settings: Settings) -> str | None:
    if settings.health_port is None:
        return None
    return f"http://{settings.health_host}:{settings.health_port}/health"


@main.command()
@click.option("--threads", default=8, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--queues",
    callback=_queue_list,
    help="Consume only these queues, comma-separated (e.g. imports,exports).",
)
@click.option(
    "--exclude-queues",
    callback=_queue_list,
    help="Consume every queue but these, comma-separated (queues added later included).",
)
@click.pass_context
@handles_errors
def worker(ctx: click.Context, threads: int, queues: list[str], exclude_queues: list[str]) -> None:
    """Consume background jobs from Redis until SIGINT or SIGTERM (every queue unless told;
    process metrics on LEVIER_METRICS_PORT and probes on LEVIER_HEALTH_PORT when set)."""
    from backend.core.logging import configure_logging
    from backend.core.metrics import start_metrics_server
    from workers.run import QueueSelectionError, run_worker, select_queues

    try:
        selected = select_queues(queues, exclude_queues)
    except QueueSelectionError as exc:
        fail("invalid-queues", str(exc), 2)
    settings = runtime_settings(ctx)
    configure_logging(settings)
    start_metrics_server(settings)
    emit(
        {
            "worker": "starting",
            "threads": threads,
            "queues": sorted(selected) if selected else "all",
            "metrics": _metrics_url(settings),
            "health": _health_url(settings),
        }
    )
    run_worker(settings, threads, selected)


@main.command()
@click.pass_context
@handles_errors
def scheduler(ctx: click.Context) -> None:
    """Claim due and periodic work, and relay the outbox, until SIGINT or SIGTERM (process
    metrics on LEVIER_METRICS_PORT and probes on LEVIER_HEALTH_PORT when set)."""
    from backend.core.logging import configure_logging
    from backend.core.metrics import start_metrics_server
    from workers.run import run_scheduler

    settings = runtime_settings(ctx)
    configure_logging(settings)
    start_metrics_server(settings)
    emit(
        {
            "scheduler": "starting",
            "metrics": _metrics_url(settings),
            "health": _health_url(settings),
        }
    )
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


class Moment(click.ParamType[dt.datetime]):
    """An ISO 8601 time (UTC unless it says otherwise), or a span back from now: ``90s``,
    ``15m``, ``2h``, ``3d``."""

    name = "time"
    _UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        text = str(value).strip()
        unit = self._UNITS.get(text[-1:].lower())
        if unit is not None and text[:-1].isdigit():
            return dt.datetime.now(dt.UTC) - dt.timedelta(**{unit: int(text[:-1])})
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is neither an ISO 8601 time nor a span such as 2h or 3d", param)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


MOMENT = Moment()


@main.group()
def jobs() -> None:
    """Operate background jobs: dead letters, failed jobs, re-drives."""


@jobs.group("dead")
def jobs_dead() -> None:
    """The broker's dead letters (Redis): messages whose retries ran out, kept 7 days."""


def _broker_of(settings: Settings) -> Any:
    from backend.core import tracing
    from workers.run import build_job_system

    if not settings.redis_url:
        fail(
            "no-shared-broker",
            "LEVIER_REDIS_URL is not set: the in-process broker's dead letters live inside "
            "`levier serve`; use `levier jobs failed list|redrive`, which reads the database",
        )
    broker, _ = build_job_system(settings, tracing.CLI)
    return broker


def _chosen_ids(ids: tuple[str, ...], every: bool) -> list[str] | None:
    if not ids and not every:
        fail("nothing-chosen", "name the jobs with --id (repeatable), or pass --all")
    return list(ids) or None


@jobs_dead.command("list")
@click.option("--queue", default=None, help="One queue (default: every queue).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.pass_context
@handles_errors
def jobs_dead_list(ctx: click.Context, queue: str | None, limit: int) -> None:
    """List dead letters, the latest first: id (the outbox id), task, brand, error."""
    from backend.core.outbox import errors_of
    from workers.queues import dead_letters

    settings = settings_from(ctx)
    broker = _broker_of(settings)
    try:
        letters = dead_letters(broker, queue, limit)
    except KeyError as exc:
        fail("unknown-queue", str(exc.args[0]))
    # Redis keeps a dead letter as it was queued; the outbox recorded how its job failed.
    recorded = run(settings, lambda session: errors_of(session, [d.message_id for d in letters]))
    entries = [
        {**letter.as_json(), "error": letter.error or recorded.get(letter.message_id)}
        for letter in letters
    ]
    emit({"dead": entries, "count": len(entries)})


@jobs_dead.command("redrive")
@click.option("--queue", default=None, help="One queue (default: every queue).")
@click.option("--id", "ids", multiple=True, help="A dead letter's id; repeat for several.")
@click.option("--all", "every", is_flag=True, help="Every dead letter (of --queue).")
@click.pass_context
@handles_errors
def jobs_dead_redrive(
    ctx: click.Context, queue: str | None, ids: tuple[str, ...], every: bool
) -> None:
    """Send dead letters back to their queue, with a full count of retries."""
    from workers.queues import redrive_dead

    broker = _broker_of(settings_from(ctx))
    chosen = _chosen_ids(ids, every)
    try:
        emit({"redriven": redrive_dead(broker, queue, chosen)})
    except KeyError as exc:
        fail("unknown-queue", str(exc.args[0]))


@jobs_dead.command("purge")
@click.option("--queue", default=None, help="One queue (default: every queue).")
@click.option("--id", "ids", multiple=True, help="A dead letter's id; repeat for several.")
@click.option("--all", "every", is_flag=True, help="Every dead letter (of --queue).")
@click.pass_context
@handles_errors
def jobs_dead_purge(
    ctx: click.Context, queue: str | None, ids: tuple[str, ...], every: bool
) -> None:
    """Drop dead letters for good."""
    from workers.queues import purge_dead

    broker = _broker_of(settings_from(ctx))
    chosen = _chosen_ids(ids, every)
    try:
        emit({"purged": purge_dead(broker, queue, chosen)})
    except KeyError as exc:
        fail("unknown-queue", str(exc.args[0]))


@jobs.group("failed")
def jobs_failed() -> None:
    """Jobs that failed for good, as the outbox recorded them (any broker)."""


@jobs_failed.command("list")
@click.option("--since", type=MOMENT, default=None, help="Failed at or after (2h, ISO time).")
@click.option("--task", "task_name", default=None, help="One task, e.g. webhooks.send.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1))
@click.pass_context
@handles_errors
def jobs_failed_list(
    ctx: click.Context, since: dt.datetime | None, task_name: str | None, limit: int
) -> None:
    """List jobs that failed for good, the latest first, with their error and request id."""
    from backend.core.outbox import failed_jobs

    rows = run(
        settings_from(ctx),
        lambda session: failed_jobs(session, since=since, task_name=task_name, limit=limit),
    )
    emit(
        {
            "failed": [
                {
                    "id": str(row.id),
                    "task": row.task_name,
                    "queue": row.queue_name,
                    "brandId": row.kwargs.get("tenant_id"),
                    "failedAt": row.failed_at,
                    "error": row.last_error,
                    "requestId": (row.headers or {}).get("x-request-id"),
                }
                for row in rows
            ],
            "count": len(rows),
        }
    )


@jobs_failed.command("redrive")
@click.option("--id", "ids", multiple=True, type=click.UUID, help="A job's id; repeatable.")
@click.option("--since", type=MOMENT, default=None, help="Failed at or after (2h, ISO time).")
@click.option("--task", "task_name", default=None, help="One task, e.g. webhooks.send.")
@click.option("--all", "every", is_flag=True, help="Every failed job (matching the filters).")
@click.pass_context
@handles_errors
def jobs_failed_redrive(
    ctx: click.Context,
    ids: tuple[UUID, ...],
    since: dt.datetime | None,
    task_name: str | None,
    every: bool,
) -> None:
    """Run failed jobs again: they go back to the outbox and are sent as new messages."""
    from backend.core.jobs import OUTBOX_WRITTEN
    from backend.core.outbox import redrive_failed

    if not (ids or every):
        fail("nothing-chosen", "name the jobs with --id (repeatable), or pass --all")

    async def work(session: AsyncSession) -> int:
        count = await redrive_failed(session, ids=list(ids), since=since, task_name=task_name)
        session.info[OUTBOX_WRITTEN] = count > 0
        return count

    emit({"redriven": run(settings_from(ctx), work)})


@jobs.command("redrive-outbox")
@click.option("--since", type=MOMENT, required=True, help="Handed to the broker at or after.")
@click.option("--until", type=MOMENT, default=None, help="Handed to the broker before.")
@click.pass_context
@handles_errors
def jobs_redrive_outbox(ctx: click.Context, since: dt.datetime, until: dt.datetime | None) -> None:
    """After Redis lost its data: send again every job handed to the broker since --since that
    never finished (tasks are idempotent: one that was not lost runs again harmlessly)."""
    from backend.core.jobs import OUTBOX_WRITTEN
    from backend.core.outbox import resend_unfinished

    async def work(session: AsyncSession) -> int:
        count = await resend_unfinished(session, since=since, until=until)
        session.info[OUTBOX_WRITTEN] = count > 0
        return count

    emit({"redriven": run(settings_from(ctx), work)})


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
