"""Liveness and readiness of `levier worker` and `levier scheduler`, over HTTP on a port of their
own (``LEVIER_HEALTH_PORT``), for Kubernetes' probes.

``GET /health`` (liveness) answers 503 when the process is stuck, so the kubelet restarts it: a
loop that made no round for ``LEVIER_HEALTH_STALL_SECONDS``, a dead consumer or worker thread, an
event loop that does not answer. It checks nothing outside the process: an outage of PostgreSQL or
Redis must not restart every pod. ``GET /ready`` (readiness) answers 503 while the database or the
broker is unreachable, as the API's ``/ready`` does. Both answer ``{"status", "checks"}``.

The server is the standard library's, in a daemon thread: a probe never waits on a busy worker.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings

log = structlog.get_logger("levier.health")

OK = "ok"
# How long a check may wait on the event loop, the database or Redis before it counts as failed.
CHECK_TIMEOUT_SECONDS = 3.0

Check = Callable[[], str]


class Stamp:
    """The monotonic time of a loop's last round, set by the loop and read by the probe."""

    def __init__(self) -> None:
        self._at = time.monotonic()

    def touch(self) -> None:
        self._at = time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self._at


def recent(stamp: Stamp, stall_seconds: float, what: str) -> Check:
    def check() -> str:
        age = stamp.age()
        if age > stall_seconds:
            return f"no {what} round for {age:.0f} s (limit {stall_seconds:.0f} s)"
        return OK

    return check


def threads_alive(threads: Callable[[], Mapping[str, threading.Thread]]) -> Check:
    def check() -> str:
        dead = sorted(name for name, thread in threads().items() if not thread.is_alive())
        return f"dead threads: {', '.join(dead)}" if dead else OK

    return check


def loop_answers(loop: Callable[[], asyncio.AbstractEventLoop | None]) -> Check:
    """The event loop runs a no-op within the timeout (a loop blocked by a task does not)."""

    def check() -> str:
        target = loop()
        if target is None or target.is_closed():
            return "no event loop"
        return _on_loop(target, lambda: asyncio.sleep(0))

    return check


def database_reachable(
    loop: Callable[[], asyncio.AbstractEventLoop | None],
    session_factory: Callable[[], async_sessionmaker[AsyncSession]],
) -> Check:
    """``SELECT 1`` through the process's own engine, on the loop that owns its connections
    (``session_factory`` is called there)."""

    async def select_one() -> None:
        async with session_factory()() as session:
            await session.execute(text("SELECT 1"))

    def check() -> str:
        target = loop()
        if target is None or target.is_closed():
            return "no event loop"
        return _on_loop(target, select_one)

    return check


def broker_reachable(redis_url: str) -> Check:
    # A client of its own with short timeouts: the broker's client waits as long as the OS does.
    client = redis.Redis.from_url(
        redis_url,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
    )

    def check() -> str:
        try:
            client.ping()
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}"
        return OK

    return check


def _on_loop(loop: asyncio.AbstractEventLoop, work: Callable[[], Awaitable[object]]) -> str:
    async def run() -> object:
        return await work()

    future = asyncio.run_coroutine_threadsafe(run(), loop)
    try:
        future.result(timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        future.cancel()
        return f"no answer within {CHECK_TIMEOUT_SECONDS:.0f} s"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return OK


class HealthServer:
    """Serves ``/health`` from the liveness checks and ``/ready`` from the readiness checks."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        liveness: Mapping[str, Check],
        readiness: Mapping[str, Check],
    ) -> None:
        probes = {"/health": liveness, "/ready": readiness}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                checks = probes.get(self.path.split("?", 1)[0])
                if checks is None:
                    self._answer(HTTPStatus.NOT_FOUND, {"status": "not-found"})
                    return
                results = {name: _run_check(check) for name, check in checks.items()}
                healthy = all(result == OK for result in results.values())
                status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
                body = {"status": "ok" if healthy else "failing", "checks": results}
                if not healthy:
                    log.warning("health_check_failed", probe=self.path, checks=results)
                self._answer(status, body)

            def _answer(self, status: HTTPStatus, body: Mapping[str, object]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                """Probes every few seconds would drown the logs; failures are logged above."""

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="levier-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _run_check(check: Check) -> str:
    try:
        return check()
    except Exception as exc:  # a broken check fails its probe, never the server
        return f"check failed: {type(exc).__name__}: {exc}"


def start_health_server(
    settings: Settings, *, liveness: Mapping[str, Check], readiness: Mapping[str, Check]
) -> HealthServer | None:
    """Serve the probes on ``health_host:health_port`` (nothing when no port is set)."""
    if settings.health_port is None:
        return None
    server = HealthServer(
        settings.health_host, settings.health_port, liveness=liveness, readiness=readiness
    )
    return server.start()
