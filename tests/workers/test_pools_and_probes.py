"""Worker pools and probes: `levier worker --queues / --exclude-queues`, and the /health and
/ready endpoints of `levier worker` and `levier scheduler` (LEVIER_HEALTH_PORT), on real
processes; `levier --version`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from uuid import uuid4

import dramatiq
import httpx
import pytest
import redis
from click.testing import CliRunner

from backend.cli import main
from backend.config import Settings
from workers import health
from workers.run import QueueSelectionError, build_job_system, known_queues, select_queues

LEVIER = Path(sys.executable).parent / "levier"
ALL = known_queues()
BULK = frozenset({"imports", "exports", "rfm", "segments"})


def test_the_queues_are_those_the_tasks_are_sent_to() -> None:
    assert {"default", "imports", "exports", "rfm", "segments", "messages", "webhooks"} <= ALL


@pytest.mark.parametrize(
    ("queues", "exclude", "selected"),
    [
        ((), (), None),
        (("imports", "exports"), (), frozenset({"imports", "exports"})),
        ((), tuple(BULK), ALL - BULK),
    ],
    ids=["every-queue", "only", "all-but"],
)
def test_a_worker_consumes_the_queues_it_is_given(
    queues: tuple[str, ...], exclude: tuple[str, ...], selected: frozenset[str] | None
) -> None:
    assert select_queues(queues, exclude) == selected


@pytest.mark.parametrize(
    ("args", "detail"),
    [
        (
            ["--queues", "imports,imprts"],
            "unknown queue(s) imprts; the queues are billing, campaigns, connectors",
        ),
        (["--exclude-queues", "nope"], "unknown queue(s) nope"),
        (["--queues", "imports", "--exclude-queues", "rfm"], "not both"),
        (["--exclude-queues", ",".join(sorted(ALL))], "leaves no queue to consume"),
    ],
    ids=["unknown", "unknown-excluded", "both", "none-left"],
)
def test_a_bad_queue_selection_is_refused_before_the_worker_starts(
    args: list[str], detail: str
) -> None:
    result = CliRunner().invoke(main, ["worker", *args], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    error = json.loads(result.stderr.strip().splitlines()[-1])
    assert error["error"] == "invalid-queues"
    assert detail in error["detail"]
    with pytest.raises(QueueSelectionError):
        select_queues(*_split(args))


def _split(args: list[str]) -> tuple[list[str], list[str]]:
    chosen = {flag: value.split(",") for flag, value in zip(args[::2], args[1::2], strict=True)}
    return chosen.get("--queues", []), chosen.get("--exclude-queues", [])


def test_version_prints_the_installed_version_whatever_the_settings() -> None:
    # Settings that refuse to load (production without a secret key) do not stop --version.
    result = CliRunner().invoke(main, ["--version"], env={"LEVIER_ENV": "production"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"version": version("levier")}


# The probe server, in this process -----------------------------------------------------------


@contextlib.contextmanager
def probe_server(
    liveness: dict[str, health.Check], readiness: dict[str, health.Check]
) -> Iterator[str]:
    server = health.HealthServer("127.0.0.1", 0, liveness=liveness, readiness=readiness).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_liveness_fails_once_a_loop_stalls_and_readiness_once_redis_is_gone() -> None:
    fresh, stale = health.Stamp(), health.Stamp()
    stale._at -= 10  # its loop last turned ten seconds ago
    alive = {"loop": health.recent(fresh, 5, "loop")}
    stuck = {"loop": health.recent(stale, 5, "loop")}
    gone = {"broker": health.broker_reachable(f"redis://127.0.0.1:{_closed_port()}/0")}
    with probe_server(alive, gone) as url:
        ok = httpx.get(f"{url}/health")
        assert (ok.status_code, ok.json()) == (200, {"status": "ok", "checks": {"loop": "ok"}})
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["broker"] == "unreachable: ConnectionError"
        assert httpx.get(f"{url}/metrics").status_code == 404
    with probe_server(stuck, {}) as url:
        failing = httpx.get(f"{url}/health")
        assert failing.status_code == 503
        assert re.fullmatch(
            r"no loop round for 1\d s \(limit 5 s\)", failing.json()["checks"]["loop"]
        )


def test_a_check_that_raises_fails_its_probe_and_not_the_server() -> None:
    def broken() -> str:
        raise RuntimeError("boom")

    with probe_server({"broken": broken, "fine": lambda: health.OK}, {}) as url:
        answer = httpx.get(f"{url}/health")
        assert answer.status_code == 503
        assert answer.json()["checks"] == {
            "broken": "check failed: RuntimeError: boom",
            "fine": "ok",
        }


# Real processes -------------------------------------------------------------------------------


def _free_port() -> int:
    return _closed_port()


@contextlib.contextmanager
def levier(
    settings: Settings, log: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real `levier <args>` on the test's database (and Redis), its probes on a free port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIER_")}
    env |= {
        "LEVIER_DATABASE_URL": settings.database_url,
        "LEVIER_HEALTH_PORT": str(port := _free_port()),
        "LEVIER_WORKER_POLL_MS": "100",
        "LEVIER_SCHEDULER_INTERVAL_SECONDS": "0.5",
    }
    if settings.redis_url:
        env |= {
            "LEVIER_REDIS_URL": settings.redis_url,
            "LEVIER_REDIS_NAMESPACE": settings.redis_namespace,
        }
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603  (our own console script)
            [str(LEVIER), *args], env=env, stdout=sink, stderr=sink
        )
        try:
            yield process, f"http://127.0.0.1:{port}"
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


def until(condition: Callable[[], bool], what: str, log: Path, seconds: float = 60) -> None:
    """Wait for ``condition``; the cap only keeps a broken run from hanging the suite."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} never happened; log:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def probes_of(url: str) -> tuple[dict[str, object], dict[str, object]]:
    live, ready = httpx.get(f"{url}/health"), httpx.get(f"{url}/ready")
    assert (live.status_code, ready.status_code) == (200, 200), (live.text, ready.text)
    return live.json(), ready.json()


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def test_worker_pools_consume_their_own_queues_and_answer_their_probes(
    settings: Settings, stack: str, tmp_path: Path
) -> None:
    """A pool excluding `messages` runs a job of `default` and leaves one of `messages`, which
    a second pool, given `--queues messages`, then runs."""
    if stack != "postgres":
        pytest.skip("`levier worker` needs Redis")
    assert settings.redis_url is not None
    broker, _ = build_job_system(settings)
    jobs = redis.Redis.from_url(settings.redis_url)
    namespace = settings.redis_namespace

    def waiting(queue: str) -> int:
        return int(jobs.llen(f"{namespace}:{queue}"))

    def send(queue: str, actor: str, **kwargs: object) -> None:
        broker.enqueue(
            dramatiq.Message(queue_name=queue, actor_name=actor, args=(), kwargs=kwargs, options={})
        )

    log = tmp_path / "workers.log"
    with levier(settings, log, "worker", "--threads", "1", "--exclude-queues", "messages") as (
        others,
        url,
    ):
        until(lambda: answers(f"{url}/ready"), "the first worker ready", log)
        live, ready = probes_of(url)
        assert live == {
            "status": "ok",
            "checks": {"heartbeat": "ok", "threads": "ok", "event_loop": "ok"},
        }
        assert ready == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
        send("messages", "messaging.sweep_brand", tenant_id=str(uuid4()))
        send("default", "platform.purge_expired", tenant_id=None)
        until(
            lambda: (
                waiting("default") == 0 and '"task": "platform.purge_expired"' in log.read_text()
            ),
            "the job of `default` run",
            log,
        )
        assert waiting("messages") == 1
        with levier(settings, log, "worker", "--threads", "1", "--queues", "messages") as (
            sends,
            sends_url,
        ):
            until(lambda: waiting("messages") == 0, "the job of `messages` taken", log)
            until(
                lambda: '"task": "messaging.sweep_brand"' in log.read_text(),
                "the job of `messages` run",
                log,
            )
            assert answers(f"{sends_url}/health")
            assert stop(sends) == 0
        assert stop(others) == 0
    started = [json.loads(line) for line in log.read_text().splitlines() if '"starting"' in line]
    assert [entry["queues"] for entry in started] == [sorted(ALL - {"messages"}), ["messages"]]


def test_the_scheduler_answers_its_probes(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "scheduler.log"
    with levier(settings, log, "scheduler") as (scheduler, url):
        until(lambda: answers(f"{url}/ready"), "the scheduler ready", log)
        live, ready = probes_of(url)
        assert live == {"status": "ok", "checks": {"scheduler": "ok", "event_loop": "ok"}}
        expected = {"database": "ok", "broker": "ok"} if settings.redis_url else {"database": "ok"}
        assert ready == {"status": "ok", "checks": expected}
        assert stop(scheduler) == 0
