"""Provider kinds, what each needs, and the provider a brand's messages go through.

:data:`SPECS` maps a kind to its channel, its credentials and settings structs (validated when an
account is saved), the factory building a ready :class:`Provider`, and the verifier of its
signed callbacks. Adding a kind is one :func:`register` line below.

:func:`provider_for` resolves the brand's default account for a channel (or the capture provider
when it has none). Built providers are cached per (account id, ``updated_at``) and per event loop
(SMTP connections and HTTP pools belong to the loop that opened them), so sends reuse their
connections; a changed account gets a new provider and the old one is closed.
:func:`close_providers` closes the loop's providers at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
import redis.asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.tenancy import TenantId, required_tenant, session_tenant
from backend.messaging.accounts import repository as accounts_repository
from backend.messaging.accounts import sealing
from backend.messaging.accounts.models import ProviderAccount, SenderIdentityRecord
from backend.messaging.providers import fcm, mailgun, repository, sendgrid, twilio, webpush
from backend.messaging.providers.base import (
    DkimKey,
    Feedback,
    FeedbackRefused,
    Provider,
    ProviderKind,
    SenderIdentity,
)
from backend.messaging.providers.capture import CaptureProvider
from backend.messaging.providers.feedback import FEEDBACK_TOLERANCE_SECONDS
from backend.messaging.providers.mailgun import ReplayGuard
from backend.messaging.providers.smtp import SmtpCredentials, SmtpProvider, SmtpSettings
from backend.profiles.models import Channel

Factory = Callable[[Settings, Any, Any, SenderIdentity], Provider]
Verifier = Callable[..., Awaitable[list[Feedback]]]


class NoSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A kind that takes no settings or credentials."""


@dataclass(frozen=True)
class ProviderSpec:
    kind: ProviderKind
    channel: Channel | None  # None: any channel (capture)
    credentials: type[msgspec.Struct]
    settings: type[msgspec.Struct]
    factory: Factory | None  # None: built per session (capture)
    # ``verify(credentials, *, url, headers, body, replay) -> list[Feedback]``; None: the
    # provider sends no callbacks (SMTP: bounces come back as DSN mail).
    verify: Verifier | None = None


SPECS: dict[ProviderKind, ProviderSpec] = {}


def register(spec: ProviderSpec) -> None:
    SPECS[spec.kind] = spec


async def _verify_sendgrid(credentials: Any, **kwargs: Any) -> list[Feedback]:
    kwargs.pop("replay", None)  # SendGrid's scheme has no token to remember
    return sendgrid.verify_feedback(credentials, **kwargs)


register(ProviderSpec(ProviderKind.CAPTURE, None, NoSettings, NoSettings, None))
register(
    ProviderSpec(ProviderKind.SMTP, Channel.EMAIL, SmtpCredentials, SmtpSettings, SmtpProvider)
)
register(
    ProviderSpec(
        ProviderKind.SENDGRID,
        Channel.EMAIL,
        sendgrid.SendgridCredentials,
        sendgrid.SendgridSettings,
        sendgrid.SendgridProvider,
        _verify_sendgrid,
    )
)
register(
    ProviderSpec(
        ProviderKind.MAILGUN,
        Channel.EMAIL,
        mailgun.MailgunCredentials,
        mailgun.MailgunSettings,
        mailgun.MailgunProvider,
        mailgun.verify_feedback,
    )
)
register(
    ProviderSpec(
        ProviderKind.TWILIO,
        Channel.SMS,
        twilio.TwilioCredentials,
        twilio.TwilioSettings,
        twilio.factory,
        twilio.verify,
    )
)
register(
    ProviderSpec(
        ProviderKind.WEBPUSH,
        Channel.PUSH,
        webpush.WebPushCredentials,
        webpush.WebPushSettings,
        webpush.factory,
    )
)
register(
    ProviderSpec(ProviderKind.FCM, Channel.PUSH, fcm.FcmCredentials, fcm.FcmSettings, fcm.factory)
)


def spec_of(kind: ProviderKind) -> ProviderSpec:
    spec = SPECS.get(kind)
    if spec is None:
        raise LookupError(f"no adapter is installed for provider kind {kind.value!r}")
    return spec


# Resolution ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    account_id: UUID | None  # None: the capture provider of a brand with no account
    kind: ProviderKind
    provider: Provider
    sender: SenderIdentity


# The sender of a brand that has no identity yet (capture only: nothing leaves the deployment).
FALLBACK_SENDER = SenderIdentity(
    id=None, from_name="Levier", from_address="no-reply@levier.invalid"
)


def sender_of(settings: Settings, identity: SenderIdentityRecord | None) -> SenderIdentity:
    """A snapshot of an identity, its DKIM private key unsealed."""
    if identity is None:
        return FALLBACK_SENDER
    key = None
    if identity.dkim_domain and identity.dkim_selector and identity.dkim_private_key_ciphertext:
        key = DkimKey(
            domain=identity.dkim_domain,
            selector=identity.dkim_selector,
            private_key_pem=sealing.unseal(settings, identity.dkim_private_key_ciphertext),
        )
    return SenderIdentity(
        id=identity.id,
        from_name=identity.from_name,
        from_address=identity.from_address,
        reply_to=identity.reply_to,
        sms_sender_id=identity.sms_sender_id,
        push_app_id=identity.push_app_id,
        dkim=key,
    )


def credentials_of(settings: Settings, account: ProviderAccount) -> Any:
    """The account's credentials, unsealed, as its kind's struct."""
    spec = spec_of(account.kind)
    raw = sealing.unseal_json(settings, account.credentials_ciphertext)
    return msgspec.convert(raw, spec.credentials)


def build(
    settings: Settings, account: ProviderAccount, sender: SenderIdentity, credentials: Any
) -> Provider:
    """A new provider for an account (not cached: the caller owns it)."""
    spec = spec_of(account.kind)
    assert spec.factory is not None
    config = msgspec.convert(account.settings, spec.settings)
    return spec.factory(settings, config, credentials, sender)


Version = tuple[dt.datetime, UUID | None, dt.datetime | None]


@dataclass
class _LoopCache:
    providers: dict[UUID, tuple[Version, Provider, SenderIdentity]] = field(default_factory=dict)
    redis: dict[str, redis.asyncio.Redis] = field(default_factory=dict)


_CACHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopCache] = (
    weakref.WeakKeyDictionary()
)


def _cache() -> _LoopCache:
    loop = asyncio.get_running_loop()
    cache = _CACHES.get(loop)
    if cache is None:
        cache = _CACHES[loop] = _LoopCache()
    return cache


async def provider_for(
    session: AsyncSession, tenant: TenantId, settings: Settings, channel: Channel
) -> Resolved:
    """The provider the brand's messages on ``channel`` go through: its default account for
    the channel, or the capture provider (bound to ``session``) when it has none."""
    if required_tenant(session) != tenant:
        raise RuntimeError("provider_for needs a session scoped to the same brand")
    account = await accounts_repository.default_account(session, channel)
    identity = None
    if account is not None and account.identity_id is not None:
        identity = await accounts_repository.get_identity(session, account.identity_id)
    if identity is None:
        identity = await accounts_repository.default_identity(session)
    if account is None or account.kind is ProviderKind.CAPTURE:
        sender = sender_of(settings, identity)
        return Resolved(
            account.id if account else None, ProviderKind.CAPTURE, CaptureProvider(session), sender
        )
    # An identity's change (a new DKIM key) rebuilds the provider too.
    version: Version = (
        account.updated_at,
        identity.id if identity else None,
        identity.updated_at if identity else None,
    )
    cache = _cache()
    cached = cache.providers.get(account.id)
    if cached is not None and cached[0] == version:
        return Resolved(account.id, account.kind, cached[1], cached[2])
    sender = sender_of(settings, identity)
    provider = build(settings, account, sender, credentials_of(settings, account))
    cache.providers[account.id] = (version, provider, sender)
    if cached is not None:
        await _close_quietly(cached[1])
    return Resolved(account.id, account.kind, provider, sender)


async def _close_quietly(provider: Provider) -> None:
    # Closing a stale pool must never fail the send that replaced it.
    with contextlib.suppress(Exception):
        await provider.aclose()


async def close_providers() -> None:
    """Close every provider (and Redis client) this event loop cached: at shutdown."""
    cache = _CACHES.pop(asyncio.get_running_loop(), None)
    if cache is None:
        return
    for _, provider, _ in cache.providers.values():
        await _close_quietly(provider)
    for client in cache.redis.values():
        await client.aclose()


# Feedback --------------------------------------------------------------------------------------


class DatabaseReplayGuard:
    """Tokens remembered in ``feedback_tokens`` (no Redis): the primary key decides."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_use(self, provider: str, token: str) -> bool:
        first = await repository.claim_token(self.session, provider, token)
        # Tokens older than the freshness window can never verify again: forget them.
        horizon = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2 * FEEDBACK_TOLERANCE_SECONDS)
        await repository.forget_tokens_before(self.session, horizon)
        return first


class RedisReplayGuard:
    """Tokens remembered in Redis with ``SET NX`` for twice the freshness window."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def first_use(self, provider: str, token: str) -> bool:
        key = f"{self.prefix}:{provider}:{token}"
        return bool(await self.client.set(key, b"1", nx=True, ex=2 * FEEDBACK_TOLERANCE_SECONDS))


def replay_guard(session: AsyncSession, settings: Settings) -> ReplayGuard:
    """Where callback tokens are remembered: Redis when configured, else the database."""
    tenant = session_tenant(session)
    if settings.redis_url is None or tenant is None:
        return DatabaseReplayGuard(session)
    cache = _cache()
    client = cache.redis.get(settings.redis_url)
    if client is None:
        client = cache.redis[settings.redis_url] = redis.asyncio.Redis.from_url(settings.redis_url)
    return RedisReplayGuard(client, f"{settings.redis_namespace}:feedback-token:{tenant}")


async def verify_feedback(
    kind: ProviderKind,
    credentials: Any,
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
    replay: ReplayGuard,
) -> list[Feedback]:
    """The verified feedback of one provider callback (raises :class:`FeedbackRefused`).
    ``credentials``: the account's (:func:`credentials_of`, or the same as a dict);
    ``replay``: :func:`replay_guard` (remembers single-use tokens)."""
    spec = spec_of(kind)
    if spec.verify is None:
        raise FeedbackRefused(f"{kind.value} sends no callbacks")
    if isinstance(credentials, dict):
        credentials = msgspec.convert(credentials, spec.credentials)
    return await spec.verify(credentials, url=url, headers=headers, body=body, replay=replay)
