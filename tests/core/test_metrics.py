"""Levier's metrics: jobs per actor, the request id in job logs, database pool use, the backlog
gauges (queues, outbox, due work), webhook and send outcomes, and the sum over processes that
`levier serve --workers N` serves."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from prometheus_client import REGISTRY
from sqlalchemy import text

from backend.app import create_app
from backend.config import Settings
from backend.core import tracing
from backend.core.db import engine_for, utcnow
from backend.core.due_work import DueTask
from backend.core.jobs import outbox_row, task_payload
from backend.core.metrics import start_metrics_server
from backend.core.tenancy import TenantId
from backend.tenancy import service as tenancy_service
from tests.factories import first_scheduler_tick_done, make_world, run_jobs, serving, session_of
from tests.messaging.test_pipeline import email_template, post, settled
from tests.segments.helpers import make_profile
from tests.webhooks.receiver import receiver
from tests.webhooks.test_webhooks import create_endpoint, retry_due_work
from workers.monitoring import BacklogSampler

PROVISION = tenancy_service.PROVISION_BRAND_TASK
LEVIER = Path(sys.executable).parent / "levier"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The webhook receiver listens on loopback over plain http; retries fall due at once.
    return settings.replace(
        webhook_allow_http=True, webhook_allow_private_targets=True, webhook_retry_base_seconds=0.0
    )


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def json_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


async def test_a_job_counts_its_duration_and_success_and_logs_the_request_id_of_its_call(
    capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    labels = {"actor": PROVISION, "queue": "default"}
    app = create_app(settings.replace(embedded_worker=True))  # after capsys: logs captured
    async with serving(app) as client:
        world = await make_world(app)
        await run_jobs(app)
        succeeded = sample("levier_jobs_total", {**labels, "outcome": "succeeded"})
        timed = sample("levier_job_duration_seconds_count", labels)
        capsys.readouterr()
        response = await client.post(
            f"/v1/agencies/{world.agency_a.id}/brands",
            json={"name": "Logged"},
            headers={**world.owner_a.headers, "X-Request-ID": "job-log-1"},
        )
        assert response.status_code == 201, response.text
        await run_jobs(app)
    assert sample("levier_jobs_total", {**labels, "outcome": "succeeded"}) == succeeded + 1
    assert sample("levier_job_duration_seconds_count", labels) == timed + 1
    done = [
        line
        for line in json_lines(capsys.readouterr().err)
        if line.get("event") == "task_done" and line.get("task") == PROVISION
    ]
    assert len(done) == 1, done
    assert done[0]["request_id"] == "job-log-1"
    assert done[0]["brand_id"] == response.json()["id"]


async def test_pool_gauges_follow_the_connections_a_process_holds(settings: Settings) -> None:
    sized = settings.replace(database_pool_size=3, database_max_overflow=2)
    engine = engine_for(sized, "test-pool", tracing.API)
    labels = {"pool": "test-pool"}
    try:
        if not settings.is_sqlite:
            assert sample("levier_db_pool_capacity", labels) == 5
            assert engine.sync_engine.pool.size() == 3  # type: ignore[attr-defined]
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            assert sample("levier_db_pool_checked_out", labels) == 2
            assert sample("levier_db_pool_connections", labels) == 2
        assert sample("levier_db_pool_checked_out", labels) == 0
        assert sample("levier_db_pool_connections", labels) == 2  # idle in the pool
    finally:
        await engine.dispose()
    assert sample("levier_db_pool_connections", labels) == 0


async def test_the_backlog_sampler_reports_queues_outbox_and_due_work(app: Litestar) -> None:
    world = await make_world(app)
    await app.state.relay.drain()  # the world's jobs, handed to the broker: ready, no worker
    now = utcnow()
    async with session_of(app) as session:
        waiting = outbox_row(PROVISION, task_payload(PROVISION, TenantId(world.brand_a.id), {}))
        waiting.created_at = now - dt.timedelta(minutes=10)
        session.add(waiting)
        session.add(
            DueTask(
                task_name=PROVISION,
                kwargs=task_payload(PROVISION, TenantId(world.brand_a.id), {}),
                due_at=now - dt.timedelta(minutes=3),
            )
        )
        await session.commit()
    sampler = BacklogSampler(app.state.session_factory, app.state.broker)
    await sampler.sample_once(now)
    assert sample("levier_outbox_pending") == 1
    assert 600 <= sample("levier_outbox_oldest_pending_age_seconds") < 660
    assert sample("levier_outbox_unfinished") >= 1  # the world's jobs: sent, never run
    assert sample("levier_due_work_overdue") == 1
    assert 180 <= sample("levier_due_work_lag_seconds") < 240
    queued = sample("levier_queue_messages", {"queue": "default", "state": "ready"})
    assert queued == sample("levier_outbox_unfinished")
    assert sample("levier_queue_messages", {"queue": "default", "state": "dead"}) == 0
    assert sample("levier_queue_oldest_message_age_seconds", {"queue": "default"}) >= 0


@pytest.mark.worker
async def test_webhook_attempts_are_counted_by_outcome(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    await first_scheduler_tick_done(app)
    world = await make_world(app)
    before = {
        o: sample("levier_webhook_attempts_total", {"outcome": o})
        for o in ("succeeded", "retrying")
    }
    with receiver(503) as target:
        await create_endpoint(client, world, target.url, "profile.created")
        response = await client.post(
            f"/v1/brands/{world.brand_a.id}/profiles",
            json={"email": "ada@example.com"},
            headers=world.manager_a.headers,
        )
        assert response.status_code == 201, response.text
        await run_jobs(app)
        await retry_due_work(app)
    assert len(target.requests) == 2
    assert (
        sample("levier_webhook_attempts_total", {"outcome": "retrying"}) == before["retrying"] + 1
    )
    assert (
        sample("levier_webhook_attempts_total", {"outcome": "succeeded"}) == before["succeeded"] + 1
    )


@pytest.mark.worker
async def test_send_outcomes_are_counted_per_channel_provider_and_outcome(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    template_id = await email_template(client, world, ["W-1"])
    sent = {"channel": "email", "provider": "capture", "outcome": "sent"}
    # The render fails (the coupon pool is empty) before any provider is chosen.
    failed = {"channel": "email", "provider": "none", "outcome": "failed"}
    before = {"sent": sample("levier_send_outcomes_total", sent)}
    before["failed"] = sample("levier_send_outcomes_total", failed)
    for email in ("ada@example.com", "bob@example.com"):  # the second finds the pool empty
        profile = await make_profile(app, world.brand_a.id, email=email, first_name="X")
        queued = await post(
            client, world, "/messages", {"templateId": template_id, "profileId": str(profile)}
        )
        await settled(client, world, queued.json()["id"])
    assert sample("levier_send_outcomes_total", sent) == before["sent"] + 1
    assert sample("levier_send_outcomes_total", failed) == before["failed"] + 1


# Several processes ------------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys
    from backend.core import metrics
    metrics.JOBS.labels("tests.job", "default", "succeeded").inc(int(sys.argv[1]))
    metrics.DB_POOL_CAPACITY.labels("api").set(20)
    metrics.OUTBOX_PENDING.set(int(sys.argv[1]))
    """
)


def test_the_metrics_of_several_processes_are_served_summed(tmp_path: Path) -> None:
    folder = tmp_path / "multiproc"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for count in ("3", "4"):
        subprocess.run(  # noqa: S603  (the test's own interpreter)
            [sys.executable, "-c", _CHILD, count], env=env, check=True, cwd=Path.cwd()
        )
    started = start_metrics_server(
        Settings(metrics_port=0, metrics_host="127.0.0.1"), multiprocess_dir=folder
    )
    assert started is not None
    server, _ = started
    try:
        scraped = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics").text
    finally:
        server.shutdown()
        server.server_close()
    lines = scraped.splitlines()
    assert (
        'levier_jobs_total{actor="tests.job",outcome="succeeded",queue="default"} 7.0' in lines
    ), scraped
    assert 'levier_db_pool_capacity{pool="api"} 40.0' in lines, scraped
    # A backlog gauge is the same fact seen twice: the latest value, not a sum.
    assert "levier_outbox_pending 4.0" in lines, scraped


def test_levier_serve_with_two_processes_serves_the_sum_of_both(
    settings: Settings, stack: str, tmp_path: Path
) -> None:
    if stack != "postgres":
        pytest.skip("`levier serve --workers 2` needs Redis")
    assert settings.redis_url is not None
    port, metrics_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIER_")}
    env |= {
        "LEVIER_DATABASE_URL": settings.database_url,
        "LEVIER_REDIS_URL": settings.redis_url,
        "LEVIER_REDIS_NAMESPACE": settings.redis_namespace,
        "LEVIER_METRICS_PORT": str(metrics_port),
        "LEVIER_DATABASE_POOL_SIZE": "4",
        "LEVIER_DATABASE_MAX_OVERFLOW": "1",
    }
    log = tmp_path / "serve.log"
    with log.open("ab") as sink:
        server = subprocess.Popen(  # noqa: S603  (our own console script)
            [str(LEVIER), "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        with httpx.Client(timeout=10) as http:

            def answered(url: str) -> httpx.Response | None:
                try:
                    return http.get(url)
                except httpx.TransportError:
                    return None

            deadline = time.monotonic() + 120  # a busy node compiles two processes' imports
            while True:
                # Serving, and both processes built their app (a pool of capacity 5 each).
                health = answered(f"http://127.0.0.1:{port}/health")
                scraped = answered(f"http://127.0.0.1:{metrics_port}/metrics")
                both = scraped is not None and (
                    'levier_db_pool_capacity{pool="api"} 10.0' in scraped.text
                )
                if health is not None and health.status_code == 200 and both:
                    break
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            for _ in range(20):  # a connection each: the kernel spreads them over the processes
                with httpx.Client(timeout=10) as fresh:
                    assert fresh.get(f"http://127.0.0.1:{port}/v1/brands").status_code == 401
            metrics = http.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    finally:
        server.terminate()
        server.wait(timeout=30)
    served = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("litestar_requests_total{") and 'path="/v1/brands"' in line
    )
    assert served == 20, metrics


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
