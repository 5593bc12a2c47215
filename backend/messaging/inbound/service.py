"""SMS keywords: a person texting STOP (or STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) to a brand's
number unsubscribes the profile holding that phone from SMS; START (YES, UNSTOP) subscribes it
again — the keywords carriers and Twilio honour, so our consent matches what the carrier
enforces. Each message is verified with the account's signature, stored once per MessageSid
(a redelivery changes nothing), and the consent change names it as proof."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import NotFound, Unauthenticated
from backend.core.ids import new_id
from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.messaging.accounts import service as accounts
from backend.messaging.inbound import repository
from backend.messaging.inbound.models import KeywordAction
from backend.messaging.providers import twilio
from backend.messaging.providers.base import FeedbackRefused, ProviderKind
from backend.profiles import consents, lookup
from backend.profiles import service as profiles
from backend.profiles.models import Channel, ConsentState
from backend.profiles.schemas import ConsentChangeIn

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
SOURCE = "sms-keyword"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class SignatureRefused(Unauthenticated):
    slug, title = "bad-signature", "Signature refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {}  # not a bearer-token realm


def keyword_of(body: str) -> tuple[str | None, KeywordAction]:
    """The keyword a message is (the whole message, trimmed, any case) and its action."""
    word = body.strip().upper()
    if word in OPT_OUT:
        return word, KeywordAction.OPT_OUT
    if word in OPT_IN:
        return word, KeywordAction.OPT_IN
    return None, KeywordAction.NONE


async def receive_sms(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    account_id: UUID,
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
) -> KeywordAction | None:
    """Verify and apply one inbound message of a Twilio account; the action taken, or None
    for a message already received. 404 for an account the brand does not have (or not a
    Twilio one), 401 for a signature that does not verify (nothing stored)."""
    try:
        kind, credentials = await accounts.feedback_account(session, settings, account_id)
    except NotFound:
        raise NotFound("no hook here") from None
    if kind is not ProviderKind.TWILIO:
        raise NotFound("no hook here")
    try:
        inbound = twilio.verify_inbound(credentials, url=url, headers=headers, body=body)
    except FeedbackRefused as exc:
        raise SignatureRefused(str(exc)) from None
    keyword, action = keyword_of(inbound.body)
    owners = await lookup.owners_of_keys(session, [(lookup.PHONE, inbound.from_phone)])
    profile_id = owners.get((lookup.PHONE, inbound.from_phone))
    if action is not KeywordAction.NONE and profile_id is None:
        action = KeywordAction.UNKNOWN_SENDER
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant,
        "account_id": account_id,
        "message_sid": inbound.message_sid[:64],
        "from_phone": inbound.from_phone[:32],
        "to_phone": inbound.to_phone[:32],
        "keyword": keyword,
        "action": action,
        "profile_id": profile_id,
        "received_at": now,
        "created_at": now,
        "updated_at": now,
    }
    if not await repository.claim(session, values):
        return None
    if profile_id is not None and action in (KeywordAction.OPT_OUT, KeywordAction.OPT_IN):
        state = (
            ConsentState.UNSUBSCRIBED if action is KeywordAction.OPT_OUT else ConsentState.GRANTED
        )
        proof = {"messageSid": inbound.message_sid, "keyword": keyword, "to": inbound.to_phone}
        change = ConsentChangeIn(
            state=state, source=SOURCE, channel=Channel.SMS, proof=proof, occurred_at=now
        )
        await consents.record_change(session, profile_id, change)
    return action


# Receivers -------------------------------------------------------------------------------------


async def forget_profile(session: AsyncSession, tenant: TenantId, profile_id: UUID) -> None:
    await repository.delete_of_profile(session, profile_id)


async def forget_erased(
    session: AsyncSession, tenant: TenantId, identifiers: Sequence[tuple[str, str]]
) -> None:
    """An erased person's messages go, including those from before a profile held the number."""
    await repository.delete_from_phones(
        session, [value for kind, value in identifiers if kind == lookup.PHONE]
    )


def connect(signals: Signals) -> None:
    """Inbound messages go with their profile (deleted or erased)."""
    signals.connect(profiles.PROFILE_DELETED, forget_profile)
    signals.connect(profiles.PROFILE_ERASED, forget_erased)
