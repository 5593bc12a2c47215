"""Database schema management: Alembic migrations, run from the CLI and the tests."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url

from backend.config import Settings, SettingsError


def _alembic_ini() -> Path:
    # A source checkout keeps alembic.ini beside the package; an image keeps it in the workdir.
    for folder in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = folder / "alembic.ini"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found beside the package or in the working folder")


def alembic_config(settings: Settings) -> Config:
    """Alembic's configuration: the schema owner's URL, and the runtime role to grant to."""
    url = settings.migration_url
    role = settings.runtime_role
    if role is not None and make_url(url).username == role:
        raise SettingsError(
            f"LEVIER_MIGRATION_DATABASE_URL and LEVIER_DATABASE_URL both use role {role!r}: "
            "the runtime role must not own the schema (it could disable row-level security); "
            "give each URL its own role"
        )
    config = Config(str(_alembic_ini()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["runtime_role"] = role
    return config


def _in_thread(fn: Callable[[], None]) -> None:
    # Alembic's env runs its own event loop: keep it off any loop the caller may be running.
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(fn).result()


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate up as the schema owner; on PostgreSQL, then grant the runtime role its
    privileges on every table (migrations/env.py does it in the same transaction)."""
    config = alembic_config(settings)
    _in_thread(lambda: command.upgrade(config, revision))


def downgrade(settings: Settings, revision: str = "base") -> None:
    config = alembic_config(settings)
    _in_thread(lambda: command.downgrade(config, revision))
