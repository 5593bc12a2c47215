"""Recording a batch of messages at once (`messaging.service.record_requests`, what scenario steps
use): each dedupe key written once, in a constant number of statements, earlier messages
answered as they are."""

from __future__ import annotations

from uuid import uuid4

from litestar import Litestar
from sqlalchemy import func, select

from backend.core.tenancy import TenantId
from backend.messaging import service
from backend.messaging.models import (
    Message,
    MessageChannel,
    MessageEvent,
    MessagePriority,
    MessageStatus,
    SourceKind,
)
from tests.factories import make_world, session_of, statements_of
from tests.segments.helpers import make_profile


async def test_a_batch_is_recorded_once_per_key_in_a_few_statements(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    tenant = TenantId(brand)
    profiles = [await make_profile(app, brand, email=f"p{n}@example.com") for n in range(30)]
    template = uuid4()

    def request(n: int) -> service.RecordRequest:
        return service.RecordRequest(
            source_kind=SourceKind.SCENARIO,
            source_key=f"journey:{n}",
            profile_id=profiles[n],
            channel=MessageChannel.EMAIL,
            template_id=template,
            priority=MessagePriority.TRIGGERED,
            data={"n": n},
        )

    async with session_of(app, brand) as session:
        first = await service.record_requests(session, tenant, [request(n) for n in range(20)])
        await session.commit()
    assert all(r.created and r.status is MessageStatus.QUEUED for r in first)
    async with session_of(app, brand) as session:
        with statements_of(app) as statements:
            again = await service.record_requests(session, tenant, [request(n) for n in range(30)])
        message = await session.get(Message, (brand, again[0].message_id))
        assert message is not None
        message.status = MessageStatus.SENT
        await session.commit()
    written = [s for s in statements if "message" in s.lower()]
    assert len(written) <= 5, written  # whatever the batch's size
    assert [r.message_id for r in again[:20]] == [r.message_id for r in first]
    assert [r.created for r in again] == [False] * 20 + [True] * 10
    async with session_of(app, brand) as session:
        third = await service.record_requests(session, tenant, [request(0)])
        counts = (
            await session.scalar(select(func.count()).select_from(Message)),
            await session.scalar(select(func.count()).select_from(MessageEvent)),
        )
        stored = await session.get(Message, (brand, first[5].message_id))
    assert (third[0].created, third[0].status) == (False, MessageStatus.SENT)
    assert counts == (30, 30)  # one message and one `queued` timeline row per key
    assert stored is not None
    assert (stored.source_kind, stored.dedupe_key, stored.data) == (
        SourceKind.SCENARIO,
        f"scenario:journey:5:{profiles[5]}:email",
        {"n": 5},
    )
