"""Queries of the ledger and the pressure policy."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.core.db import among, dialect_of, insert_for, utcnow
from backend.core.ids import new_id
from backend.core.pagination import PageRequest, paginate
from backend.core.tenancy import required_tenant, session_tenant
from backend.messaging.models import (
    Message,
    MessageEvent,
    MessageHold,
    MessageKey,
    MessageStatus,
    PressurePolicy,
    SourceKind,
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


async def messages_by_ids(session: AsyncSession, message_ids: Sequence[UUID]) -> list[Message]:
    if not message_ids:
        return []
    query = select(Message).where(Message.id.in_(list(set(message_ids))))
    return list((await session.scalars(query)).all())


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
    given, oldest first. The returned messages are detached and already in their claimed state
    (``sending``, ``claimed_at`` now, one more attempt); :func:`write_back` stores it.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` — the row locks, held until the batch
    commits, are the claim (another worker skips those rows), and the claimed state is written
    with the gate's decisions in the batch's one UPDATE: one new row version per message instead
    of two (a second UPDATE of a row in its own transaction also re-runs its foreign-key checks).
    SQLite (no row locks, one writer): ``UPDATE … RETURNING``, which makes the transaction the
    writer at once."""
    due = (Message.due_at.is_(None)) | (Message.due_at <= now)
    stale = Message.claimed_at < now - lease
    if dialect_of(session) == "postgresql":
        # One locking scan per claimable status, each in id order on (tenant_id, status, id)
        # and stopping at ``limit`` rows: the oldest ``limit`` claimable messages not locked by
        # another worker are among their union, whatever the backlog (one scan over every
        # waiting message of the brand, sorted, was O(backlog) per batch). Rows a scan locked
        # that are not among them stay locked until this batch commits, unclaimed: another
        # worker skips them meanwhile, the next batch takes them.
        def waiting(status: MessageStatus, ready: ColumnElement[bool]) -> Select[Any]:
            query = select(Message).where(Message.status == status, ready, ~_held())
            if message_ids is not None:
                query = query.where(among(session, Message.id, message_ids))
            return query.order_by(Message.id).limit(limit).with_for_update(skip_locked=True)

        scans = [
            waiting(MessageStatus.QUEUED, due),
            waiting(MessageStatus.DEFERRED, due),
            waiting(MessageStatus.SENDING, stale),
        ]
        union = union_all(*(select(scan.cte()) for scan in scans)).subquery()
        claimed_row = aliased(Message, union)
        chosen = select(claimed_row).order_by(claimed_row.id).limit(limit)
        messages = list((await session.scalars(chosen)).all())
        _detach(session, messages)
        for message in messages:
            message.status = MessageStatus.SENDING
            message.claimed_at = now
            message.attempts += 1
        return messages
    claimable = (Message.status.in_(CLAIMABLE) & due) | (
        (Message.status == MessageStatus.SENDING) & stale
    )
    ids = select(Message.id).where(claimable, ~_held())
    if message_ids is not None:
        ids = ids.where(Message.id.in_(list(message_ids)))
    statement = (
        update(Message)
        .where(Message.id.in_(ids.order_by(Message.id).limit(limit).scalar_subquery()), claimable)
        .values(
            status=MessageStatus.SENDING,
            claimed_at=now,
            attempts=Message.attempts + 1,
            updated_at=now,
        )
        .returning(Message)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    claimed = list((await session.execute(statement)).scalars().all())
    _detach(session, claimed)
    claimed.sort(key=lambda m: m.id)
    return claimed


def _detach(session: AsyncSession, messages: Sequence[Message]) -> None:
    """Detach the batch's messages from the session (they are written back set-based, never
    flushed). One at a time, expunging costs about 30 µs a message (the cascade walk); when the
    session holds nothing else — the claim is a task's first read — all go at once."""
    if not session.new and not session.deleted and len(session.identity_map) == len(messages):
        session.expunge_all()
        return
    for message in messages:
        session.expunge(message)


# The columns a batch writes back (the claim, and everything the gate, the render and the
# outcome change).
WRITTEN = (
    "profile_id",
    "status",
    "status_reason",
    "claimed_at",
    "attempts",
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
    "claimed_at": "timestamptz[]",
    "attempts": "int[]",
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
_WRITE_BACK = (
    f"UPDATE messages AS m SET {', '.join(f'{name} = v.{name}' for name in WRITTEN)},"  # noqa: S608  (our names)
    " updated_at = :now"
    " FROM unnest(CAST(:id AS uuid[]), "
    + ", ".join(f"CAST(:{name} AS {_ARRAY_TYPES[name]})" for name in WRITTEN)
    + f") AS v(id, {', '.join(WRITTEN)})"
    # The id range bounds the scan of ``messages`` to the batch's own rows (a batch is claimed
    # in id order: its ids are close), whatever the planner knows of the table; it also prunes
    # the partitions.
    " WHERE m.tenant_id = :tenant AND m.id = v.id AND m.id BETWEEN :low AND :high"
)


async def write_back(session: AsyncSession, messages: Sequence[Message], now: dt.datetime) -> None:
    """Store the detached messages' state in one statement — PostgreSQL: ``UPDATE … FROM
    unnest(<one array per column>)``; SQLite: an executemany by primary key. No unit of work:
    the ledger's own timeline is its record, not the audit log."""
    if not messages:
        return
    if dialect_of(session) == "postgresql":
        ids = [m.id for m in messages]
        values: dict[str, Any] = {
            "now": now,
            "tenant": required_tenant(session),
            "id": ids,
            "low": min(ids),
            "high": max(ids),
        }
        # The loaded state of each message (what its attributes hold), read without the
        # ORM's attribute instrumentation: 15 columns of 500 messages per statement.
        states = [m.__dict__ for m in messages]
        for name in WRITTEN:
            values[name] = [state[name] for state in states]
        values["status"] = [_plain(status) for status in values["status"]]
        await session.execute(text(_WRITE_BACK), values)
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


# The timeline's columns, and their PostgreSQL array types (one INSERT … SELECT FROM unnest).
_EVENT_COLUMNS = {
    "tenant_id": "uuid[]",
    "message_id": "uuid[]",
    "id": "uuid[]",
    "kind": "text[]",
    "detail": "text[]",
    "until": "timestamptz[]",
    "url": "text[]",
    "occurred_at": "timestamptz[]",
    "created_at": "timestamptz[]",
    "updated_at": "timestamptz[]",
}
_INSERT_EVENTS = (
    f"INSERT INTO message_events ({', '.join(_EVENT_COLUMNS)})"  # noqa: S608  (our names)
    " SELECT * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind})" for name, kind in _EVENT_COLUMNS.items())
    + ")"
)


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Timeline rows of a batch, in one statement (PostgreSQL: ``INSERT … SELECT FROM unnest``
    of one array per column, whatever the batch's size; SQLite: an executemany)."""
    if not rows:
        return
    if dialect_of(session) == "postgresql":
        arrays = {name: [row[name] for row in rows] for name in _EVENT_COLUMNS}
        arrays["kind"] = [_plain(kind) for kind in arrays["kind"]]
        await session.execute(text(_INSERT_EVENTS), arrays)
        return
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


# Recording many at once ----------------------------------------------------------------------


async def claim_keys(
    session: AsyncSession, claims: Sequence[tuple[str, UUID]], now: dt.datetime
) -> set[str]:
    """Claim each ``(dedupe key, message id)`` in ONE statement (``INSERT … ON CONFLICT DO
    NOTHING RETURNING``): the keys this statement claimed; the others were held already (a
    concurrent writer of the same key waits for the first one's commit, then finds its row)."""
    if not claims:
        return set()
    tenant = required_tenant(session)
    table = cast(Table, MessageKey.__table__)
    statement = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        .returning(table.c.dedupe_key)
    )
    # An executemany: one compiled statement, sent as batched multi-row INSERTs.
    rows = [
        {
            "tenant_id": tenant,
            "dedupe_key": key,
            "message_id": message_id,
            "created_at": now,
            "updated_at": now,
        }
        for key, message_id in claims
    ]
    return set((await session.execute(statement, rows)).scalars().all())


async def holders_of(session: AsyncSession, dedupe_keys: Sequence[str]) -> dict[str, UUID]:
    """The message holding each of these keys (one query)."""
    if not dedupe_keys:
        return {}
    query = select(MessageKey.dedupe_key, MessageKey.message_id).where(
        MessageKey.dedupe_key.in_(list(dedupe_keys))
    )
    return {key: message_id for key, message_id in (await session.execute(query)).all()}


def _value(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


# The columns of a new message and their PostgreSQL array types (INSERT … SELECT FROM unnest).
_NEW_MESSAGE = {
    "tenant_id": "uuid[]",
    "id": "uuid[]",
    "dedupe_key": "text[]",
    "source_kind": "text[]",
    "source_key": "text[]",
    "profile_id": "uuid[]",
    "channel": "text[]",
    "topic": "text[]",
    "priority": "text[]",
    "deferrable": "boolean[]",
    "template_id": "uuid[]",
    "template_version_id": "uuid[]",
    "data": "jsonb[]",
    "fallback": "jsonb[]",
    "status": "text[]",
    "attempts": "int[]",
    "sender_identity_id": "uuid[]",
    "created_at": "timestamptz[]",
    "updated_at": "timestamptz[]",
}


async def insert_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """New messages of a batch in one statement (no unit of work: set-based, as the timeline)
    — PostgreSQL: ``INSERT … SELECT FROM unnest(<an array per column>)``, the driver encoding
    the arrays; SQLite: an executemany."""
    if not rows:
        return
    if dialect_of(session) != "postgresql":
        await session.execute(insert(cast(Table, Message.__table__)), list(rows))
        return
    names = list(_NEW_MESSAGE)
    arrays = ", ".join(f"CAST(:{name} AS {kind})" for name, kind in _NEW_MESSAGE.items())
    quoted = ", ".join(f'"{name}"' for name in names)  # `deferrable` is a reserved word
    statement = text(
        f"INSERT INTO messages ({quoted})"  # noqa: S608  (our names)
        f" SELECT * FROM unnest({arrays})"
    )
    values: dict[str, Any] = {}
    for name in names:
        column = [_value(row.get(name)) for row in rows]
        if name in ("data", "fallback"):
            column = [None if v is None else json.dumps(v) for v in column]
        values[name] = column
    await session.execute(statement, values)


# Holding a source ------------------------------------------------------------------------------


def _held() -> ColumnElement[bool]:
    """The message's source is held (its waiting messages are not claimed)."""
    return exists(
        select(MessageHold.source_key).where(
            MessageHold.tenant_id == Message.tenant_id,
            MessageHold.source_kind == Message.source_kind,
            MessageHold.source_key == Message.source_key,
        )
    )


async def hold(session: AsyncSession, source_kind: SourceKind, source_keys: Sequence[str]) -> None:
    if not source_keys:
        return
    now = utcnow()
    table = cast(Table, MessageHold.__table__)
    statement = (
        insert_for(session, table)
        .values(
            [
                {
                    "tenant_id": required_tenant(session),
                    "source_kind": source_kind,
                    "source_key": key,
                    "created_at": now,
                    "updated_at": now,
                }
                for key in source_keys
            ]
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "source_kind", "source_key"])
    )
    await session.execute(statement)


async def lift_holds(
    session: AsyncSession, source_kind: SourceKind, source_keys: Sequence[str]
) -> None:
    if source_keys:
        await session.execute(
            delete(MessageHold).where(
                MessageHold.source_kind == source_kind,
                MessageHold.source_key.in_(list(source_keys)),
            )
        )


async def take_waiting(
    session: AsyncSession,
    source_kind: SourceKind,
    source_keys: Sequence[str],
    reason: str,
    now: dt.datetime,
    limit: int,
) -> list[Message]:
    """Refuse up to ``limit`` waiting (queued or deferred) messages of these sources with
    ``reason``, in ONE statement; a message a worker is claiming meanwhile is skipped (it is on
    its way). The returned messages are detached."""
    waiting = Message.status.in_(CLAIMABLE)
    chosen = (
        select(Message.id)
        .where(
            Message.source_kind == source_kind,
            Message.source_key.in_(list(source_keys)),
            waiting,
        )
        .order_by(Message.id)
        .limit(limit)
    )
    if dialect_of(session) == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    statement = (
        update(Message)
        .where(Message.id.in_(chosen.scalar_subquery()), waiting)
        .values(
            status=MessageStatus.REFUSED,
            status_reason=reason,
            counted_at=None,
            updated_at=now,
        )
        .returning(Message)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    messages = list((await session.execute(statement)).scalars().all())
    for message in messages:
        session.expunge(message)
    return messages


# What a source's messages became -------------------------------------------------------------


def _reason_slug(session: AsyncSession) -> ColumnElement[str]:
    """The refusal's reason without what follows its first ``;`` (a fallback's detail)."""
    reason = Message.status_reason
    if dialect_of(session) == "postgresql":
        return func.split_part(reason, ";", 1)
    cut = func.instr(reason, ";")
    return case((cut > 0, func.substr(reason, 1, cut - 1)), else_=reason)


async def source_counts(
    session: AsyncSession, source_kind: SourceKind, source_keys: Sequence[str], since: UUID
) -> list[tuple[str, str, str | None, bool, int]]:
    """Per source key: (key, status, refusal reason, replaced by a fallback, count) of its
    messages created from ``since`` (an id floor: the partitions before it are skipped)."""
    if not source_keys:
        return []
    refused = Message.status == MessageStatus.REFUSED
    reason = case((refused, _reason_slug(session)), else_=None)
    replaced = case((refused & Message.status_reason.like("%; fallback to %"), True), else_=False)
    query = (
        select(Message.source_key, Message.status, reason, replaced, func.count())
        .where(
            Message.source_kind == source_kind,
            Message.source_key.in_(list(source_keys)),
            Message.id >= since,
        )
        .group_by(Message.source_key, Message.status, reason, replaced)
    )
    return [
        (str(key), str(getattr(status, "value", status)), slug, bool(flag), int(count))
        for key, status, slug, flag, count in (await session.execute(query)).all()
    ]


async def count_in_flight(
    session: AsyncSession, source_kind: SourceKind, source_keys: Sequence[str], since: UUID
) -> int:
    """How many of these sources' messages (created from ``since``) are queued or being sent:
    a range of the source index, as short as what is left."""
    if not source_keys:
        return 0
    query = select(func.count()).where(
        Message.source_kind == source_kind,
        Message.source_key.in_(list(source_keys)),
        Message.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING]),
        Message.id >= since,
    )
    return int(await session.scalar(query) or 0)


async def sent_of(
    session: AsyncSession, message_ids: Sequence[UUID]
) -> list[tuple[UUID, UUID, dt.datetime]]:
    """(message, profile, sent at) of those of these messages that were sent."""
    if not message_ids:
        return []
    query = select(Message.id, Message.profile_id, Message.sent_at).where(
        Message.id.in_(list(message_ids)), Message.sent_at.is_not(None)
    )
    return [(i, p, s) for i, p, s in (await session.execute(query)).all() if s is not None]
