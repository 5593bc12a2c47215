"""Tracing: one trace from an API call, through the outbox and the broker, into its job and the
job's SQL, received by a local OTLP/HTTP collector; nothing is traced unless configured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from litestar import Litestar

from backend.app import create_app
from backend.config import Settings
from backend.core import tracing
from backend.core.tracing import tracer_provider
from backend.tenancy.models import Brand, BrandStatus
from tests.factories import make_world, run_jobs, serving, session_of
from tests.otlp import Collector, ReceivedSpan, local_collector, one_trace

PROVISION = "tenancy.provision_brand"
CREATE_BRAND_ROUTE = "POST /v1/agencies/{agency_id}/brands"
LEVIER = Path(sys.executable).parent / "levier"


@pytest.fixture
def collector() -> Iterator[Collector]:
    with local_collector() as running:
        yield running


def _is_sql(span: ReceivedSpan) -> bool:
    return span.kind == "client" and any(key.startswith("db.") for key in span.attributes)


def _create_brand_request(span: ReceivedSpan) -> bool:
    return span.kind == "server" and span.name.startswith("POST /v1/agencies/")


def _assert_request_to_job_trace(spans: list[ReceivedSpan], request_id: str) -> None:
    """One trace: the request span → its SQL; → the hand-over to the broker → the job → its
    SQL. Each link is a parent id, not a coincidence of names."""
    trace = one_trace(spans, _create_brand_request)
    request = next(span for span in trace if _create_brand_request(span))
    assert request.name == CREATE_BRAND_ROUTE  # the route template, not the path with its ids
    assert request.attributes["levier.request_id"] == request_id
    assert request.service == "levier-api"
    assert any(_is_sql(span) and span.parent_id == request.span_id for span in trace)
    producer = next(span for span in trace if span.kind == "producer")
    assert producer.name == f"send {PROVISION}"
    assert producer.parent_id == request.span_id
    job = next(span for span in trace if span.kind == "consumer")
    assert job.name == f"process {PROVISION}"
    assert job.parent_id == producer.span_id
    assert job.attributes["messaging.destination.name"] == "default"
    assert not job.error
    job_sql = [span for span in trace if _is_sql(span) and span.parent_id == job.span_id]
    assert any("brand" in span.attributes.get("db.statement", "") for span in job_sql), job_sql


def _job_received(spans: list[ReceivedSpan]) -> bool:
    """The request's, the hand-over's and the job's spans arrived (each process exports its
    own, in its own time)."""
    if not any(_create_brand_request(s) for s in spans):
        return False
    trace = one_trace(spans, _create_brand_request)
    return {"producer", "consumer"} <= {s.kind for s in trace}


async def test_one_trace_runs_from_the_api_call_through_the_outbox_into_the_job_and_its_sql(
    settings: Settings, collector: Collector
) -> None:
    app = create_app(settings.replace(otlp_endpoint=collector.endpoint, embedded_worker=True))
    async with serving(app) as client:
        world = await make_world(app)
        await run_jobs(app)
        response = await client.post(
            f"/v1/agencies/{world.agency_a.id}/brands",
            json={"name": "Traced"},
            headers={**world.owner_a.headers, "X-Request-ID": "trace-me-1"},
        )
        assert response.status_code == 201, response.text
        await run_jobs(app)
    # The lifespan's end flushed the spans to the collector.
    spans = collector.wait_for(_job_received, "the request's and the job's spans")
    _assert_request_to_job_trace(spans, "trace-me-1")


async def test_nothing_is_traced_unless_an_endpoint_is_configured(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    assert settings.otlp_endpoint is None
    assert tracer_provider(settings, tracing.API) is None
    world = await make_world(app)
    response = await client.post(
        f"/v1/agencies/{world.agency_a.id}/brands",
        json={"name": "Untraced"},
        headers=world.owner_a.headers,
    )
    assert response.status_code == 201, response.text
    # The row still carries the request id for the job's logs, and no trace context.
    from sqlalchemy import select

    from backend.core.outbox import OutboxMessage

    async with session_of(app) as session:
        headers = await session.scalar(
            select(OutboxMessage.headers).where(
                OutboxMessage.kwargs["tenant_id"].as_string() == response.json()["id"]
            )
        )
    assert headers is not None
    assert set(headers) == {"x-request-id"}


# Real processes: `levier serve` and `levier worker`, the trace crossing Redis --------------------


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603  (our own console script)
            [str(LEVIER), *args], env=env, stdout=sink, stderr=sink
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()  # SIGTERM: each flushes its spans on the way out
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            process.wait()


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _brand_status(app: Litestar, brand_id: UUID) -> BrandStatus:
    async with session_of(app) as session:
        brand = await session.get(Brand, brand_id)
        assert brand is not None
        return brand.status


async def test_a_trace_crosses_processes_from_levier_serve_through_redis_to_levier_worker(
    app: Litestar, settings: Settings, stack: str, collector: Collector, tmp_path: Path
) -> None:
    if stack != "postgres":
        pytest.skip("`levier worker` needs Redis")
    assert settings.redis_url is not None
    world = await make_world(app)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEVIER_", "OTEL_"))}
    env |= {
        "LEVIER_DATABASE_URL": settings.database_url,
        "LEVIER_REDIS_URL": settings.redis_url,
        "LEVIER_REDIS_NAMESPACE": settings.redis_namespace,
        "LEVIER_OTLP_ENDPOINT": collector.endpoint,
        "LEVIER_WORKER_POLL_MS": "100",
        "LEVIER_RELAY_INTERVAL_SECONDS": "0.1",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # the SDK's own batching delay (ms)
    }
    port = _free_port()
    log = tmp_path / "processes.log"
    with (
        _process(["serve", "--port", str(port)], env, log),
        _process(["worker", "--threads", "2"], env, log),
    ):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"levier serve did not answer:\n{log.read_text()}")
                await asyncio.sleep(0.1)
            response = await http.post(
                f"/v1/agencies/{world.agency_a.id}/brands",
                json={"name": "Across"},
                headers={**world.owner_a.headers, "X-Request-ID": "trace-across-1"},
            )
            assert response.status_code == 201, response.text
            brand_id = UUID(response.json()["id"])
            while await _brand_status(app, brand_id) is not BrandStatus.ACTIVE:
                if time.monotonic() > deadline:
                    pytest.fail(f"the job did not run:\n{log.read_text()}")
                await asyncio.sleep(0.1)
        spans = await asyncio.to_thread(
            collector.wait_for, _job_received, "the spans of both processes"
        )
    _assert_request_to_job_trace(spans, "trace-across-1")
    trace = one_trace(spans, _create_brand_request)
    job = next(span for span in trace if span.kind == "consumer")
    assert job.service == "levier-worker"
    assert any(s.service == "levier-worker" and _is_sql(s) for s in trace)
