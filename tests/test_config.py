"""Settings from ``LEVIER_*`` variables: defaults, parsing, and configurations refused."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url

from backend.config import DEV_SECRET_KEY, Environment, Settings, SettingsError, load_settings

PG = "postgresql+asyncpg://levier@db:5432/levier"
SECRET = "s" * 40


def test_defaults_use_a_sqlite_file_in_the_working_folder() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite+aiosqlite:///./levier.db"
    assert settings.is_sqlite


def test_defaults_run_without_redis_and_with_the_embedded_worker() -> None:
    settings = load_settings({})
    assert settings.redis_url is None
    assert settings.runs_embedded_worker is True


def test_defaults_are_development_with_json_logs() -> None:
    settings = load_settings({})
    assert settings.env is Environment.DEVELOPMENT
    assert not settings.is_production
    assert settings.log_json is True
    assert settings.cors_origins == ()


def test_redis_url_turns_the_embedded_worker_off() -> None:
    settings = load_settings({"LEVIER_REDIS_URL": "redis://cache:6379/0"})
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.runs_embedded_worker is False


def test_explicit_embedded_worker_wins_over_redis() -> None:
    settings = load_settings(
        {"LEVIER_REDIS_URL": "redis://cache:6379/0", "LEVIER_EMBEDDED_WORKER": "true"}
    )
    assert settings.runs_embedded_worker is True


def test_production_without_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="LEVIER_SECRET_KEY"):
        load_settings({"LEVIER_ENV": "production", "LEVIER_DATABASE_URL": PG})


def test_production_with_the_development_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="LEVIER_SECRET_KEY"):
        load_settings(
            {
                "LEVIER_ENV": "production",
                "LEVIER_DATABASE_URL": PG,
                "LEVIER_SECRET_KEY": DEV_SECRET_KEY,
            }
        )


def test_production_with_a_short_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="LEVIER_SECRET_KEY"):
        load_settings(
            {"LEVIER_ENV": "production", "LEVIER_DATABASE_URL": PG, "LEVIER_SECRET_KEY": "s" * 31}
        )


def test_production_with_sqlite_is_refused() -> None:
    with pytest.raises(SettingsError, match="PostgreSQL"):
        load_settings({"LEVIER_ENV": "production", "LEVIER_SECRET_KEY": SECRET})


def test_production_without_an_https_public_url_is_refused() -> None:
    with pytest.raises(SettingsError, match="LEVIER_PUBLIC_URL"):
        load_settings(
            {"LEVIER_ENV": "production", "LEVIER_DATABASE_URL": PG, "LEVIER_SECRET_KEY": SECRET}
        )


def test_production_with_postgresql_and_a_long_secret_is_accepted() -> None:
    settings = load_settings(
        {
            "LEVIER_ENV": "production",
            "LEVIER_DATABASE_URL": PG,
            "LEVIER_SECRET_KEY": SECRET,
            "LEVIER_PUBLIC_URL": "https://levier.example.test",
        }
    )
    assert settings.is_production
    assert settings.database_url == PG
    assert settings.secret_key == SECRET


def test_cors_origins_are_split_on_commas_and_trimmed() -> None:
    settings = load_settings({"LEVIER_CORS_ORIGINS": "a, b"})
    assert settings.cors_origins == ("a", "b")


def test_empty_items_of_cors_origins_are_dropped() -> None:
    settings = load_settings({"LEVIER_CORS_ORIGINS": " https://x.example ,, "})
    assert settings.cors_origins == ("https://x.example",)


def test_numbers_are_parsed_from_text() -> None:
    settings = load_settings(
        {"LEVIER_MAX_BODY_BYTES": "2048", "LEVIER_RELAY_INTERVAL_SECONDS": "0.25"}
    )
    assert settings.max_body_bytes == 2048
    assert settings.relay_interval_seconds == 0.25


def test_metrics_are_served_only_when_a_port_is_set() -> None:
    assert load_settings({}).metrics_port is None
    settings = load_settings({"LEVIER_METRICS_PORT": "9100", "LEVIER_METRICS_HOST": "10.0.0.5"})
    assert (settings.metrics_port, settings.metrics_host) == (9100, "10.0.0.5")


def test_booleans_are_parsed_from_text() -> None:
    assert load_settings({"LEVIER_LOG_JSON": "false"}).log_json is False


def test_non_numeric_integer_is_refused() -> None:
    with pytest.raises(SettingsError, match="max_body_bytes"):
        load_settings({"LEVIER_MAX_BODY_BYTES": "abc"})


def test_unknown_environment_name_is_refused() -> None:
    with pytest.raises(SettingsError):
        load_settings({"LEVIER_ENV": "staging"})


def test_postgresql_url_without_the_async_driver_is_refused() -> None:
    with pytest.raises(SettingsError, match="asyncpg"):
        load_settings({"LEVIER_DATABASE_URL": "postgresql://levier@db:5432/levier"})


def test_postgresql_url_with_the_async_driver_is_accepted() -> None:
    assert load_settings({"LEVIER_DATABASE_URL": PG}).database_url == PG


def test_unrelated_variables_are_ignored() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://elsewhere/db",
            "MAX_BODY_BYTES": "abc",
            "LEVIER_NOT_A_SETTING": "whatever",
            "levier_database_url": "postgresql://lowercase/db",
            "HOME": "/root",
        }
    )
    assert settings == Settings()


def test_settings_read_os_environ_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEVIER_MAX_BODY_BYTES", "4321")
    assert load_settings().max_body_bytes == 4321


def test_replace_returns_a_changed_copy() -> None:
    settings = Settings()
    changed = settings.replace(max_body_bytes=10)
    assert changed.max_body_bytes == 10
    assert settings.max_body_bytes == Settings().max_body_bytes


def test_a_killed_workers_jobs_resume_within_a_minute_by_default() -> None:
    # Requeued at most a third of the timeout after it expires (workers/broker.py's Heartbeat).
    assert Settings().worker_heartbeat_timeout_seconds * 4 / 3 < 60


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_heartbeat_timeout_not_above_zero_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="LEVIER_WORKER_HEARTBEAT_TIMEOUT_SECONDS"):
        load_settings({"LEVIER_WORKER_HEARTBEAT_TIMEOUT_SECONDS": value})


# Connection URLs from an operator's Secret keys (CloudNativePG, Bitnami) --------------------

PARTS = {
    "LEVIER_DATABASE_HOST": "pg-rw.databases.svc",
    "LEVIER_DATABASE_NAME": "app",
    "LEVIER_DATABASE_USER": "levier_app",
    "LEVIER_DATABASE_PASSWORD": "p@ss:/w?rd#%",
}


def test_the_database_url_is_built_from_its_parts_with_the_password_escaped() -> None:
    settings = load_settings(PARTS)
    assert settings.database_url == (
        "postgresql+asyncpg://levier_app:p%40ss%3A%2Fw%3Frd%23%25@pg-rw.databases.svc:5432/app"
    )
    assert settings.runtime_role == "levier_app"
    assert settings.migration_database_url is None


def test_the_migration_url_takes_the_same_database_with_the_owner_credentials() -> None:
    settings = load_settings(
        PARTS
        | {
            "LEVIER_DATABASE_PORT": "5433",
            "LEVIER_MIGRATION_DATABASE_USER": "app",
            "LEVIER_MIGRATION_DATABASE_PASSWORD": "owner secret",
        }
    )
    url = make_url(settings.migration_url)
    assert (url.drivername, url.username, url.password) == (
        "postgresql+asyncpg",
        "app",
        "owner secret",
    )
    assert (url.host, url.port, url.database) == ("pg-rw.databases.svc", 5433, "app")


@pytest.mark.parametrize(
    ("url", "password", "expected"),
    [
        ("redis://redis-master:6379/0", "r3d!s@/", "redis://:r3d%21s%40%2F@redis-master:6379/0"),
        ("rediss://default:old@cache:6380/2", "new:pw", "rediss://default:new%3Apw@cache:6380/2"),
        ("redis://[::1]/1", "x", "redis://:x@[::1]/1"),
    ],
    ids=["bitnami", "replaces-and-keeps-user", "ipv6"],
)
def test_the_redis_password_goes_into_the_redis_url(url: str, password: str, expected: str) -> None:
    settings = load_settings({"LEVIER_REDIS_URL": url, "LEVIER_REDIS_PASSWORD": password})
    assert settings.redis_url == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (PARTS | {"LEVIER_DATABASE_URL": PG}, "not both"),
        ({"LEVIER_DATABASE_HOST": "pg"}, "LEVIER_DATABASE_NAME and LEVIER_DATABASE_USER"),
        (PARTS | {"LEVIER_DATABASE_PORT": "pg"}, "LEVIER_DATABASE_PORT must be a number"),
        ({"LEVIER_DATABASE_PASSWORD": "x"}, "need LEVIER_DATABASE_HOST"),
        (
            PARTS | {"LEVIER_MIGRATION_DATABASE_USER": "o", "LEVIER_MIGRATION_DATABASE_URL": PG},
            "not both",
        ),
        ({"LEVIER_REDIS_PASSWORD": "x"}, "LEVIER_REDIS_PASSWORD needs LEVIER_REDIS_URL"),
    ],
    ids=[
        "url-and-host",
        "missing-parts",
        "bad-port",
        "parts-without-host",
        "migration-twice",
        "redis-password-alone",
    ],
)
def test_ambiguous_or_partial_url_parts_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)


def test_health_probes_are_served_only_when_a_port_is_set() -> None:
    assert Settings().health_port is None
    settings = load_settings({"LEVIER_HEALTH_PORT": "8081", "LEVIER_HEALTH_HOST": "10.1.2.3"})
    assert (settings.health_port, settings.health_host) == (8081, "10.1.2.3")
    with pytest.raises(SettingsError, match="LEVIER_HEALTH_STALL_SECONDS"):
        load_settings({"LEVIER_HEALTH_STALL_SECONDS": "0"})
