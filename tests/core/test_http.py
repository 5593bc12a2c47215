"""The HTTP surface every route shares: problem details, request ids, access logs, CORS, metrics,
liveness and readiness, and the OpenAPI document."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.exceptions import TooManyRequestsException

from backend.app import create_app
from backend.auth import service as auth_service
from backend.config import Settings
from backend.core.metrics import start_metrics_server
from tests.factories import make_person, make_world, problem, serving, session_of


def full_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """A problem with every member a client relies on, tied to this request's id."""
    body = problem(response, status)
    assert body["instance"] == response.request.url.path
    assert body.get("request_id"), body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# Problem details ------------------------------------------------------------------------------


async def test_malformed_json_body_is_problem_400(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        "/v1/agencies",
        content=b'{"name": ',
        headers={**world.owner_a.headers, "Content-Type": "application/json"},
    )
    full_problem(response, 400)


async def test_missing_token_is_problem_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/brands")
    body = full_problem(response, 401)
    assert body["type"] == "urn:levier:problem:unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_non_bearer_scheme_is_problem_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/brands", headers={"Authorization": "Basic x"})
    full_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_bearer_token_is_problem_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/brands", headers={"Authorization": "Bearer lvr_at_unknown"})
    full_problem(response, 401)


async def test_expired_token_is_problem_401(app: Litestar, client: httpx.AsyncClient) -> None:
    async with session_of(app) as session:
        person = await make_person(session, "expired@agency.test")
        token, _ = await auth_service.issue_access_token(
            session, person.id, ttl=dt.timedelta(minutes=-1)
        )
        await session.commit()
    assert (await client.get("/v1/brands", headers=person.headers)).status_code == 200
    response = await client.get("/v1/brands", headers={"Authorization": f"Bearer {token}"})
    full_problem(response, 401)


async def test_member_renaming_agency_is_problem_403(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.patch(
        f"/v1/agencies/{world.agency_a.id}", json={"name": "Mine"}, headers=world.member_a.headers
    )
    body = full_problem(response, 403)
    assert body["type"] == "urn:levier:problem:forbidden"


async def test_unknown_route_is_problem_404(client: httpx.AsyncClient) -> None:
    full_problem(await client.get("/v1/nope"), 404)


async def test_brand_of_another_agency_is_problem_404(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.get(f"/v1/brands/{world.brand_b.id}", headers=world.owner_a.headers)
    body = full_problem(response, 404)
    assert body["type"] == "urn:levier:problem:not-found"


async def test_unsupported_method_is_problem_405(client: httpx.AsyncClient) -> None:
    full_problem(await client.delete("/health"), 405)


async def test_adding_an_existing_member_is_problem_409(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    response = await client.post(
        f"/v1/agencies/{world.agency_a.id}/members",
        json={"email": world.admin_a.email, "role": "member"},
        headers=world.owner_a.headers,
    )
    body = full_problem(response, 409)
    assert body["type"] == "urn:levier:problem:conflict"


async def test_body_over_the_limit_is_problem_413(settings: Settings) -> None:
    app = create_app(settings.replace(max_body_bytes=1000))
    async with serving(app) as client:
        world = await make_world(app)
        response = await client.post(
            "/v1/agencies",
            content=json.dumps({"name": "x" * 5000}).encode(),
            headers={**world.owner_a.headers, "Content-Type": "application/json"},
        )
        full_problem(response, 413)
        listed = await client.get("/v1/agencies", headers=world.owner_a.headers)
    assert [a["name"] for a in listed.json()["items"]] == ["Agency A"]


async def test_limit_out_of_range_is_problem_422(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.get("/v1/agencies?limit=0", headers=world.owner_a.headers)
    body = full_problem(response, 422)
    assert body["type"] == "urn:levier:problem:invalid-input"


async def test_unknown_body_field_is_problem_422(app: Litestar, client: httpx.AsyncClient) -> None:
    world = await make_world(app)
    response = await client.post(
        "/v1/agencies", json={"name": "New", "colour": "red"}, headers=world.owner_a.headers
    )
    body = full_problem(response, 422)
    assert "colour" in json.dumps(body)


@get("/test/rate-limited", sync_to_thread=False)
def rate_limited() -> None:
    raise TooManyRequestsException(headers={"Retry-After": "7"})


async def test_rate_limit_is_problem_429_keeping_retry_after(settings: Settings) -> None:
    app = create_app(settings)
    app.register(rate_limited)
    async with serving(app) as client:
        response = await client.get("/test/rate-limited")
    body = full_problem(response, 429)
    assert body["type"] == "urn:levier:problem:rate-limited"
    assert response.headers["retry-after"] == "7"


@get("/test/crash", sync_to_thread=False)
def crash() -> None:
    raise RuntimeError("secret detail")


async def test_unexpected_error_is_problem_500_without_internals(settings: Settings) -> None:
    app = create_app(settings)
    app.register(crash)
    async with serving(app) as client:
        response = await client.get("/test/crash")
    body = full_problem(response, 500)
    assert body["type"] == "urn:levier:problem:internal-error"
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text


# Request ids ----------------------------------------------------------------------------------


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    assert first.headers["x-request-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_safe_incoming_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "edge-42.abc_DEF"})
    assert response.headers["x-request-id"] == "edge-42.abc_DEF"


async def test_safe_incoming_request_id_names_the_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/brands", headers={"X-Request-ID": "edge-43"})
    assert problem(response, 401)["request_id"] == "edge-43"


@pytest.mark.parametrize(
    "unsafe",
    ["two words", "line\\nbreak", "x" * 129, 'quote"d', "{json}"],
    ids=["space", "backslash-n", "too-long", "quote", "braces"],
)
async def test_unsafe_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, unsafe: str
) -> None:
    response = await client.get("/health", headers={"X-Request-ID": unsafe})
    echoed = response.headers["x-request-id"]
    assert echoed
    assert echoed != unsafe
    assert " " not in echoed
    assert len(echoed) <= 128


async def test_request_id_with_raw_newline_is_replaced(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    # httpx refuses to send a newline in a header; the ASGI scope is reached directly.
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/health",
        "raw_path": b"/health",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"x-request-id", b"ok\nforged")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)  # type: ignore[arg-type]  (the client holds the lifespan)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    request_ids = [v for k, v in start["headers"] if k.lower() == b"x-request-id"]
    assert len(request_ids) == 1
    assert b"\n" not in request_ids[0]
    assert request_ids[0] != b"ok\nforged"


# Access logs ----------------------------------------------------------------------------------


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            parsed = json.loads(line)
            if isinstance(parsed, dict):
                lines.append(parsed)
    return lines


async def test_access_log_line_names_request_brand_agency_and_user(
    capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    app = create_app(settings)  # after capsys: the logs go to the captured stderr
    async with serving(app) as client:
        world = await make_world(app)
        capsys.readouterr()
        response = await client.get(
            f"/v1/brands/{world.brand_a.id}",
            headers={**world.viewer_a.headers, "X-Request-ID": "log-line-1"},
        )
    assert response.status_code == 200, response.text
    lines = [
        line
        for line in json_lines(capsys.readouterr().err)
        if line.get("event") == "request" and line.get("request_id") == "log-line-1"
    ]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["path"] == f"/v1/brands/{world.brand_a.id}"
    assert line["brand_id"] == str(world.brand_a.id)
    assert line["agency_id"] == str(world.agency_a.id)
    assert line["user_id"] == str(world.viewer_a.id)


async def test_access_log_context_does_not_leak_to_next_request(
    capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        world = await make_world(app)
        await client.get(f"/v1/brands/{world.brand_a.id}", headers=world.owner_a.headers)
        capsys.readouterr()
        await client.get("/health", headers={"X-Request-ID": "log-line-2"})
    lines = [
        line
        for line in json_lines(capsys.readouterr().err)
        if line.get("event") == "request" and line.get("request_id") == "log-line-2"
    ]
    assert len(lines) == 1, lines
    assert "brand_id" not in lines[0]
    assert "user_id" not in lines[0]


async def test_request_to_unknown_route_is_access_logged(
    capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        capsys.readouterr()
        response = await client.get("/v1/nope", headers={"X-Request-ID": "log-line-3"})
    assert response.headers.get("x-request-id") == "log-line-3"
    lines = [
        line
        for line in json_lines(capsys.readouterr().err)
        if line.get("event") == "request" and line.get("request_id") == "log-line-3"
    ]
    assert [(line["path"], line["status"]) for line in lines] == [("/v1/nope", 404)]


# Health, readiness, metrics -------------------------------------------------------------------


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_database_and_broker(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


async def test_ready_is_degraded_not_failed_when_only_the_broker_is_unreachable(
    settings: Settings,
) -> None:
    # A closed local port stands for a Redis that is down (the shared one is never touched).
    app = create_app(settings.replace(redis_url="redis://127.0.0.1:1/0"))
    async with serving(app) as client:
        response = await client.get("/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("unreachable: ")


async def test_ready_is_problem_503_when_the_database_is_unreachable(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("one stack suffices: the URL names a database that cannot be opened")
    app = create_app(settings.replace(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/x"))
    async with serving(app) as client:
        response = await client.get("/ready")
    body = full_problem(response, 503)
    assert "database unreachable" in body["detail"]


async def test_metrics_are_not_served_on_the_public_port(client: httpx.AsyncClient) -> None:
    problem(await client.get("/metrics"), 404)


async def test_metrics_port_serves_the_requests_the_api_answered(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    await client.get("/v1/brands")
    started = start_metrics_server(settings.replace(metrics_port=0, metrics_host="127.0.0.1"))
    assert started is not None
    server, _ = started
    try:
        async with httpx.AsyncClient() as scraper:
            response = await scraper.get(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 200
    samples = [
        line
        for line in response.text.splitlines()
        if line.startswith("litestar_requests_total{") and 'path="/v1/brands"' in line
    ]
    assert samples, response.text
    assert 'status_code="401"' in "".join(samples)


def test_no_metrics_server_without_a_port(settings: Settings) -> None:
    assert start_metrics_server(settings) is None


# CORS -----------------------------------------------------------------------------------------


async def test_cors_preflight_from_allowed_origin_is_allowed(settings: Settings) -> None:
    app = create_app(settings.replace(cors_origins=("https://app.example",)))
    async with serving(app) as client:
        response = await client.options(
            "/v1/brands",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
    assert response.status_code in (200, 204), response.text
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


async def test_cors_simple_request_from_allowed_origin_exposes_request_id(
    settings: Settings,
) -> None:
    app = create_app(settings.replace(cors_origins=("https://app.example",)))
    async with serving(app) as client:
        response = await client.get("/health", headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_cors_preflight_from_foreign_origin_is_refused(settings: Settings) -> None:
    app = create_app(settings.replace(cors_origins=("https://app.example",)))
    async with serving(app) as client:
        response = await client.options(
            "/v1/brands",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    assert response.headers.get("access-control-allow-origin") != "https://evil.example"
    assert response.headers.get("access-control-allow-origin") != "*"
    assert response.status_code >= 400


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


# OpenAPI --------------------------------------------------------------------------------------


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Levier API"
    assert "/v1/agencies" in document["paths"]
    assert "bearer" in document["components"]["securitySchemes"]


async def test_openapi_problem_examples_are_plausible(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    examples = [
        (status, example["value"])
        for item in document["paths"].values()
        for operation in item.values()
        for status, response in operation["responses"].items()
        for example in (
            response.get("content", {}).get("application/problem+json", {}).get("examples", {})
        ).values()
    ]
    assert examples, "the problem responses carry examples"
    for status, example in examples:
        assert example["status"] == int(status), example
        assert example["type"].startswith("urn:levier:problem:"), example
