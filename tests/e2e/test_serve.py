"""The README's ``make run`` path, end to end: migrate, load the demo, serve, and call the API.

The installed ``levier`` script runs in a fresh folder on SQLite with the in-process worker, so
the demo brand (created by the CLI, its job left in the outbox) is provisioned by the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from backend.cli import DEMO_EMAIL

LEVIER = Path(sys.executable).parent / "levier"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def levier(folder: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603  (our own console script)
        [str(LEVIER), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, (args, completed.stdout, completed.stderr)
    payload: dict[str, Any] = json.loads(completed.stdout)
    return payload


def eventually(
    probe: Callable[[], T | None], what: str, server: subprocess.Popen[bytes], log: Path
) -> T:
    """Poll ``probe`` until it returns a value; fail after 30 s or if the server died."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited ({server.returncode}):\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            found = probe()
            if found is not None:
                return found
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within 30 s:\n{log.read_text()}")


@contextlib.contextmanager
def serving(folder: Path, env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    log = folder / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(  # noqa: S603  (our own console script)
            [str(LEVIER), "serve", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            yield server
        finally:
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    work = tmp_path / "run"
    work.mkdir()
    return work


@pytest.fixture
def env(folder: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEVIER_")}
    clean["LEVIER_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'levier.db'}"
    return clean


def test_migrate_demo_serve_and_call_the_api(folder: Path, env: dict[str, str]) -> None:
    assert levier(folder, env, "migrate") == {"migrated": "head"}
    demo = levier(folder, env, "demo")
    headers = {"Authorization": f"Bearer {demo['access_token']}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = folder / "serve.log"

    with serving(folder, env, port) as server, httpx.Client(base_url=base, timeout=10) as http:

        def healthy() -> dict[str, Any] | None:
            response = http.get("/health")
            return response.json() if response.status_code == 200 else None

        assert eventually(healthy, "GET /health", server, log) == {"status": "ok"}

        ready = http.get("/ready")
        assert ready.status_code == 200, ready.text

        def provisioned() -> dict[str, Any] | None:
            response = http.get(f"/v1/brands/{demo['brand_id']}", headers=headers)
            assert response.status_code == 200, response.text
            brand: dict[str, Any] = response.json()
            return brand if brand["status"] == "active" else None

        brand = eventually(provisioned, "the demo brand's provisioning", server, log)
        assert brand["agencyId"] == demo["agency_id"]
        assert brand["provisionedAt"] is not None

        settings = http.get(f"/v1/brands/{demo['brand_id']}/settings", headers=headers)
        assert settings.status_code == 200, settings.text

        graphql = http.post(
            "/graphql",
            json={"query": "{ viewer { email } brands { nodes { uuid status } } }"},
            headers=headers,
        )
        assert graphql.status_code == 200, graphql.text
        assert graphql.json() == {
            "data": {
                "viewer": {"email": DEMO_EMAIL},
                "brands": {"nodes": [{"uuid": demo["brand_id"], "status": "ACTIVE"}]},
            }
        }

        server.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete." in log.read_text()


def test_serve_prints_where_it_listens(folder: Path, env: dict[str, str]) -> None:
    levier(folder, env, "migrate")
    port = free_port()
    log = folder / "serve.log"
    with serving(folder, env, port) as server:

        def announced() -> dict[str, Any] | None:
            for line in log.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    payload: dict[str, Any] = json.loads(line)
                    if "serving" in payload:
                        return payload
            return None

        payload = eventually(announced, "the serve announcement", server, log)
    assert payload["serving"] == f"http://127.0.0.1:{port}"
    assert payload["graphql"] == f"http://127.0.0.1:{port}/graphql"
    assert payload["embedded_worker"] is True
    assert payload["metrics"] is None


def test_serve_publishes_metrics_on_their_own_port_only(folder: Path, env: dict[str, str]) -> None:
    levier(folder, env, "migrate")
    port, metrics_port = free_port(), free_port()
    env = {**env, "LEVIER_METRICS_PORT": str(metrics_port)}
    log = folder / "serve.log"
    with serving(folder, env, port) as server, httpx.Client() as http:

        def health() -> httpx.Response | None:
            response = http.get(f"http://127.0.0.1:{port}/health")
            return response if response.status_code == 200 else None

        eventually(health, "the API", server, log)
        public = http.get(f"http://127.0.0.1:{port}/metrics")
        http.get(f"http://127.0.0.1:{port}/v1/brands")
        scraped = http.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert public.status_code == 404
    assert scraped.status_code == 200
    assert 'path="/v1/brands"' in scraped.text
    assert "process_resident_memory_bytes" in scraped.text


@pytest.mark.parametrize(
    ("trusted", "other_address_limited"),
    [("127.0.0.1", False), ("192.0.2.1", True)],
    ids=["proxy-trusted", "proxy-not-trusted"],
)
def test_serve_takes_the_client_address_from_trusted_proxies_only(
    folder: Path, env: dict[str, str], trusted: str, other_address_limited: bool
) -> None:
    levier(folder, env, "migrate")
    port = free_port()
    env = {
        **env,
        "LEVIER_FORWARDED_ALLOW_IPS": trusted,
        "LEVIER_RATE_LIMIT_PER_CALLER": "2/minute",
    }
    log = folder / "serve.log"
    url = f"http://127.0.0.1:{port}/v1/brands"
    with serving(folder, env, port) as server, httpx.Client() as http:

        def health() -> httpx.Response | None:
            response = http.get(f"http://127.0.0.1:{port}/health")
            return response if response.status_code == 200 else None

        eventually(health, "the API", server, log)
        # Anonymous callers are limited per client address: the forwarded one when the proxy
        # (here the test itself, on the loopback) is trusted, else the proxy's own.
        first = [
            http.get(url, headers={"x-forwarded-for": "198.51.100.1"}).status_code for _ in range(3)
        ]
        other = http.get(url, headers={"x-forwarded-for": "198.51.100.2"}).status_code
    assert first == [401, 401, 429]
    assert other == (429 if other_address_limited else 401)
