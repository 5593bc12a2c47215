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
    """Answers 503 when the database is unreachable: nothing can be served. When only the broker
    is unreachable the API keeps serving (writes and events land in the outbox, which the relay
    hands over once the broker is back): 200 with ``status: degraded``, so the pod stays in its
    Service while Redis recovers. 200 ``ok`` when both answer."""
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
    if checks["database"] != "ok":
        raise ServiceUnavailable("; ".join(f"{k} {v}" for k, v in checks.items()))
    status = "ok" if checks["broker"] == "ok" else "degraded"
    return Response({"status": status, "checks": checks})
