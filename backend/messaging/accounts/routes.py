"""REST routes for a brand's sender identities, provider accounts and captured messages under
``/v1/brands/{brand_id}``: reads need `messaging:read`, writes `messaging:write`. Credentials
and DKIM private keys go in and never come out."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import delete, get, patch, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.core.api import READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging
from backend.messaging.accounts import service
from backend.messaging.accounts.schemas import (
    CapturedMessageOut,
    CapturedMessagePage,
    DkimKeyIn,
    ProviderAccountCreate,
    ProviderAccountOut,
    ProviderAccountPage,
    ProviderAccountUpdate,
    SenderIdentityCreate,
    SenderIdentityOut,
    SenderIdentityPage,
    SenderIdentityUpdate,
)
from backend.messaging.providers import service as captured_service
from backend.profiles.models import Channel

READ, WRITE = "messaging:read", "messaging:write"
ChannelFilter = Annotated[Channel | None, QueryParameter(description="Only this channel.")]


class SenderIdentityController(BrandController):
    """Who the brand's messages come from, and the DKIM keys of its sending domains."""

    path = "/v1/brands/{brand_id:uuid}/sender-identities"
    tags = ["messaging"]

    @get(
        "/",
        operation_id="listSenderIdentities",
        summary="List sender identities",
        **needs(READ),
        responses=READ_ERRORS,
    )
    async def list_identities(self, db_session: DbSession, page: Paging) -> SenderIdentityPage:
        """The brand's sender identities, in creation order."""
        items, cursor = await service.list_identities(db_session, page)
        return SenderIdentityPage(SenderIdentityOut.many(items), cursor)

    @post(
        "/",
        operation_id="createSenderIdentity",
        summary="Create a sender identity",
        **needs(WRITE),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_identity(
        self, db_session: DbSession, data: JSONBody[SenderIdentityCreate]
    ) -> SenderIdentityOut:
        """A from name and address, reply-to, SMS sender id and push app; the brand's first
        identity becomes its default."""
        return SenderIdentityOut.of(await service.create_identity(db_session, data))

    @get(
        "/{identity_id:uuid}",
        operation_id="getSenderIdentity",
        summary="Read a sender identity",
        **needs(READ),
        responses=READ_ERRORS,
    )
    async def get_identity(
        self, db_session: DbSession, identity_id: FromPath[UUID]
    ) -> SenderIdentityOut:
        """One identity, with the DNS record of its DKIM key when it has one."""
        return SenderIdentityOut.of(await service.get_identity(db_session, identity_id))

    @patch(
        "/{identity_id:uuid}",
        operation_id="updateSenderIdentity",
        summary="Change a sender identity",
        **needs(WRITE),
        responses=WRITE_ERRORS,
    )
    async def update_identity(
        self,
        db_session: DbSession,
        identity_id: FromPath[UUID],
        data: JSONBody[SenderIdentityUpdate],
    ) -> SenderIdentityOut:
        """Change the identity's fields; `isDefault: true` makes it the brand's default."""
        return SenderIdentityOut.of(await service.update_identity(db_session, identity_id, data))

    @delete(
        "/{identity_id:uuid}",
        operation_id="deleteSenderIdentity",
        summary="Delete a sender identity",
        **needs(WRITE),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_identity(self, db_session: DbSession, identity_id: FromPath[UUID]) -> None:
        """Delete an identity no provider account sends as (409 otherwise)."""
        await service.delete_identity(db_session, identity_id)

    @put(
        "/{identity_id:uuid}/dkim",
        operation_id="setSenderIdentityDkim",
        summary="Set the DKIM key of an identity's domain",
        **needs(WRITE),
        responses=WRITE_ERRORS,
    )
    async def set_dkim(
        self,
        db_session: DbSession,
        state: State,
        identity_id: FromPath[UUID],
        data: JSONBody[DkimKeyIn],
    ) -> SenderIdentityOut:
        """Upload an RSA private key (PEM) for the sending domain, or omit it to have one
        generated. The answer's `dkim` is the TXT record to publish at
        `<selector>._domainkey.<domain>`; the private key is never shown. SMTP accounts sign
        with it; ESPs sign with the domain set up in their own console."""
        identity = await service.set_dkim(db_session, state.settings, identity_id, data)
        return SenderIdentityOut.of(identity)


class ProviderAccountController(BrandController):
    """The brand's accounts at email, SMS and push providers; the default account of a channel
    carries its messages (none: they are captured, not sent)."""

    path = "/v1/brands/{brand_id:uuid}/provider-accounts"
    tags = ["messaging"]

    @get(
        "/",
        operation_id="listProviderAccounts",
        summary="List provider accounts",
        **needs(READ),
        responses=READ_ERRORS,
    )
    async def list_accounts(
        self, db_session: DbSession, page: Paging, channel: ChannelFilter = None
    ) -> ProviderAccountPage:
        """The brand's provider accounts in creation order (credentials are never shown, only
        the names of the fields set)."""
        items, cursor = await service.list_accounts(db_session, page, channel)
        return ProviderAccountPage(ProviderAccountOut.many(items), cursor)

    @post(
        "/",
        operation_id="createProviderAccount",
        summary="Add a provider account",
        **needs(WRITE),
        status_code=HTTP_201_CREATED,
        responses=WRITE_ERRORS,
    )
    async def create_account(
        self, db_session: DbSession, state: State, data: JSONBody[ProviderAccountCreate]
    ) -> ProviderAccountOut:
        """Add an account (`smtp`, `sendgrid`, `mailgun`, …) with its settings and credentials.
        A harmless call to the provider tries them first: a refusal answers 422
        (`provider-check-failed`) with the provider's reason, and nothing is stored."""
        return ProviderAccountOut.of(await service.create_account(db_session, state.settings, data))

    @get(
        "/{account_id:uuid}",
        operation_id="getProviderAccount",
        summary="Read a provider account",
        **needs(READ),
        responses=READ_ERRORS,
    )
    async def get_account(
        self, db_session: DbSession, account_id: FromPath[UUID]
    ) -> ProviderAccountOut:
        """One account (its credentials are never shown)."""
        return ProviderAccountOut.of(await service.get_account(db_session, account_id))

    @patch(
        "/{account_id:uuid}",
        operation_id="updateProviderAccount",
        summary="Change a provider account",
        **needs(WRITE),
        responses=WRITE_ERRORS,
    )
    async def update_account(
        self,
        db_session: DbSession,
        state: State,
        account_id: FromPath[UUID],
        data: JSONBody[ProviderAccountUpdate],
    ) -> ProviderAccountOut:
        """Rename, make default, or replace settings or credentials (tried first, as on
        creation)."""
        account = await service.update_account(db_session, state.settings, account_id, data)
        return ProviderAccountOut.of(account)

    @delete(
        "/{account_id:uuid}",
        operation_id="deleteProviderAccount",
        summary="Delete a provider account",
        **needs(WRITE),
        status_code=HTTP_204_NO_CONTENT,
        responses=WRITE_ERRORS,
    )
    async def delete_account(self, db_session: DbSession, account_id: FromPath[UUID]) -> None:
        """Delete an account; the channel's oldest other account becomes its default."""
        await service.delete_account(db_session, account_id)


class CapturedMessageController(BrandController):
    """Messages the capture provider kept instead of sending (no account for the channel)."""

    path = "/v1/brands/{brand_id:uuid}/captured-messages"
    tags = ["messaging"]

    @get(
        "/",
        operation_id="listCapturedMessages",
        summary="List captured messages",
        **needs(READ),
        responses=READ_ERRORS,
    )
    async def list_captured(
        self, db_session: DbSession, page: Paging, channel: ChannelFilter = None
    ) -> CapturedMessagePage:
        """The brand's captured messages, newest first, each with the whole payload handed to
        the provider."""
        items, cursor = await captured_service.list_captured(db_session, page, channel)
        return CapturedMessagePage(CapturedMessageOut.many(items), cursor)

    @get(
        "/{captured_id:uuid}",
        operation_id="getCapturedMessage",
        summary="Read a captured message",
        **needs(READ),
        responses=READ_ERRORS,
    )
    async def get_captured(
        self, db_session: DbSession, captured_id: FromPath[UUID]
    ) -> CapturedMessageOut:
        """One captured message."""
        return CapturedMessageOut.of(await captured_service.get_captured(db_session, captured_id))
