"""GraphQL of sender identities, provider accounts and captured messages: the REST shapes
(derived from `backend.messaging.accounts.schemas`) and the same services. Credentials and DKIM
private keys are inputs only; a refused credential is the `OperationError` of the mutation's
result (`provider-check-failed`, with the provider's reason)."""

from __future__ import annotations

from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from backend.config import Settings
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node
from backend.messaging.accounts import service
from backend.messaging.accounts.schemas import (
    CapturedMessageOut,
    DkimKeyIn,
    DkimRecordOut,
    ProviderAccountCreate,
    ProviderAccountOut,
    ProviderAccountUpdate,
    SenderIdentityCreate,
    SenderIdentityOut,
    SenderIdentityUpdate,
)
from backend.messaging.providers import service as captured_service
from backend.messaging.providers.base import ProviderKind
from backend.profiles.models import Channel

READ, WRITE = "messaging:read", "messaging:write"
graphql_enum(ProviderKind, "ProviderKind")
graphql_enum(Channel)
FIELDS = "The provider kind's fields, as REST takes them (see docs/MESSAGING.md, Providers)."


def _settings(unit: BrandUnit) -> Settings:
    request = unit.context.request
    assert request is not None
    settings: Settings = request.app.state.settings
    return settings


async def _load_identity(session: AsyncSession, identity_id: UUID) -> SenderIdentityOut:
    return SenderIdentityOut.of(await service.get_identity(session, identity_id))


async def _load_account(session: AsyncSession, account_id: UUID) -> ProviderAccountOut:
    return ProviderAccountOut.of(await service.get_account(session, account_id))


async def _load_captured(session: AsyncSession, captured_id: UUID) -> CapturedMessageOut:
    return CapturedMessageOut.of(await captured_service.get_captured(session, captured_id))


@entity_type(DkimRecordOut, name="DkimRecord")
class DkimRecordType:
    """The DNS TXT record publishing a sending domain's DKIM key."""


@entity_type(SenderIdentityOut, name="SenderIdentity", node=(READ, _load_identity))
class SenderIdentityType(Node):
    """Who the brand's messages come from (and its domain's DKIM record)."""


@entity_type(ProviderAccountOut, name="ProviderAccount", node=(READ, _load_account))
class ProviderAccountType(Node):
    """An account at a provider; its credentials are never shown, only `credentialFields`."""

    settings: JSON = strawberry.field(description="The account's non-secret settings.")


@entity_type(CapturedMessageOut, name="CapturedMessage", node=(READ, _load_captured))
class CapturedMessageType(Node):
    """A message the capture provider kept instead of sending."""

    payload: JSON = strawberry.field(description="The whole message handed to the provider.")


@input_type(SenderIdentityCreate, name="CreateSenderIdentityInput")
class CreateSenderIdentityInput:
    pass


@input_type(SenderIdentityUpdate, name="UpdateSenderIdentityInput")
class UpdateSenderIdentityInput:
    id: strawberry.ID


@input_type(DkimKeyIn, name="SetSenderIdentityDkimInput")
class SetSenderIdentityDkimInput:
    id: strawberry.ID


@input_type(ProviderAccountCreate, name="CreateProviderAccountInput")
class CreateProviderAccountInput:
    settings: JSON | None = strawberry.field(default=strawberry.UNSET, description=FIELDS)
    credentials: JSON | None = strawberry.field(default=strawberry.UNSET, description=FIELDS)
    identity_id: strawberry.ID | None = strawberry.UNSET


@input_type(ProviderAccountUpdate, name="UpdateProviderAccountInput")
class UpdateProviderAccountInput:
    id: strawberry.ID
    settings: JSON | None = strawberry.field(default=strawberry.UNSET, description=FIELDS)
    credentials: JSON | None = strawberry.field(default=strawberry.UNSET, description=FIELDS)
    identity_id: strawberry.ID | None = strawberry.UNSET


@strawberry.input(description="Names one sender identity.")
class SenderIdentityIdInput:
    id: strawberry.ID


@strawberry.input(description="Names one provider account.")
class ProviderAccountIdInput:
    id: strawberry.ID


def _identity_ref(value: object) -> object:
    if value is None or value is strawberry.UNSET:
        return value
    return parse_id(str(value), "SenderIdentity")


@strawberry.type
class MessagingAccountsQuery:
    @brand_query(READ)
    async def sender_identities(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[SenderIdentityType]:
        """The brand's sender identities, in creation order."""
        page = unit.page(first, after)
        items, cursor = await service.list_identities(unit.session, page)
        return unit.connection(
            SenderIdentityOut.many(items), cursor, page, count=service.count_identities
        )

    @brand_query(READ, missing_is_null=True)
    async def sender_identity(
        self, unit: BrandUnit, id: strawberry.ID
    ) -> SenderIdentityType | None:
        """One sender identity (null when the brand has none with this id)."""
        return await _load_identity(unit.session, parse_id(id, "SenderIdentity"))

    @brand_query(READ)
    async def provider_accounts(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        channel: Channel | None = None,
    ) -> Connection[ProviderAccountType]:
        """The brand's provider accounts in creation order (only `channel`'s when given)."""
        page = unit.page(first, after)
        items, cursor = await service.list_accounts(unit.session, page, channel)

        async def count(session: AsyncSession) -> int:
            return await service.count_accounts(session, channel)

        return unit.connection(ProviderAccountOut.many(items), cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def provider_account(
        self, unit: BrandUnit, id: strawberry.ID
    ) -> ProviderAccountType | None:
        """One provider account (null when the brand has none with this id)."""
        return await _load_account(unit.session, parse_id(id, "ProviderAccount"))

    @brand_query(READ)
    async def captured_messages(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        channel: Channel | None = None,
    ) -> Connection[CapturedMessageType]:
        """Messages the capture provider kept, newest first."""
        page = unit.page(first, after)
        items, cursor = await captured_service.list_captured(unit.session, page, channel)

        async def count(session: AsyncSession) -> int:
            return await captured_service.count_captured(session, channel)

        return unit.connection(CapturedMessageOut.many(items), cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def captured_message(
        self, unit: BrandUnit, id: strawberry.ID
    ) -> CapturedMessageType | None:
        """One captured message (null when the brand has none with this id)."""
        return await _load_captured(unit.session, parse_id(id, "CapturedMessage"))


@strawberry.type
class MessagingAccountsMutation:
    @brand_mutation(WRITE)
    async def create_sender_identity(
        self, unit: BrandUnit, input: CreateSenderIdentityInput
    ) -> SenderIdentityType:
        """A from name and address, reply-to, SMS sender id and push app; the brand's first
        identity becomes its default."""
        identity = await service.create_identity(
            unit.session, struct_of(SenderIdentityCreate, input)
        )
        return SenderIdentityOut.of(identity)

    @brand_mutation(WRITE)
    async def update_sender_identity(
        self, unit: BrandUnit, input: UpdateSenderIdentityInput
    ) -> SenderIdentityType:
        """Change an identity's fields; `isDefault: true` makes it the brand's default."""
        identity = await service.update_identity(
            unit.session,
            parse_id(input.id, "SenderIdentity"),
            struct_of(SenderIdentityUpdate, input),
        )
        return SenderIdentityOut.of(identity)

    @brand_mutation(WRITE)
    async def delete_sender_identity(
        self, unit: BrandUnit, input: SenderIdentityIdInput
    ) -> Deleted:
        """Delete an identity no provider account sends as."""
        await service.delete_identity(unit.session, parse_id(input.id, "SenderIdentity"))
        return Deleted(id=input.id)

    @brand_mutation(WRITE)
    async def set_sender_identity_dkim(
        self, unit: BrandUnit, input: SetSenderIdentityDkimInput
    ) -> SenderIdentityType:
        """Upload (`privateKey`) or generate the DKIM key of the identity's sending domain; the
        answer's `dkim` is the TXT record to publish, the private key is never shown."""
        identity = await service.set_dkim(
            unit.session,
            _settings(unit),
            parse_id(input.id, "SenderIdentity"),
            struct_of(DkimKeyIn, input),
        )
        return SenderIdentityOut.of(identity)

    @brand_mutation(WRITE)
    async def create_provider_account(
        self, unit: BrandUnit, input: CreateProviderAccountInput
    ) -> ProviderAccountType:
        """Add a provider account; its credentials are tried first (a refusal is an
        `OperationError` with the provider's reason, and nothing is stored)."""
        data = struct_of(ProviderAccountCreate, input, identity_id=_identity_ref(input.identity_id))
        return ProviderAccountOut.of(
            await service.create_account(unit.session, _settings(unit), data)
        )

    @brand_mutation(WRITE)
    async def update_provider_account(
        self, unit: BrandUnit, input: UpdateProviderAccountInput
    ) -> ProviderAccountType:
        """Rename, make default, or replace settings or credentials (tried first)."""
        data = struct_of(ProviderAccountUpdate, input, identity_id=_identity_ref(input.identity_id))
        account = await service.update_account(
            unit.session, _settings(unit), parse_id(input.id, "ProviderAccount"), data
        )
        return ProviderAccountOut.of(account)

    @brand_mutation(WRITE)
    async def delete_provider_account(
        self, unit: BrandUnit, input: ProviderAccountIdInput
    ) -> Deleted:
        """Delete a provider account; the channel's oldest other account becomes its default."""
        await service.delete_account(unit.session, parse_id(input.id, "ProviderAccount"))
        return Deleted(id=input.id)
