"""Helpers of the segment tests: profiles, orders, events, consents, linked rows and RFM scores
written through the real services (events and scores as rows), and the compiled statement run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

from litestar import Litestar
from sqlalchemy import select

from backend.core.tenancy import TenantId
from backend.events.models import Event
from backend.profiles import attributes, consents, orders
from backend.profiles import service as profile_service
from backend.profiles.linked import service as linked
from backend.profiles.linked.schemas import LinkedColumn, LinkedRowCreate, LinkedTableCreate
from backend.profiles.models import AttributeType, Channel, ConsentState
from backend.profiles.schemas import (
    AttributeCreate,
    ConsentChangeIn,
    OrderIn,
    OrderLineIn,
    ProfileCreate,
)
from backend.rfm.models import RfmKind, RfmMethod, RfmRun, RfmRunStatus, RfmScore
from backend.segments import compiler, membership, service
from backend.segments.models import Segment, SegmentKind, SegmentMember, SegmentTransition
from backend.segments.repository import Outcome
from backend.segments.schemas import SegmentCreate
from tests.factories import session_of

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def days_ago(days: float, now: dt.datetime = NOW) -> dt.datetime:
    return now - dt.timedelta(days=days)


async def make_profile(app: Litestar, brand_id: UUID, **fields: Any) -> UUID:
    async with session_of(app, brand_id) as session:
        profile, _ = await profile_service.create_profile(
            session, TenantId(brand_id), ProfileCreate(**fields)
        )
        await session.commit()
    return profile.id


async def define_attribute(
    app: Litestar, brand_id: UUID, key: str, type: AttributeType, options: list[str] | None = None
) -> None:
    async with session_of(app, brand_id) as session:
        await attributes.create_attribute(
            session, AttributeCreate(key=key, label=key.title(), type=type, options=options)
        )
        await session.commit()


async def add_order(
    app: Litestar,
    brand_id: UUID,
    profile_id: UUID,
    order_id: str,
    when: dt.datetime,
    amount: str = "10",
    store: str | None = None,
    categories: tuple[str, ...] = (),
) -> None:
    lines = [
        OrderLineIn(product=f"p-{c}", quantity=Decimal(1), price=Decimal(amount), category=c)
        for c in categories
    ]
    async with session_of(app, brand_id) as session:
        await orders.create_order(
            session,
            profile_id,
            OrderIn(
                order_id=order_id,
                occurred_at=when,
                amount=Decimal(amount),
                currency="EUR",
                store=store,
                lines=lines,
            ),
        )
        await session.commit()


async def add_event(
    app: Litestar,
    brand_id: UUID,
    profile_id: UUID,
    name: str,
    when: dt.datetime,
    **properties: Any,
) -> None:
    async with session_of(app, brand_id) as session:
        session.add(
            Event(
                event_id=f"{name}-{profile_id}-{when.isoformat()}-{len(properties)}",
                name=name,
                profile_id=profile_id,
                occurred_at=when,
                source="test",
                properties=properties,
            )
        )
        await session.commit()


async def consent(
    app: Litestar,
    brand_id: UUID,
    profile_id: UUID,
    state: ConsentState,
    when: dt.datetime,
    channel: Channel | None = Channel.EMAIL,
    topic: str | None = None,
) -> None:
    async with session_of(app, brand_id) as session:
        await consents.record_change(
            session,
            profile_id,
            ConsentChangeIn(
                state=state, source="test", channel=channel, topic=topic, occurred_at=when
            ),
        )
        await session.commit()


async def linked_table(
    app: Litestar, brand_id: UUID, key: str, columns: list[LinkedColumn]
) -> None:
    async with session_of(app, brand_id) as session:
        await linked.create_table(session, LinkedTableCreate(key=key, label=key, columns=columns))
        await session.commit()


async def linked_row(
    app: Litestar, brand_id: UUID, table: str, profile_id: UUID, **values: Any
) -> None:
    async with session_of(app, brand_id) as session:
        await linked.create_row(
            session,
            TenantId(brand_id),
            table,
            LinkedRowCreate(values=values, profile_id=profile_id),
        )
        await session.commit()


async def rfm_run(
    app: Litestar,
    brand_id: UUID,
    scores: dict[UUID, tuple[int, int, int, str]],
    finished_at: dt.datetime,
    kind: RfmKind = RfmKind.PURCHASE,
) -> None:
    """A succeeded run with (r, f, m, segment) per profile."""
    async with session_of(app, brand_id) as session:
        run = RfmRun(
            kind=kind,
            as_of=finished_at,
            window_days=365,
            status=RfmRunStatus.SUCCEEDED,
            method=RfmMethod.QUINTILES,
            finished_at=finished_at,
        )
        session.add(run)
        await session.flush()
        for profile_id, (r, f, m, segment) in scores.items():
            session.add(
                RfmScore(
                    run_id=run.id,
                    profile_id=profile_id,
                    recency_days=10 * (6 - r),
                    frequency=f,
                    monetary=Decimal(m * 100),
                    r=r,
                    f=f,
                    m=m,
                    segment=segment,
                )
            )
        await session.commit()


async def matching(
    app: Litestar, brand_id: UUID, definition: Any, now: dt.datetime = NOW
) -> set[UUID]:
    """The profiles the definition holds for (and the count statement agrees)."""
    async with session_of(app, brand_id) as session:
        node = await service.parsed(session, definition)
        ctx = await service.context(session, TenantId(brand_id), now)
        ids = set((await session.scalars(compiler.members_query(node, ctx))).all())
        count = await session.scalar(compiler.count_query(node, ctx))
    assert count == len(ids)
    return ids


async def create_segment(
    app: Litestar,
    brand_id: UUID,
    key: str,
    definition: dict[str, Any] | None,
    kind: SegmentKind = SegmentKind.RULE,
) -> Segment:
    async with session_of(app, brand_id) as session:
        segment = await service.create_segment(
            session,
            TenantId(brand_id),
            SegmentCreate(key=key, name=key, kind=kind, definition=definition),
        )
        await session.commit()
    return segment


async def evaluate(
    app: Litestar, brand_id: UUID, segment_id: UUID, now: dt.datetime = NOW
) -> Outcome | None:
    async with session_of(app, brand_id) as session:
        outcome = await membership.evaluate(session, TenantId(brand_id), segment_id, now=now)
        await session.commit()
    return outcome


async def members(app: Litestar, brand_id: UUID, segment_id: UUID) -> set[UUID]:
    async with session_of(app, brand_id) as session:
        query = select(SegmentMember.profile_id).where(SegmentMember.segment_id == segment_id)
        return set((await session.scalars(query)).all())


async def transitions(app: Litestar, brand_id: UUID, segment_id: UUID) -> list[tuple[UUID, str]]:
    async with session_of(app, brand_id) as session:
        query = (
            select(SegmentTransition)
            .where(SegmentTransition.segment_id == segment_id)
            .order_by(SegmentTransition.id)
        )
        return [(t.profile_id, t.kind.value) for t in (await session.scalars(query)).all()]
