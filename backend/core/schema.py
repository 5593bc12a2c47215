"""Database schema management: Alembic migrations, run from the CLI and the tests."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config

from backend.config import Settings


def _alembic_ini() -> Path:
    # A source checkout keeps alembic.ini beside the package; an image keeps it in the workdir.
    for folder in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = folder / "alembic.ini"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found beside the package or in the working folder")


def alembic_config(settings: Settings) -> Config:
    config = Config(str(_alembic_ini()))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def _in_thread(fn: Callable[[], None]) -> None:
    # Alembic's env runs its own event loop: keep it off any loop the caller may be running.
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(fn).result()


def upgrade(settings: Settings, revision: str = "head") -> None:
    _in_thread(lambda: command.upgrade(alembic_config(settings), revision))


def downgrade(settings: Settings, revision: str = "base") -> None:
    _in_thread(lambda: command.downgrade(alembic_config(settings), revision))
