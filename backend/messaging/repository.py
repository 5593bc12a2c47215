"""Queries of the ledger and the pressure policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import dialect_of, insert_for, utcnow
from backend.core.ids import new_id
from backend.core.pagination import PageRequest, paginate
from backend.core.tenancy import session_tenant
from backend.messaging.models import (
    Message,
    MessageEvent,
    MessageKey,
    MessageStatus,
    PressurePolicy,
)
from backend.messaging.pressure import LONGEST_WINDOW

# What a worker may claim: waiting messages (a deferred one only once due).
CLAIMABLE = (MessageStatus.QUEUED, MessageStatus.DEFERRED)
# Statuses that occupy a pressure slot: planned (deferred with a slot), on its way or gone.
COUNTED = (
    MessageStatus.QUEUED,
    MessageStatus.DEFERRED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.OPENED,
    MessageStatus.CLICKED,
    MessageStatus.BOUNCED_SOFT,
)


def id_floor(moment: dt.datetime) -> UUID:
    """The smallest UUIDv7 of ``moment``: a bound on ``messages.id`` that prunes partitions."""
    millis = int(moment.timestamp() * 1000)
    return UUID(int=millis << 80)


async def claim_key(session: AsyncSession, dedupe_key: str, message_id: UUID) -> UUID:
    """Claim ``dedupe_key`` for ``message_id``; the id of the message that holds it (another one
    when the key was claimed first). One statement decides, whatever the concurrency: a second
    writer waits for the first's commit, then finds its row."""
    statement = (
        insert_for(session, MessageKey)
        .values(
            tenant_id=session_tenant(session),
            dedupe_key=dedupe_key,
            message_id=message_id,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        .returning(MessageKey.message_id)
    )
    claimed = await session.scalar(statement)
    if claimed is not None:
        return UUID(str(claimed))
    holder = await session.scalar(
        select(MessageKey.message_id).where(MessageKey.dedupe_key == dedupe_key)
    )
    if holder is None:  # pragma: no cover - the conflict proves it exists
        raise RuntimeError("dedupe key vanished")
    return holder


async def holder_of(session: AsyncSession, dedupe_key: str) -> UUID | None:
    return await session.scalar(
        select(MessageKey.message_id).where(MessageKey.dedupe_key == dedupe_key)
    )


async def repoint(session: AsyncSession, merged_id: UUID, survivor_id: UUID) -> None:
    await session.execute(
        update(Message)
        .where(Message.profile_id == merged_id)
        .values(profile_id=survivor_id)
        .execution_options(synchronize_session=False)
    )


async def get_message(session: AsyncSession, message_id: UUID) -> Message | None:
    return await session.scalar(select(Message).where(Message.id == message_id))


async def list_messages(
    session: AsyncSession,
    page: PageRequest,
    *,
    status: str | None = None,
    channel: str | None = None,
    profile_id: UUID | None = None,
) -> tuple[list[Message], str | None]:
    query = select(Message)
    if status is not None:
        query = query.where(Message.status == status)
    if channel is not None:
        query = query.where(Message.channel == channel)
    if profile_id is not None:
        query = query.where(Message.profile_id == profile_id)
    return await paginate(session, query, Message.id, page)


async def sent_counts(
    session: AsyncSession, since: dt.datetime, until: dt.datetime
) -> dict[str, int]:
    """Messages of the brand handed to their provider in [since, until), per channel (one
    query on the index of ``sent_at``)."""
    query = (
        select(Message.channel, func.count())
        .where(Message.sent_at >= since, Message.sent_at < until)
        .group_by(Message.channel)
    )
    return {str(channel): int(count) for channel, count in (await session.execute(query)).all()}


async def release_deferred(session: AsyncSession, reasons: Sequence[str], now: dt.datetime) -> int:
    """Deferred messages whose reason is one of ``reasons`` become due now; how many."""
    result = await session.execute(
        update(Message)
        .where(Message.status == MessageStatus.DEFERRED, Message.status_reason.in_(list(reasons)))
        .values(due_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def timeline(session: AsyncSession, message_id: UUID) -> list[MessageEvent]:
    query = (
        select(MessageEvent)
        .where(MessageEvent.message_id == message_id)
        .order_by(MessageEvent.occurred_at, MessageEvent.id)
    )
    return list((await session.scalars(query)).all())


def add_event(
    session: AsyncSession,
    message_id: UUID,
    kind: MessageStatus,
    *,
    detail: str | None = None,
    until: dt.datetime | None = None,
    url: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> None:
    session.add(
        MessageEvent(
            id=new_id(),
            message_id=message_id,
            kind=kind,
            detail=detail[:1000] if detail else None,
            until=until,
            url=url,
            occurred_at=occurred_at or utcnow(),
        )
    )


async def claim_for_sending(
    session: AsyncSession, message_id: UUID, now: dt.datetime, lease: dt.timedelta
) -> Message | None:
    """Take the message for one send, in ONE statement: a waiting message that is due, or one
    whose previous claimer died (its lease ran out). None when another worker has it, or it
    was sent, refused or failed already."""
    statement = (
        update(Message)
        .where(
            Message.id == message_id,
            (Message.status.in_(CLAIMABLE) & ((Message.due_at.is_(None)) | (Message.due_at <= now)))
            | ((Message.status == MessageStatus.SENDING) & (Message.claimed_at < now - lease)),
        )
        .values(
            status=MessageStatus.SENDING,
            claimed_at=now,
            attempts=Message.attempts + 1,
            updated_at=now,
        )
        .returning(Message)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def stale_sending(session: AsyncSession, before: dt.datetime, limit: int = 500) -> list[UUID]:
    query = (
        select(Message.id)
        .where(Message.status == MessageStatus.SENDING, Message.claimed_at < before)
        .order_by(Message.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def counted_of_many(
    session: AsyncSession,
    profile_ids: Sequence[UUID],
    now: dt.datetime,
    exclude: Sequence[UUID],
) -> dict[UUID, list[tuple[str, dt.datetime]]]:
    """Per profile, (channel, slot time) of its messages holding a pressure slot within the
    longest window before now, or planned after it — except ``exclude`` (the messages being
    decided). One query for a whole batch."""
    since = now - LONGEST_WINDOW
    found: dict[UUID, list[tuple[str, dt.datetime]]] = {p: [] for p in profile_ids}
    if not profile_ids:
        return found
    query = select(Message.profile_id, Message.channel, Message.counted_at).where(
        Message.profile_id.in_(list(set(profile_ids))),
        Message.counted_at > since,
        Message.status.in_(COUNTED),
        # Deferrals are bounded by the windows: a counted message was created within two of them.
        Message.id >= id_floor(since - LONGEST_WINDOW),
    )
    if exclude:
        query = query.where(Message.id.not_in(list(exclude)))
    for profile_id, channel, counted_at in (await session.execute(query)).all():
        if counted_at is not None:
            found.setdefault(profile_id, []).append((str(channel), counted_at))
    return found


async def lock_profiles_pressure(session: AsyncSession, profile_ids: Sequence[UUID]) -> None:
    """Serialise the gate of each profile's messages (PostgreSQL: transaction advisory locks, one
    per profile, taken in ONE statement in a stable order — the keys sorted — so two batches
    sharing profiles queue behind each other instead of deadlocking, and never both take one
    profile's last slot). SQLite has one writer anyway."""
    if dialect_of(session) != "postgresql" or not profile_ids:
        return
    keys = sorted({f"messaging-pressure:{p}" for p in profile_ids})
    await session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT hashtextextended(key, 0) AS k"
            " FROM unnest(CAST(:keys AS text[])) AS key ORDER BY k OFFSET 0) AS ordered"
        ),
        {"keys": keys},
    )


async def claim_batch(
    session: AsyncSession,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    message_ids: Sequence[UUID] | None = None,
) -> list[Message]:
    """Take up to ``limit`` messages for one send each, in ONE statement: waiting messages that
    are due, or whose previous claimer died (its lease ran out) — among ``message_ids`` when
    given. PostgreSQL skips the rows another worker is claiming (FOR UPDATE SKIP LOCKED); SQLite
    has one writer. The returned messages are detached: the batch writes them back set-based."""
    claimable = (
        Message.status.in_(CLAIMABLE) & ((Message.due_at.is_(None)) | (Message.due_at <= now))
    ) | ((Message.status == MessageStatus.SENDING) & (Message.claimed_at < now - lease))
    chosen = select(Message.id).where(claimable)
    if message_ids is not None:
        chosen = chosen.where(Message.id.in_(list(message_ids)))
    chosen = chosen.order_by(Message.id).limit(limit)
    if dialect_of(session) == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    statement = (
        update(Message)
        .where(Message.id.in_(chosen.scalar_subquery()), claimable)
        .values(
            status=MessageStatus.SENDING,
            claimed_at=now,
            attempts=Message.attempts + 1,
            updated_at=now,
        )
        .returning(Message)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    messages = list((await session.execute(statement)).scalars().all())
    for message in messages:
        session.expunge(message)
    messages.sort(key=lambda m: m.id)
    return messages


# The columns a batch writes back (everything the gate, the render and the outcome change).
WRITTEN = (
    "profile_id",
    "status",
    "status_reason",
    "due_at",
    "counted_at",
    "sent_at",
    "template_version_id",
    "template_version",
    "locale",
    "subject",
    "provider_account_id",
    "provider_kind",
    "provider_message_id",
)


# PostgreSQL array types of the written columns (the UPDATE … FROM unnest of a batch).
_ARRAY_TYPES = {
    "profile_id": "uuid[]",
    "status": "text[]",
    "status_reason": "text[]",
    "due_at": "timestamptz[]",
    "counted_at": "timestamptz[]",
    "sent_at": "timestamptz[]",
    "template_version_id": "uuid[]",
    "template_version": "int[]",
    "locale": "text[]",
    "subject": "text[]",
    "provider_account_id": "uuid[]",
    "provider_kind": "text[]",
    "provider_message_id": "text[]",
}


async def write_back(session: AsyncSession, messages: Sequence[Message], now: dt.datetime) -> None:
    """Store the detached messages' state in one statement — PostgreSQL: ``UPDATE … FROM
    unnest(<one array per column>)``; SQLite: an executemany by primary key. No unit of work:
    the ledger's own timeline is its record, not the audit log."""
    if not messages:
        return
    if dialect_of(session) == "postgresql":
        columns = ", ".join(f"{name} = v.{name}" for name in WRITTEN)
        arrays = ", ".join(f"CAST(:{name} AS {_ARRAY_TYPES[name]})" for name in WRITTEN)
        statement = text(
            f"UPDATE messages AS m SET {columns}, updated_at = :now"  # noqa: S608  (our names)
            f" FROM unnest(CAST(:id AS uuid[]), {arrays}) AS v(id, {', '.join(WRITTEN)})"
            " WHERE m.tenant_id = :tenant AND m.id = v.id"
        )
        values: dict[str, Any] = {"now": now, "tenant": session_tenant(session)}
        values["id"] = [m.id for m in messages]
        for name in WRITTEN:
            values[name] = [_plain(getattr(m, name)) for m in messages]
        await session.execute(statement, values)
        return
    table = cast(Table, Message.__table__)
    rows = [
        {"b_tenant_id": m.tenant_id, "b_id": m.id, "updated_at": now}
        | {name: getattr(m, name) for name in WRITTEN}
        for m in messages
    ]
    statement_many = (
        update(table)
        .where(table.c.tenant_id == bindparam("b_tenant_id"), table.c.id == bindparam("b_id"))
        .values({name: bindparam(name) for name in (*WRITTEN, "updated_at")})
    )
    await session.execute(statement_many, rows)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, MessageStatus) else value


async def mark_counted(
    session: AsyncSession, message_ids: Sequence[UUID], now: dt.datetime
) -> None:
    """The messages handed to a provider hold their pressure slot from ``now`` (one UPDATE)."""
    if message_ids:
        await session.execute(
            update(Message)
            .where(Message.id.in_(list(message_ids)))
            .values(counted_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Timeline rows of a batch, in one INSERT."""
    if rows:
        # Core executemany: one compiled statement, sent as batched multi-row INSERTs.
        await session.execute(insert(cast(Table, MessageEvent.__table__)), list(rows))


async def get_policy(session: AsyncSession) -> PressurePolicy | None:
    return await session.scalar(select(PressurePolicy))


async def insert_policy(session: AsyncSession, values: dict[str, Any]) -> PressurePolicy:
    statement = (
        insert_for(session, PressurePolicy)
        .values({**values, "tenant_id": session_tenant(session)})
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    await session.execute(statement)
    policy = await get_policy(session)
    if policy is None:  # pragma: no cover
        raise RuntimeError("policy not stored")
    return policy


async def delete_before(session: AsyncSession, floor: UUID, created_before: dt.datetime) -> int:
    """SQLite's retention: delete a brand's messages, events and keys older than the floor."""
    await session.execute(delete(MessageEvent).where(MessageEvent.message_id < floor))
    result = await session.execute(delete(Message).where(Message.id < floor))
    await session.execute(delete(MessageKey).where(MessageKey.created_at < created_before))
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_keys_before(session: AsyncSession, created_before: dt.datetime) -> None:
    await session.execute(delete(MessageKey).where(MessageKey.created_at < created_before))


async def ensure_partitions(session: AsyncSession, months_ahead: int) -> int:
    return int(
        await session.scalar(text("SELECT messaging_ensure_partitions(:n)"), {"n": months_ahead})
        or 0
    )


async def drop_partitions(session: AsyncSession, keep_months: int) -> int:
    return int(
        await session.scalar(text("SELECT messaging_drop_partitions(:n)"), {"n": keep_months}) or 0
    )


def message_ids(messages: Sequence[Message]) -> list[UUID]:
    return [m.id for m in messages]
