"""Every benchmark in ``bench/`` runs at its smoke size (seconds), as a subprocess the way a
person runs it: a refactor that breaks one fails here, not on the next measurement.

On PostgreSQL and Redis when the suite has them (CI always does), in a scratch
database, made by the test owner role and dropped afterwards. Without PostgreSQL only
``bench.outbox_relay`` runs (on SQLite); the others need PostgreSQL and are skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import make_url

from tests.conftest import (
    PG_URL,
    REDIS_URL,
    _create_database,
    _drop_database,
    _run,
    app_role_url,
    on_database,
)

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300  # seconds: a smoke run takes a few, more on a loaded machine

# Module -> what its output must show (its figures), and whether it needs PostgreSQL + Redis.
BENCHMARKS: dict[str, tuple[tuple[str, ...], bool]] = {
    "outbox_relay": (("direct enqueue", "outbox + relay", "ratio outbox/direct"), False),
    "segments": (("| count, service (compiled) |", "rerun (no change)"), True),
    "rfm": (("ratio run/hand", "scores identical"), True),
    "profiles_import": (("raw COPY", "ratio import/COPY", "worker peak RSS"), True),
    "events": (("single events x", "batches of", "events stored during the run"), True),
    "messaging": (("pipeline (gate, render", "bare render", "ratio adapter/bare smtp"), True),
    "storage": (("rows each message adds", "| profiles |", "Redis bytes per queued job"), True),
    "send_time": (("bare read of the history", "optimal_send_times", "planted hour found"), True),
    "campaigns": (("snapshot (pages of", "release (chunks of", "ratio floor/fan-out"), True),
    "content_render": (
        ("render_for (context loaded each time)", "render_many (batches of", "render alone"),
        False,
    ),
}


def test_every_benchmark_is_smoked() -> None:
    modules = {p.stem for p in (ROOT / "bench").glob("*.py") if p.stem != "__init__"}
    assert modules == set(BENCHMARKS)


@pytest.fixture(scope="module")
def bench_env() -> Iterator[dict[str, str]]:
    """LEVIER_BENCH_* for a scratch PostgreSQL database (and Redis), or {} without them: one
    for the module (each benchmark makes a brand of its own; creating and dropping a database
    costs seconds)."""
    if not (PG_URL and REDIS_URL):
        yield {}
        return
    name = f"{make_url(PG_URL).database}_bench_{uuid4().hex[:8]}"
    _run(_create_database(PG_URL, name))
    try:
        yield {
            "LEVIER_BENCH_DATABASE_URL": on_database(app_role_url(PG_URL), name),
            "LEVIER_BENCH_MIGRATION_DATABASE_URL": on_database(PG_URL, name),
            "LEVIER_BENCH_REDIS_URL": REDIS_URL,
        }
    finally:
        _run(_drop_database(PG_URL, name))


@pytest.mark.xdist_group("bench-smoke")  # one scratch database (make: --dist loadgroup)
@pytest.mark.parametrize("module", list(BENCHMARKS))
def test_benchmark_runs_at_smoke_size(module: str, bench_env: dict[str, str]) -> None:
    figures, needs_postgres = BENCHMARKS[module]
    if needs_postgres and not bench_env:
        pytest.skip(f"bench.{module} runs on PostgreSQL and Redis: LEVIER_TEST_* are not set")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIER_")}
    env |= bench_env | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(  # noqa: S603  (our own module)
        [sys.executable, "-m", f"bench.{module}", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    output = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, output
    missing = [figure for figure in figures if figure not in done.stdout]
    assert missing == [], output
