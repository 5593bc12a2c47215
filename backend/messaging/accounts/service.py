"""Sender identities and provider accounts of a brand. Services never commit.

An account's settings and credentials are validated with its kind's structs
(:mod:`backend.messaging.providers.registry`) and tried against the provider
(:meth:`Provider.check`) before anything is stored: a refused credential answers 422 with the
provider's reason. Credentials and DKIM private keys are sealed
(:mod:`backend.messaging.accounts.sealing`) and never answered back."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.pagination import PageRequest
from backend.messaging.accounts import repository, sealing
from backend.messaging.accounts.models import ProviderAccount, SenderIdentityRecord
from backend.messaging.accounts.schemas import (
    DkimKeyIn,
    ProviderAccountCreate,
    ProviderAccountUpdate,
    SenderIdentityCreate,
    SenderIdentityUpdate,
)
from backend.messaging.providers import dkim, registry
from backend.messaging.providers.base import ProviderError, ProviderKind
from backend.messaging.tracking import routing as tracking_routing
from backend.profiles.models import Channel
from backend.webhooks.service import check_url

MESSAGING_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.PUSH)


class ProviderCheckFailed(InvalidInput):
    """The provider refused the test call made with the account's settings and credentials."""

    slug, title = "provider-check-failed", "The provider refused the account"


# Identities ------------------------------------------------------------------------------------


async def list_identities(
    session: AsyncSession, page: PageRequest
) -> tuple[list[SenderIdentityRecord], str | None]:
    return await repository.list_identities(session, page)


async def count_identities(session: AsyncSession) -> int:
    return await repository.count_identities(session)


async def get_identity(session: AsyncSession, identity_id: UUID) -> SenderIdentityRecord:
    identity = await repository.get_identity(session, identity_id)
    if identity is None:
        raise NotFound("sender identity not found")
    return identity


async def create_identity(
    session: AsyncSession, data: SenderIdentityCreate
) -> SenderIdentityRecord:
    """A sender identity; the brand's default when asked, or when it is the first."""
    is_default = data.is_default
    if is_default is None:
        is_default = await repository.default_identity(session) is None
    if is_default:
        await repository.clear_default_identity(session, keep=None)
    identity = SenderIdentityRecord(
        name=data.name,
        from_name=data.from_name,
        from_address=data.from_address,
        reply_to=data.reply_to,
        sms_sender_id=data.sms_sender_id,
        push_app_id=data.push_app_id,
        is_default=is_default,
    )
    session.add(identity)
    await session.flush()
    return identity


async def update_identity(
    session: AsyncSession, identity_id: UUID, data: SenderIdentityUpdate
) -> SenderIdentityRecord:
    identity = await get_identity(session, identity_id)
    for name in ("name", "from_name", "from_address", "reply_to", "sms_sender_id", "push_app_id"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            setattr(identity, name, value)
    if data.is_default is True and not identity.is_default:
        await repository.clear_default_identity(session, keep=identity.id)
        identity.is_default = True
    elif data.is_default is False:
        identity.is_default = False
    await session.flush()
    return identity


async def delete_identity(session: AsyncSession, identity_id: UUID) -> None:
    identity = await get_identity(session, identity_id)
    if await repository.identity_in_use(session, identity_id):
        raise Conflict("a provider account sends as this identity: change the account first")
    await session.delete(identity)
    await session.flush()


async def set_dkim(
    session: AsyncSession, settings: Settings, identity_id: UUID, data: DkimKeyIn
) -> SenderIdentityRecord:
    """Give the identity's sending domain a DKIM key: the uploaded one, or a new RSA 2048 key.
    The identity's DNS record (``dkim``) is what to publish; the private key is sealed."""
    identity = await get_identity(session, identity_id)
    domain = (data.domain or identity.from_address.rpartition("@")[2]).lower()
    private_key = data.private_key or dkim.generate_private_key()
    try:
        public_key = dkim.public_key_of(private_key)
    except dkim.BadKey as exc:
        raise InvalidInput(
            str(exc),
            errors=[{"field": "privateKey", "pointer": "/privateKey", "message": str(exc)}],
        ) from None
    identity.dkim_domain = domain
    identity.dkim_selector = data.selector
    identity.dkim_private_key_ciphertext = sealing.seal(settings, private_key)
    identity.dkim_public_key = public_key
    await session.flush()
    return identity


# Accounts --------------------------------------------------------------------------------------


async def list_accounts(
    session: AsyncSession, page: PageRequest, channel: Channel | None = None
) -> tuple[list[ProviderAccount], str | None]:
    return await repository.list_accounts(session, page, channel)


async def count_accounts(session: AsyncSession, channel: Channel | None = None) -> int:
    return await repository.count_accounts(session, channel)


async def get_account(session: AsyncSession, account_id: UUID) -> ProviderAccount:
    account = await repository.get_account(session, account_id)
    if account is None:
        raise NotFound("provider account not found")
    return account


_LOCATION = re.compile(r" - at `\$\.?(.*)`$")


def _fields(struct: type[msgspec.Struct], given: dict[str, Any], where: str) -> msgspec.Struct:
    """``given`` as the kind's struct; a 422 naming the field (``/settings/port``) otherwise."""
    try:
        return msgspec.convert(given, struct)
    except msgspec.ValidationError as exc:
        message = str(exc)
        found = _LOCATION.search(message)
        path = found.group(1).replace(".", "/") if found and found.group(1) else ""
        pointer = f"/{where}/{path}".rstrip("/")
        text = _LOCATION.sub("", message)
        raise InvalidInput(
            f"{where}: {text}",
            errors=[{"field": pointer[1:].replace("/", "."), "pointer": pointer, "message": text}],
        ) from None


def _check_base_url(settings: Settings, config: msgspec.Struct) -> None:
    base_url = getattr(config, "base_url", None)
    if isinstance(base_url, str):
        check_url(base_url, settings, field="settings.baseUrl")


async def _try(
    settings: Settings,
    kind: ProviderKind,
    config: msgspec.Struct,
    credentials: msgspec.Struct,
    identity: SenderIdentityRecord | None,
) -> None:
    """The provider's test call with these values (422 with its reason when refused)."""
    spec = registry.spec_of(kind)
    if spec.factory is None:
        return
    provider = spec.factory(settings, config, credentials, registry.sender_of(settings, identity))
    try:
        await provider.check()
    except ProviderError as exc:
        raise ProviderCheckFailed(f"the provider refused the account: {exc.reason}") from None
    finally:
        await provider.aclose()


async def _identity_of(
    session: AsyncSession, identity_id: UUID | None
) -> SenderIdentityRecord | None:
    if identity_id is None:
        return await repository.default_identity(session)
    identity = await repository.get_identity(session, identity_id)
    if identity is None:
        raise InvalidInput(
            "no sender identity of the brand has this id",
            errors=[{"field": "identityId", "pointer": "/identityId", "message": "not found"}],
        )
    return identity


def _stored(config: msgspec.Struct) -> dict[str, Any]:
    stored: dict[str, Any] = msgspec.to_builtins(config)
    return stored


def _credential_fields(credentials: msgspec.Struct) -> list[str]:
    return sorted(k for k, v in _stored(credentials).items() if v not in (None, ""))


async def create_account(
    session: AsyncSession, settings: Settings, data: ProviderAccountCreate
) -> ProviderAccount:
    """Validate, try and store a provider account (its credentials sealed)."""
    try:
        spec = registry.spec_of(data.kind)
    except LookupError as exc:
        raise InvalidInput(str(exc), errors=[{"field": "kind", "pointer": "/kind"}]) from None
    channel = spec.channel or data.channel
    if (
        channel is None
        or channel not in MESSAGING_CHANNELS
        or (data.channel is not None and data.channel != channel)
    ):
        raise InvalidInput(
            f"a {data.kind.value} account serves the {spec.channel or 'email, sms or push'} "
            "channel",
            errors=[{"field": "channel", "pointer": "/channel"}],
        )
    config = _fields(spec.settings, data.settings, "settings")
    credentials = _fields(spec.credentials, data.credentials, "credentials")
    _check_base_url(settings, config)
    identity = await _identity_of(session, data.identity_id)
    await _try(settings, data.kind, config, credentials, identity)
    is_default = data.is_default
    if is_default is None:
        is_default = await repository.default_account(session, channel) is None
    if is_default:
        await repository.clear_default_account(session, channel, keep=None)
    account = ProviderAccount(
        kind=data.kind,
        channel=channel,
        name=data.name,
        is_default=is_default,
        settings=_stored(config),
        credentials_ciphertext=sealing.seal_json(settings, _stored(credentials)),
        credential_fields=_credential_fields(credentials),
        identity_id=data.identity_id,
    )
    session.add(account)
    await session.flush()
    await tracking_routing.route_account(session, account.id)  # its callback URL finds the brand
    return account


async def update_account(
    session: AsyncSession, settings: Settings, account_id: UUID, data: ProviderAccountUpdate
) -> ProviderAccount:
    """Change an account; new settings, credentials or identity are tried first."""
    account = await get_account(session, account_id)
    spec = registry.spec_of(account.kind)
    changes_provider = any(
        v is not msgspec.UNSET for v in (data.settings, data.credentials, data.identity_id)
    )
    if changes_provider:
        config = _fields(
            spec.settings,
            account.settings if data.settings is msgspec.UNSET else data.settings,
            "settings",
        )
        credentials = (
            registry.credentials_of(settings, account)
            if data.credentials is msgspec.UNSET
            else _fields(spec.credentials, data.credentials, "credentials")
        )
        _check_base_url(settings, config)
        identity_id = account.identity_id if data.identity_id is msgspec.UNSET else data.identity_id
        identity = await _identity_of(session, identity_id)
        await _try(settings, account.kind, config, credentials, identity)
        account.settings = _stored(config)
        account.credentials_ciphertext = sealing.seal_json(settings, _stored(credentials))
        account.credential_fields = _credential_fields(credentials)
        account.identity_id = identity_id
    if data.name is not msgspec.UNSET:
        account.name = data.name
    if data.is_default is True and not account.is_default:
        await repository.clear_default_account(session, account.channel, keep=account.id)
        account.is_default = True
    elif data.is_default is False:
        account.is_default = False
    await session.flush()
    return account


async def delete_account(session: AsyncSession, account_id: UUID) -> None:
    """Delete an account; when it was the channel's default, the oldest remaining account of
    the channel takes its place (none left: messages are captured)."""
    account = await get_account(session, account_id)
    channel, was_default = account.channel, account.is_default
    await session.delete(account)
    await session.flush()
    if was_default:
        successor = await repository.first_account(session, channel)
        if successor is not None:
            successor.is_default = True
            await session.flush()


async def feedback_account(
    session: AsyncSession, settings: Settings, account_id: UUID
) -> tuple[ProviderKind, Any]:
    """An account's kind and unsealed credentials, to verify a callback it signed."""
    account = await get_account(session, account_id)
    return account.kind, registry.credentials_of(settings, account)


# Rotation --------------------------------------------------------------------------------------


async def reseal_secrets(session: AsyncSession, settings: Settings) -> int:
    """Encrypt the brand's credentials and DKIM keys again with the current secret key (they
    may be sealed with a previous one); returns how many values were resealed."""
    count = 0
    for account in await repository.all_accounts(session):
        account.credentials_ciphertext = sealing.reseal(settings, account.credentials_ciphertext)
        count += 1
    for identity in await repository.all_identities(session):
        if identity.dkim_private_key_ciphertext:
            identity.dkim_private_key_ciphertext = sealing.reseal(
                settings, identity.dkim_private_key_ciphertext
            )
            count += 1
    await session.flush()
    return count
