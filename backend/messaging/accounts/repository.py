"""Queries of sender identities and provider accounts (the session adds the brand to each)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.pagination import PageRequest, count_rows, paginate
from backend.messaging.accounts.models import ProviderAccount, SenderIdentityRecord
from backend.profiles.models import Channel


async def list_identities(
    session: AsyncSession, page: PageRequest
) -> tuple[list[SenderIdentityRecord], str | None]:
    return await paginate(session, select(SenderIdentityRecord), SenderIdentityRecord.id, page)


async def count_identities(session: AsyncSession) -> int:
    return await count_rows(session, select(SenderIdentityRecord.id))


async def get_identity(session: AsyncSession, identity_id: UUID) -> SenderIdentityRecord | None:
    query = select(SenderIdentityRecord).where(SenderIdentityRecord.id == identity_id)
    return await session.scalar(query)


async def default_identity(session: AsyncSession) -> SenderIdentityRecord | None:
    query = select(SenderIdentityRecord).where(SenderIdentityRecord.is_default.is_(True))
    return await session.scalar(query)


async def clear_default_identity(session: AsyncSession, keep: UUID | None) -> None:
    statement = update(SenderIdentityRecord).where(SenderIdentityRecord.is_default.is_(True))
    if keep is not None:
        statement = statement.where(SenderIdentityRecord.id != keep)
    await session.execute(statement.values(is_default=False))


async def identity_in_use(session: AsyncSession, identity_id: UUID) -> bool:
    query = select(ProviderAccount.id).where(ProviderAccount.identity_id == identity_id).limit(1)
    return await session.scalar(query) is not None


async def all_identities(session: AsyncSession) -> list[SenderIdentityRecord]:
    return list((await session.scalars(select(SenderIdentityRecord))).all())


async def list_accounts(
    session: AsyncSession, page: PageRequest, channel: Channel | None = None
) -> tuple[list[ProviderAccount], str | None]:
    query = select(ProviderAccount)
    if channel is not None:
        query = query.where(ProviderAccount.channel == channel)
    return await paginate(session, query, ProviderAccount.id, page)


async def count_accounts(session: AsyncSession, channel: Channel | None = None) -> int:
    query = select(ProviderAccount.id)
    if channel is not None:
        query = query.where(ProviderAccount.channel == channel)
    return await count_rows(session, query)


async def all_accounts(session: AsyncSession) -> list[ProviderAccount]:
    return list((await session.scalars(select(ProviderAccount))).all())


async def get_account(session: AsyncSession, account_id: UUID) -> ProviderAccount | None:
    return await session.scalar(select(ProviderAccount).where(ProviderAccount.id == account_id))


async def default_account(session: AsyncSession, channel: Channel) -> ProviderAccount | None:
    query = select(ProviderAccount).where(
        ProviderAccount.channel == channel, ProviderAccount.is_default.is_(True)
    )
    return await session.scalar(query)


async def clear_default_account(session: AsyncSession, channel: Channel, keep: UUID | None) -> None:
    statement = update(ProviderAccount).where(
        ProviderAccount.channel == channel, ProviderAccount.is_default.is_(True)
    )
    if keep is not None:
        statement = statement.where(ProviderAccount.id != keep)
    await session.execute(statement.values(is_default=False))


async def first_account(session: AsyncSession, channel: Channel) -> ProviderAccount | None:
    query = (
        select(ProviderAccount)
        .where(ProviderAccount.channel == channel)
        .order_by(ProviderAccount.id)
        .limit(1)
    )
    return await session.scalar(query)
