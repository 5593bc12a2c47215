"""Settings: one object read from ``LEVIER_*`` environment variables, passed down explicitly.

This is the only module that reads the environment. Defaults run the embedded mode: a SQLite file
in the working folder, jobs in-process, no Redis.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from enum import StrEnum

import msgspec
from limits import parse_many
from sqlalchemy import URL, make_url

ENV_PREFIX = "LEVIER_"
DEV_SECRET_KEY = "levier-embedded-development-key-not-for-production"  # noqa: S105


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class SettingsError(ValueError):
    """The environment does not describe a runnable configuration."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    env: Environment = Environment.DEVELOPMENT
    # The runtime connection (API, worker, scheduler): on PostgreSQL a role that neither owns
    # the tables nor is a superuser or BYPASSRLS, so row-level security binds it.
    database_url: str = "sqlite+aiosqlite:///./levier.db"
    # `levier migrate` connects with this URL, as the role that owns the schema, and grants the
    # runtime role (LEVIER_DATABASE_URL's user) what it needs. Required on PostgreSQL; defaults
    # to LEVIER_DATABASE_URL on SQLite.
    migration_database_url: str | None = None
    # Connections each process keeps to the database (API process, worker, scheduler), the extra
    # ones it may open under load, and how long a request waits for one before failing.
    database_pool_size: int = 10
    database_max_overflow: int = 10
    database_pool_timeout_seconds: float = 30.0
    # LEVIER_DATABASE_URL goes through PgBouncer in transaction mode: no prepared statement
    # outlives its transaction (asyncpg's statement caches off, unique statement names).
    database_pgbouncer: bool = False
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    # Secret keys replaced by LEVIER_SECRET_KEY (comma-separated): sealed provider credentials and
    # DKIM keys still decrypt with them until `levier reseal-secrets` re-encrypts them, and
    # tracking and unsubscribe links already in mailboxes keep working while they are listed.
    previous_secret_keys: tuple[str, ...] = ()
    # Comma-separated origins allowed to call the API from a browser (SPAs).
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_json: bool = True
    # Bodies above this answer 413 before the handler reads them.
    max_body_bytes: int = 10 * 1024 * 1024
    # JSON nested deeper than this (arrays and objects, in bodies, GraphQL variables and partner
    # hooks) is refused before anything parses it recursively.
    json_max_depth: int = 64
    # Bulk imports: the largest file one import takes, and the rows the job writes per batch.
    import_max_bytes: int = 2 * 1024**3
    import_batch_rows: int = 50_000
    # Uploaded import files and their rejected rows hold personal data: purged this many days
    # after the import ended (the import and its counts stay).
    import_retention_days: int = 30
    idempotency_ttl_hours: int = 24
    # The ledger keeps this many whole months of messages (older partitions are dropped).
    message_retention_months: int = 13
    # A worker's claim on a message it is sending: past it, the worker is taken for dead and the
    # message may be claimed again (a provider call must end well within it).
    message_send_lease_seconds: float = 20.0
    # Profile exports hold personal data: their files are purged this long after being written.
    export_ttl_hours: int = 72
    access_token_ttl_minutes: int = 60
    # Where clients reach this deployment: the OAuth issuer, and the base of its endpoint URLs.
    public_url: str = "http://127.0.0.1:8000"
    # OAuth: codes live minutes at most (RFC 6749 §4.1.2); refresh tokens rotate at every use.
    authorization_code_ttl_seconds: int = 120
    refresh_token_ttl_days: int = 30
    # Sign-in: how long a browser session lasts.
    web_session_hours: int = 12
    # How long a process keeps a resolved bearer token; also how long a revocation or a withdrawn
    # role takes to reach the other processes (a commit in the same process forgets at once).
    caller_cache_seconds: float = 5.0
    # How long a process keeps a brand's event settings, event types and trigger definitions;
    # also how long a change to them takes to reach the other processes.
    config_cache_seconds: float = 5.0
    # Move what startup built out of the garbage collector's reach (gc.freeze): shorter pauses
    # for requests in flight. Off in tests, which build many apps in one process.
    gc_freeze: bool = True
    # Sign-in backoff, per (account, client address): this many wrong passwords in a row, then a
    # wait of login_lockout_seconds that doubles with each further failure (at most 15 minutes).
    login_max_failures: int = 5
    login_lockout_seconds: int = 60
    # Wrong passwords one client address may send, over every account, in the `limits` notation.
    login_failures_per_ip: str = "50/hour"
    # GraphQL guards against hostile queries.
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 30
    # A GraphQL document (the `query` text) larger than this is refused before it is parsed.
    graphql_max_document_bytes: int = 100_000
    # Lexical tokens (names, punctuation, comments) parsed before a document is refused.
    graphql_max_tokens: int = 5_000
    # A request body to /graphql (document and variables) above this answers 413 unread.
    graphql_max_body_bytes: int = 1024 * 1024
    # GraphQL subscriptions (graphql-transport-ws on /graphql): the operations one connection
    # may run at once, the largest message a client may send (larger closes the connection,
    # 1009), and how long a new connection has to send its connection_init (then 4408).
    graphql_ws_max_subscriptions: int = 10
    graphql_ws_max_message_bytes: int = 128 * 1024
    graphql_ws_init_timeout_seconds: float = 10.0
    # How often a subscription reads the state of the long work it follows (an import, an
    # export): one primary-key read per subscription per interval.
    live_poll_seconds: float = 1.0
    # Outbox relay and scheduler cadence (seconds): the relay is also woken on every commit.
    relay_interval_seconds: float = 1.0
    scheduler_interval_seconds: float = 5.0
    # `levier serve` starts an in-process worker when no Redis is configured.
    embedded_worker: bool | None = None
    # How long a worker waits on an empty queue before checking for shutdown (milliseconds).
    worker_poll_ms: int = 1000
    # Jobs a killed worker held run again once its heartbeat is this old (live workers beat every
    # third of it); a job killed mid-run resumes within about 4/3 of this.
    worker_heartbeat_timeout_seconds: float = 30.0
    redis_namespace: str = "levier"
    # Rate limits in the `limits` notation ("1200/minute", or several: "20/second;1200/minute").
    # Per caller: the authenticated user, or the client IP for anonymous requests.
    rate_limit_enabled: bool = True
    rate_limit_per_caller: str = "1200/minute"
    # Per brand: shared by every caller working on that brand.
    rate_limit_per_brand: str = "6000/minute"
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto `levier serve` believes (comma-separated
    # addresses or networks, "*" for any): behind an ingress, its addresses, or every client shares
    # the proxy's address in rate limits and sign-in budgets.
    forwarded_allow_ips: str = "127.0.0.1"
    # Prometheus metrics are served on this port of their own by `levier serve`, `worker` and
    # `scheduler` (none when unset); never on the public port.
    metrics_port: int | None = None
    # The interface the metrics port listens on (0.0.0.0 in a pod, for the scraper).
    metrics_host: str = "127.0.0.1"
    # `levier worker` and `scheduler` answer Kubernetes' probes on this port of their own
    # (GET /health: liveness, GET /ready: database and broker); none when unset.
    health_port: int | None = None
    health_host: str = "127.0.0.1"
    # /health fails once a worker's heartbeat loop or the scheduler's loop made no round for
    # this long: the process is stuck and the kubelet restarts it.
    health_stall_seconds: float = 120.0
    # How often the scheduler (and the embedded `levier serve`) samples the backlog gauges:
    # queue depths, outbox backlog, due-work lag.
    backlog_sample_seconds: float = 15.0
    # OpenTelemetry tracing: spans go to this OTLP/HTTP collector (e.g. http://otel:4318; traces
    # are posted to <endpoint>/v1/traces). Unset: no tracing at all.
    otlp_endpoint: str | None = None
    # service.name of the spans: <this>-api, <this>-worker, <this>-scheduler.
    otlp_service_name: str = "levier"
    # Share of new traces recorded (a trace continued from a caller follows the caller's choice).
    trace_sample_ratio: float = 1.0
    # Outbox rows handed to the broker are kept this long after their job finished, so they can
    # be sent again (`levier jobs redrive-outbox`) after a loss of Redis.
    outbox_retention_hours: int = 7 * 24
    # Outbound webhooks. Plain http and any address that is not globally routable (private,
    # shared, loopback, link-local…) are refused unless allowed (SSRF guard); a test or an
    # on-premises deployment may allow them.
    webhook_allow_http: bool = False
    webhook_allow_private_targets: bool = False
    webhook_connect_timeout_seconds: float = 5.0
    webhook_read_timeout_seconds: float = 15.0
    # Attempts per delivery, and the exponential backoff between them (with jitter).
    webhook_max_attempts: int = 8
    webhook_retry_base_seconds: float = 30.0
    webhook_retry_max_seconds: float = 6 * 3600.0
    # An endpoint is disabled after this many failed attempts in a row.
    webhook_disable_after_failures: int = 20
    # Inbound connectors: how long a rotated-out secret still verifies (Qualifio: 30 minutes).
    connector_secret_grace_minutes: int = 30
    # Content: one message's render stops (reason `render-budget`) past this time or output size
    # (characters, every field together); compiled templates kept per process (LRU).
    render_time_budget_seconds: float = 0.5
    render_max_output_chars: int = 2_000_000
    render_cache_size: int = 1024
    # Largest template field, snippet body and coupon upload accepted (characters / codes).
    content_max_field_chars: int = 500_000
    coupon_max_upload_codes: int = 100_000
    # The mailbox named beside the one-click URL in List-Unsubscribe (`<mailto:…>`); none when
    # unset (RFC 8058 one-click needs the https URL only).
    unsubscribe_mailto: str | None = None
    # Billing (Stripe). Without a secret key the deployment runs one unlimited plan and the
    # billing routes answer what is not configured. The API base is Stripe's unless set (tests
    # point it at a local server speaking Stripe's API).
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    # Prices by lookup key (comma-separated, never ids): the plans an agency may subscribe to,
    # the metered prices every subscription also carries (usage-based charges), and the plan
    # that applies to an agency without a subscription (none: nothing is allowed until it
    # subscribes). `levier billing sync-plans` reads them from Stripe.
    stripe_plans: tuple[str, ...] = ()
    stripe_metered_prices: tuple[str, ...] = ()
    stripe_default_plan: str | None = None
    # One call to Stripe's API, and the SDK's retries of a call that could not connect (each
    # POST carries an idempotency key, so a retry never doubles it).
    stripe_timeout_seconds: float = 10.0
    stripe_max_network_retries: int = 2
    # A webhook signed longer ago than this is refused (Stripe's own default is 300 s).
    stripe_webhook_tolerance_seconds: int = 300
    # Past due: sends go on for this many days, then non-transactional sends are held.
    billing_past_due_grace_days: int = 7
    # Transactional messages keep flowing past the month's allowance by this share of it.
    billing_transactional_grace_percent: int = 10
    # A send billing held (sends paused, allowance spent, canceled) is tried again after this.
    billing_hold_recheck_seconds: float = 900.0
    # Usage is metered from the ledger up to this long ago (a send is committed within it).
    billing_usage_settle_seconds: float = 120.0

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migration_url(self) -> str:
        """The URL migrations connect with: the schema owner's, never the runtime role's."""
        if self.migration_database_url:
            return self.migration_database_url
        if self.is_sqlite:
            return self.database_url
        raise SettingsError(
            "LEVIER_MIGRATION_DATABASE_URL must be set on PostgreSQL: the URL of the role that "
            "owns the schema (LEVIER_DATABASE_URL's role only gets SELECT, INSERT, UPDATE and "
            "DELETE on the tables)"
        )

    @property
    def runtime_role(self) -> str | None:
        """The PostgreSQL role the runtime connects as (None on SQLite)."""
        if self.is_sqlite:
            return None
        role = make_url(self.database_url).username
        if not role:
            raise SettingsError(
                "LEVIER_DATABASE_URL must name its role (postgresql+asyncpg://role@host/db): "
                "migrations grant that role its privileges"
            )
        return role

    @property
    def stripe_configured(self) -> bool:
        """Whether Levier may call Stripe (a secret key is set)."""
        return bool(self.stripe_secret_key)

    @property
    def runs_embedded_worker(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        return self.redis_url is None

    def validate(self) -> Settings:
        """Refuse configurations that must never run; return self for chaining."""
        if self.is_production:
            if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
                raise SettingsError(
                    "LEVIER_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production"
                )
            if not self.database_url.startswith("postgresql"):
                raise SettingsError("LEVIER_DATABASE_URL must be a PostgreSQL URL in production")
            if not self.public_url.startswith("https://"):
                raise SettingsError(
                    "LEVIER_PUBLIC_URL must be the https:// address of the deployment in "
                    "production (it is the OAuth issuer)"
                )
        for variable, url in (
            ("LEVIER_DATABASE_URL", self.database_url),
            ("LEVIER_MIGRATION_DATABASE_URL", self.migration_database_url or ""),
        ):
            if url.startswith("postgresql://"):
                raise SettingsError(
                    f"{variable} must name the async driver: postgresql+asyncpg://…"
                )
        if self.health_stall_seconds <= 0:
            raise SettingsError("LEVIER_HEALTH_STALL_SECONDS must be above 0")
        if self.database_pool_size < 1 or self.database_max_overflow < 0:
            raise SettingsError(
                "LEVIER_DATABASE_POOL_SIZE must be at least 1 and LEVIER_DATABASE_MAX_OVERFLOW "
                "at least 0"
            )
        if not 0.0 <= self.trace_sample_ratio <= 1.0:
            raise SettingsError("LEVIER_TRACE_SAMPLE_RATIO must be between 0 and 1")
        if self.outbox_retention_hours < 1:
            raise SettingsError("LEVIER_OUTBOX_RETENTION_HOURS must be at least 1")
        if self.stripe_default_plan and self.stripe_default_plan not in self.stripe_plans:
            raise SettingsError(
                "LEVIER_STRIPE_DEFAULT_PLAN must be one of LEVIER_STRIPE_PLANS' lookup keys"
            )
        if not 0 <= self.billing_transactional_grace_percent <= 100:
            raise SettingsError("LEVIER_BILLING_TRANSACTIONAL_GRACE_PERCENT must be 0 to 100")
        if self.worker_heartbeat_timeout_seconds <= 0:
            raise SettingsError("LEVIER_WORKER_HEARTBEAT_TIMEOUT_SECONDS must be above 0")
        if self.live_poll_seconds <= 0:
            raise SettingsError("LEVIER_LIVE_POLL_SECONDS must be above 0")
        if self.graphql_ws_max_subscriptions < 1:
            raise SettingsError("LEVIER_GRAPHQL_WS_MAX_SUBSCRIPTIONS must be at least 1")
        for name in ("rate_limit_per_caller", "rate_limit_per_brand", "login_failures_per_ip"):
            _check_rate_limit(name, getattr(self, name))
        return self

    def replace(self, **changes: object) -> Settings:
        return msgspec.structs.replace(self, **changes)


def _check_rate_limit(name: str, value: str) -> None:
    try:
        items = parse_many(value)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        raise SettingsError(
            f"{ENV_PREFIX}{name.upper()} must be a rate such as '1200/minute' "
            f"(or several, separated by ';'), not {value!r}"
        )


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def export_to_child_processes(name: str, value: str) -> None:
    """Set a library's own variable for the processes this one starts (``serve --workers``):
    this module is the one place that touches the environment."""
    os.environ[name] = value


# Variables that are not settings of their own but parts of the connection URLs, so that the
# Secrets of an operator serve as they are: CloudNativePG's `<cluster>-app` holds `host`, `port`,
# `dbname`, `username` and `password`, Bitnami's Redis Secret `redis-password`. A password given
# apart is escaped into its URL here, whatever characters it holds.
DATABASE_PARTS = ("host", "port", "name", "user", "password")
URL_PARTS = frozenset(
    {f"database_{part}" for part in DATABASE_PARTS}
    | {"migration_database_user", "migration_database_password", "redis_password"}
)


def _compose_urls(raw: dict[str, object], parts: dict[str, str]) -> None:
    """Build LEVIER_DATABASE_URL and LEVIER_MIGRATION_DATABASE_URL from their parts, and put
    LEVIER_REDIS_PASSWORD into LEVIER_REDIS_URL (in ``raw``, before validation)."""
    if "database_host" in parts:
        if "database_url" in raw:
            raise SettingsError("set LEVIER_DATABASE_URL or LEVIER_DATABASE_HOST, not both")
        missing = [
            f"{ENV_PREFIX}DATABASE_{part.upper()}"
            for part in ("name", "user")
            if f"database_{part}" not in parts
        ]
        if missing:
            raise SettingsError(f"LEVIER_DATABASE_HOST needs {' and '.join(missing)}")
        try:
            port = int(parts.get("database_port", "5432"))
        except ValueError as exc:
            raise SettingsError("LEVIER_DATABASE_PORT must be a number") from exc

        def url(user: str, password: str | None) -> str:
            return URL.create(
                "postgresql+asyncpg",
                username=user,
                password=password,
                host=parts["database_host"],
                port=port,
                database=parts["database_name"],
            ).render_as_string(hide_password=False)

        raw["database_url"] = url(parts["database_user"], parts.get("database_password"))
        if "migration_database_user" in parts:
            if "migration_database_url" in raw:
                raise SettingsError(
                    "set LEVIER_MIGRATION_DATABASE_URL or LEVIER_MIGRATION_DATABASE_USER, not both"
                )
            raw["migration_database_url"] = url(
                parts["migration_database_user"], parts.get("migration_database_password")
            )
    else:
        given = sorted(name for name in parts if name.startswith(("database_", "migration_")))
        if given:
            raise SettingsError(
                f"{', '.join(ENV_PREFIX + name.upper() for name in given)} need "
                "LEVIER_DATABASE_HOST (the URL is then built from the parts)"
            )
    if "redis_password" in parts:
        redis_url = raw.get("redis_url")
        if not isinstance(redis_url, str) or not redis_url:
            raise SettingsError("LEVIER_REDIS_PASSWORD needs LEVIER_REDIS_URL")
        raw["redis_url"] = _with_password(redis_url, parts["redis_password"])


def _with_password(url: str, password: str) -> str:
    """``url`` with ``password`` as its password (escaped), keeping its user name if any."""
    split = urllib.parse.urlsplit(url)
    user = urllib.parse.quote(urllib.parse.unquote(split.username or ""), safe="")
    host = split.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = f"{user}:{urllib.parse.quote(password, safe='')}@{host}"
    if split.port is not None:
        netloc += f":{split.port}"
    return urllib.parse.urlunsplit(split._replace(netloc=netloc))


LIST_SETTINGS = frozenset(
    {"cors_origins", "previous_secret_keys", "stripe_plans", "stripe_metered_prices"}
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``LEVIER_*`` variables (``os.environ`` unless given)."""
    source = os.environ if environ is None else environ
    fields = set(Settings.__struct_fields__)
    raw: dict[str, object] = {}
    parts: dict[str, str] = {}
    for key, value in source.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key.removeprefix(ENV_PREFIX).lower()
        if name in URL_PARTS:
            parts[name] = value
            continue
        if name not in fields:
            continue
        raw[name] = _split_list(value) if name in LIST_SETTINGS else value
    _compose_urls(raw, parts)
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid LEVIER_* setting: {exc}") from exc
    return settings.validate()
