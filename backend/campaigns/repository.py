"""Queries of campaigns, their variants, occurrences and recipients. Recipients are written and
released set-based: one statement per chunk, never a row per round trip."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.campaigns.models import (
    Campaign,
    CampaignOccurrence,
    CampaignRecipient,
    CampaignVariant,
    OccurrenceKind,
    OccurrenceStatus,
    RecipientState,
)
from backend.core.db import dialect_of, insert_for
from backend.core.pagination import PageRequest, count_rows, paginate
from backend.core.tenancy import required_tenant

RECIPIENTS = cast(Table, CampaignRecipient.__table__)
ACTIVE = (OccurrenceStatus.PREPARING, OccurrenceStatus.SENDING, OccurrenceStatus.PAUSED)


# Campaigns and variants ------------------------------------------------------------------------


async def list_campaigns(
    session: AsyncSession, page: PageRequest
) -> tuple[list[Campaign], str | None]:
    return await paginate(session, select(Campaign), Campaign.id, page)


async def count_campaigns(session: AsyncSession) -> int:
    return await count_rows(session, select(Campaign))


async def count_of_program(session: AsyncSession, program_id: UUID) -> int:
    return await count_rows(session, select(Campaign).where(Campaign.program_id == program_id))


async def get_campaign(
    session: AsyncSession, campaign_id: UUID, *, lock: bool = False
) -> Campaign | None:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query.execution_options(populate_existing=lock))


async def variants_of(session: AsyncSession, campaign_id: UUID) -> list[CampaignVariant]:
    query = (
        select(CampaignVariant)
        .where(CampaignVariant.campaign_id == campaign_id)
        .order_by(CampaignVariant.position)
    )
    return list((await session.scalars(query)).all())


async def variants_of_many(
    session: AsyncSession, campaign_ids: Sequence[UUID]
) -> dict[UUID, list[CampaignVariant]]:
    found: dict[UUID, list[CampaignVariant]] = {i: [] for i in campaign_ids}
    if not campaign_ids:
        return found
    query = (
        select(CampaignVariant)
        .where(CampaignVariant.campaign_id.in_(list(campaign_ids)))
        .order_by(CampaignVariant.campaign_id, CampaignVariant.position)
    )
    for variant in (await session.scalars(query)).all():
        found.setdefault(variant.campaign_id, []).append(variant)
    return found


async def delete_variants(session: AsyncSession, campaign_id: UUID) -> None:
    for variant in await variants_of(session, campaign_id):
        await session.delete(variant)
    await session.flush()


# Occurrences -----------------------------------------------------------------------------------


async def insert_occurrence(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Store an occurrence unless its campaign has one at this planned moment already (the
    unique key decides: a start run twice, or by two schedulers, stores one)."""
    statement = (
        insert_for(session, CampaignOccurrence)
        .values({**values, "tenant_id": required_tenant(session)})
        .on_conflict_do_nothing(index_elements=["tenant_id", "campaign_id", "planned_at"])
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def get_occurrence(
    session: AsyncSession, occurrence_id: UUID, *, lock: bool = False
) -> CampaignOccurrence | None:
    query = select(CampaignOccurrence).where(CampaignOccurrence.id == occurrence_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query.execution_options(populate_existing=True))


async def occurrence_at(
    session: AsyncSession, campaign_id: UUID, planned_at: dt.datetime
) -> CampaignOccurrence | None:
    return await session.scalar(
        select(CampaignOccurrence).where(
            CampaignOccurrence.campaign_id == campaign_id,
            CampaignOccurrence.planned_at == planned_at,
        )
    )


async def list_occurrences(
    session: AsyncSession, campaign_id: UUID, page: PageRequest
) -> tuple[list[CampaignOccurrence], str | None]:
    query = select(CampaignOccurrence).where(CampaignOccurrence.campaign_id == campaign_id)
    return await paginate(session, query, CampaignOccurrence.id, page)


async def count_occurrences(session: AsyncSession, campaign_id: UUID) -> int:
    query = select(CampaignOccurrence).where(CampaignOccurrence.campaign_id == campaign_id)
    return await count_rows(session, query)


async def latest_occurrence(session: AsyncSession, campaign_id: UUID) -> CampaignOccurrence | None:
    """The campaign's latest occurrence that is not a test send."""
    query = (
        select(CampaignOccurrence)
        .where(
            CampaignOccurrence.campaign_id == campaign_id,
            CampaignOccurrence.kind == OccurrenceKind.SCHEDULED,
        )
        .order_by(CampaignOccurrence.planned_at.desc(), CampaignOccurrence.id.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def active_occurrences(
    session: AsyncSession, campaign_id: UUID, *, lock: bool = False
) -> list[CampaignOccurrence]:
    """The campaign's occurrences under way (test sends included), oldest first."""
    query = (
        select(CampaignOccurrence)
        .where(
            CampaignOccurrence.campaign_id == campaign_id,
            CampaignOccurrence.status.in_(ACTIVE),
        )
        .order_by(CampaignOccurrence.id)
    )
    if lock:
        query = query.with_for_update()
    return list((await session.scalars(query.execution_options(populate_existing=True))).all())


# Recipients ------------------------------------------------------------------------------------


async def insert_recipients(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> list[RecipientState]:
    """A chunk of an occurrence's audience in ONE statement (``INSERT … ON CONFLICT DO NOTHING
    RETURNING``): the states of the rows written (a row written before — a snapshot chunk run
    twice — is not counted again)."""
    if not rows:
        return []
    tenant = required_tenant(session)
    statement = (
        insert_for(session, RECIPIENTS)
        .on_conflict_do_nothing(index_elements=["tenant_id", "occurrence_id", "profile_id"])
        .returning(RECIPIENTS.c.state)
    )
    # An executemany: one compiled statement, sent as batched multi-row INSERTs (a VALUES list
    # built per call would cost its compilation, row by row, every time).
    result = await session.execute(statement, [{**row, "tenant_id": tenant} for row in rows])
    return [RecipientState(s) for s in result.scalars().all()]


def _due(now: dt.datetime) -> Any:
    return or_(CampaignRecipient.due_at.is_(None), CampaignRecipient.due_at <= now)


async def take_due(
    session: AsyncSession, occurrence_id: UUID, now: dt.datetime, limit: int
) -> list[tuple[UUID, str | None]]:
    """Up to ``limit`` waiting recipients whose time has come, in due order: (profile,
    variant). PostgreSQL locks them (SKIP LOCKED: a concurrent release takes others)."""
    query = (
        select(CampaignRecipient.profile_id, CampaignRecipient.variant)
        .where(
            CampaignRecipient.occurrence_id == occurrence_id,
            CampaignRecipient.state == RecipientState.WAITING,
            _due(now),
        )
        .order_by(CampaignRecipient.due_at.nulls_first(), CampaignRecipient.profile_id)
        .limit(limit)
    )
    if dialect_of(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [(p, v) for p, v in (await session.execute(query)).all()]


async def mark_released(
    session: AsyncSession,
    occurrence_id: UUID,
    released: Sequence[tuple[UUID, UUID]],
    now: dt.datetime,
) -> None:
    """Each (profile, message) released, in one statement (PostgreSQL: ``UPDATE … FROM
    unnest``; SQLite: an executemany by key)."""
    if not released:
        return
    tenant = required_tenant(session)
    if dialect_of(session) == "postgresql":
        await session.execute(
            text(
                "UPDATE campaign_recipients AS r SET state = 'released', message_id = v.message_id,"
                " released_at = :now, updated_at = :now"
                " FROM unnest(CAST(:profiles AS uuid[]), CAST(:messages AS uuid[]))"
                " AS v(profile_id, message_id)"
                " WHERE r.tenant_id = :tenant AND r.occurrence_id = :occurrence"
                " AND r.profile_id = v.profile_id"
            ),
            {
                "now": now,
                "tenant": tenant,
                "occurrence": occurrence_id,
                "profiles": [p for p, _ in released],
                "messages": [m for _, m in released],
            },
        )
        return
    statement = (
        update(RECIPIENTS)
        .where(
            RECIPIENTS.c.tenant_id == bindparam("b_tenant"),
            RECIPIENTS.c.occurrence_id == bindparam("b_occurrence"),
            RECIPIENTS.c.profile_id == bindparam("b_profile"),
        )
        .values(
            state=RecipientState.RELEASED.value,
            message_id=bindparam("b_message"),
            released_at=now,
            updated_at=now,
        )
    )
    await session.execute(
        statement,
        [
            {"b_tenant": tenant, "b_occurrence": occurrence_id, "b_profile": p, "b_message": m}
            for p, m in released
        ],
    )


async def next_due(session: AsyncSession, occurrence_id: UUID) -> dt.datetime | None:
    """The earliest time a waiting recipient is due at (None when none waits for a time)."""
    query = select(func.min(CampaignRecipient.due_at)).where(
        CampaignRecipient.occurrence_id == occurrence_id,
        CampaignRecipient.state == RecipientState.WAITING,
    )
    found: dt.datetime | None = await session.scalar(query)
    return found


async def has_state(
    session: AsyncSession, occurrence_id: UUID, states: Sequence[RecipientState]
) -> bool:
    query = (
        select(CampaignRecipient.profile_id)
        .where(
            CampaignRecipient.occurrence_id == occurrence_id,
            CampaignRecipient.state.in_(list(states)),
        )
        .limit(1)
    )
    return await session.scalar(query) is not None


async def count_states(session: AsyncSession, occurrence_id: UUID) -> dict[RecipientState, int]:
    query = (
        select(CampaignRecipient.state, func.count())
        .where(CampaignRecipient.occurrence_id == occurrence_id)
        .group_by(CampaignRecipient.state)
    )
    return {RecipientState(s): int(n) for s, n in (await session.execute(query)).all()}


async def give_winner(
    session: AsyncSession, occurrence_id: UUID, variant: str, not_before: dt.datetime | None
) -> int:
    """Every recipient waiting for the winner gets ``variant`` (and, with ``not_before``, is
    due no earlier than it), in one statement; how many."""
    values: dict[str, Any] = {"state": RecipientState.WAITING, "variant": variant}
    statement = update(CampaignRecipient).where(
        CampaignRecipient.occurrence_id == occurrence_id,
        CampaignRecipient.state == RecipientState.AWAITING_WINNER,
    )
    if not_before is not None:
        # Two statements keep each one a plain UPDATE on both dialects.
        later = statement.where(
            or_(CampaignRecipient.due_at.is_(None), CampaignRecipient.due_at < not_before)
        ).values({**values, "due_at": not_before})
        first = await session.execute(later.execution_options(synchronize_session=False))
    else:
        first = None
    rest = await session.execute(
        statement.values(values).execution_options(synchronize_session=False)
    )
    return int(getattr(first, "rowcount", 0) or 0) + int(getattr(rest, "rowcount", 0) or 0)


async def withdraw(session: AsyncSession, occurrence_id: UUID, now: dt.datetime) -> int:
    """The recipients not released yet will not be: cancelled, in one statement; how many."""
    result = await session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.occurrence_id == occurrence_id,
            CampaignRecipient.state.in_([RecipientState.WAITING, RecipientState.AWAITING_WINNER]),
        )
        .values(state=RecipientState.CANCELLED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def list_recipients(
    session: AsyncSession,
    occurrence_id: UUID,
    page: PageRequest,
    *,
    state: RecipientState | None = None,
    variant: str | None = None,
) -> tuple[list[CampaignRecipient], str | None]:
    query = select(CampaignRecipient).where(CampaignRecipient.occurrence_id == occurrence_id)
    if state is not None:
        query = query.where(CampaignRecipient.state == state)
    if variant is not None:
        query = query.where(CampaignRecipient.variant == variant)
    return await paginate(session, query, CampaignRecipient.profile_id, page)


async def released_of(
    session: AsyncSession,
    occurrence_id: UUID,
    variants: Sequence[str],
    *,
    after: UUID | None,
    limit: int,
) -> list[tuple[UUID, str, UUID]]:
    """A page of the released recipients of these variants: (profile, variant, message)."""
    query = select(
        CampaignRecipient.profile_id, CampaignRecipient.variant, CampaignRecipient.message_id
    ).where(
        CampaignRecipient.occurrence_id == occurrence_id,
        CampaignRecipient.state == RecipientState.RELEASED,
        CampaignRecipient.variant.in_(list(variants)),
    )
    if after is not None:
        query = query.where(CampaignRecipient.profile_id > after)
    query = query.order_by(CampaignRecipient.profile_id).limit(limit)
    return [
        (p, str(v), m)
        for p, v, m in (await session.execute(query)).all()
        if v is not None and m is not None
    ]


async def repoint_recipients(session: AsyncSession, merged_id: UUID, survivor_id: UUID) -> None:
    """A merged profile's recipient rows move to the survivor, except in an occurrence the
    survivor is a recipient of already (those go with the merged profile)."""
    other = aliased(CampaignRecipient)
    taken = (
        select(other.profile_id)
        .where(
            other.tenant_id == CampaignRecipient.tenant_id,
            other.occurrence_id == CampaignRecipient.occurrence_id,
            other.profile_id == survivor_id,
        )
        .exists()
    )
    await session.execute(
        update(CampaignRecipient)
        .where(and_(CampaignRecipient.profile_id == merged_id, ~taken))
        .values(profile_id=survivor_id)
        .execution_options(synchronize_session=False)
    )


async def delete_campaign(session: AsyncSession, campaign: Campaign) -> None:
    """A campaign with its variants, occurrences and recipients (set-based)."""
    occurrences = select(CampaignOccurrence.id).where(CampaignOccurrence.campaign_id == campaign.id)
    await session.execute(
        delete(CampaignRecipient).where(CampaignRecipient.occurrence_id.in_(occurrences))
    )
    await session.execute(
        delete(CampaignOccurrence).where(CampaignOccurrence.campaign_id == campaign.id)
    )
    await session.execute(delete(CampaignVariant).where(CampaignVariant.campaign_id == campaign.id))
    await session.delete(campaign)
    await session.flush()
