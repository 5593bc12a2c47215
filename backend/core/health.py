"""Liveness, readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get
from litestar.response import Response
from sqlalchemy import text

from backend.core.errors import ServiceUnavailable, problem_responses


@get(
    "/health",
    operation_id="health",
    summary="Liveness",
    tags=["operations"],
    responses=problem_responses(),
)
async def health() -> dict[str, str]:
    """Answers while the process serves requests; checks nothing else."""
    return {"status": "ok"}


@get(
    "/ready",
    operation_id="ready",
    summary="Readiness",
    tags=["operations"],
    responses=problem_responses(503),
)
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Answers 200 when the database and the broker are reachable, 503 otherwise."""
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        async with state.session_factory() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await asyncio.to_thread(state.ping_broker)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    if any(value != "ok" for value in checks.values()):
        raise ServiceUnavailable("; ".join(f"{k} {v}" for k, v in checks.items()))
    return Response({"status": "ok", "checks": checks})
