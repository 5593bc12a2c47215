"""A `levier worker` killed (SIGKILL) in the middle of a batch of sends: another worker finishes
the batch and every message is sent exactly once (the capture provider commits with the ledger;
a claim of the dead worker is taken again once its lease ran out)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.config import Settings
from backend.core.jobs import enqueue
from backend.core.tenancy import TenantId
from backend.events.models import Event
from backend.messaging import service
from backend.messaging.models import Message, MessageChannel, MessagePriority, SourceKind
from backend.messaging.providers.models import CapturedMessage
from backend.messaging.tasks import DELIVER_BATCH_TASK
from backend.profiles import service as profile_service
from backend.profiles.schemas import ProfileCreate
from tests.factories import make_world, session_of

LEVIER = Path(sys.executable).parent / "levier"
MESSAGES = 200
TEMPLATE = {
    "key": "receipt",
    "name": "Receipt",
    "channel": "email",
    "defaultLocale": "en",
    "variants": {
        "en": {
            "subject": "Receipt for {{ email }}",
            "body": '<p>Thanks!</p><a href="https://shop.test/orders">Your orders</a>',
        }
    },
}


@contextlib.contextmanager
def worker(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `levier worker` on the test's database and Redis namespace. Its claims last 1 s and
    a dead worker's jobs come back after 1.5 s, so a killed send is taken again at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVIER_")}
    assert settings.redis_url is not None
    env |= {
        "LEVIER_DATABASE_URL": settings.database_url,
        "LEVIER_REDIS_URL": settings.redis_url,
        "LEVIER_REDIS_NAMESPACE": settings.redis_namespace,
        "LEVIER_WORKER_POLL_MS": "100",
        "LEVIER_WORKER_HEARTBEAT_TIMEOUT_SECONDS": "1.5",
        "LEVIER_MESSAGE_SEND_LEASE_SECONDS": "1",
    }
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603  (our own console script)
            [str(LEVIER), "worker", "--threads", "2"], env=env, stdout=sink, stderr=sink
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.mark.parametrize("mode", ["single", "batch"])
async def test_a_killed_worker_leaves_no_message_unsent_or_sent_twice(
    app: Litestar,
    client: httpx.AsyncClient,
    settings: Settings,
    stack: str,
    tmp_path: Path,
    mode: str,
) -> None:
    """``single``: one `messaging.deliver` task per message; ``batch``: `messaging.deliver_batch`
    tasks of 10 messages, each full batch queueing the next (the kill lands mid-batch)."""
    if stack != "postgres":
        pytest.skip("`levier worker` needs Redis")
    world = await make_world(app)
    brand = world.brand_a.id
    created = await client.post(
        f"/v1/brands/{brand}/templates", json=TEMPLATE, headers=world.admin_a.headers
    )
    assert created.status_code == 201, created.text
    template_id = UUID(created.json()["id"])
    log = tmp_path / "workers.log"

    async def count(what: object) -> int:
        async with session_of(app, brand) as session:
            return int(await session.scalar(what) or 0)  # type: ignore[call-overload]

    sent = select(func.count()).select_from(Message).where(Message.status == "sent")
    with worker(settings, log) as first:
        async with session_of(app, brand) as session:
            for n in range(MESSAGES):
                profile, _ = await profile_service.create_profile(
                    session, TenantId(brand), ProfileCreate(email=f"p{n}@example.com")
                )
                message, _ = await service.record(
                    session,
                    TenantId(brand),
                    source_kind=SourceKind.TRANSACTIONAL,
                    source_key=f"batch-{n}",
                    profile_id=profile.id,
                    channel=MessageChannel.EMAIL,
                    template_id=template_id,
                    priority=MessagePriority.TRANSACTIONAL,
                )
                if mode == "single":
                    await enqueue(
                        session,
                        service.DELIVER_TASK,
                        tenant=TenantId(brand),
                        message_id=str(message.id),
                    )
            if mode == "batch":
                await enqueue(session, DELIVER_BATCH_TASK, tenant=TenantId(brand), limit=10)
            await session.commit()  # the app's relay hands the 200 tasks to Redis
        deadline = time.monotonic() + 60
        while await count(sent) < MESSAGES // 5:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
    at_kill = await count(sent)
    assert at_kill < MESSAGES, "the batch ended before the kill: nothing was interrupted"
    with worker(settings, log):
        deadline = time.monotonic() + 60
        while await count(sent) < MESSAGES:
            assert time.monotonic() < deadline, (at_kill, log.read_text()[-3000:])
            await asyncio.sleep(0.05)
    async with session_of(app, brand) as session:
        captured = (await session.scalars(select(CapturedMessage.message_id))).all()
        statuses = (await session.scalars(select(Message.status))).all()
        told = await session.scalar(
            select(func.count()).select_from(Event).where(Event.name == "message_sent")
        )
    assert len(captured) == MESSAGES
    assert len(set(captured)) == MESSAGES  # no message sent twice
    assert {str(s) for s in statuses} == {"sent"}
    assert told == MESSAGES  # one message_sent event each
