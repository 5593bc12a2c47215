"""Stripe's webhooks: verified, stored once, applied in order per subscription.

``POST /v1/billing/stripe/webhook`` verifies ``Stripe-Signature`` with the official SDK
(``stripe.WebhookSignature.verify_header``, the check ``stripe.Webhook.construct_event`` makes:
HMAC-SHA256 of ``{t}.{body}`` keyed by the endpoint secret, the timestamp within
``LEVIER_STRIPE_WEBHOOK_TOLERANCE_SECONDS``); a forged or stale event answers 400 and stores
nothing. A verified event is inserted once by its id (a redelivery changes nothing) and the
``billing.apply_events`` job of its ordering key (its subscription, else its customer) is
queued. The job takes the key's lock and applies its waiting events in Stripe's order
(``created``, then arrival). Every account remembers the ``created`` of the last event applied to
it: an older event, however late it arrives, changes nothing — so duplicated and out-of-order
deliveries leave one effect and the final state Stripe's.

Applied: ``customer.subscription.*`` (the subscription's status, plan, trial and period,
cancellation), ``invoice.paid`` (a past-due account is paid up), ``invoice.payment_failed`` (an
active one is past due), ``checkout.session.completed`` (the customer and subscription of the
account that started the checkout). Other types are stored and ignored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from uuid import UUID

import msgspec
import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import repository
from backend.billing.models import (
    LIVE_STATUSES,
    BillingAccount,
    PriceKind,
    StripeEvent,
    SubscriptionStatus,
)
from backend.billing.stripe_api import not_configured
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.errors import LevierError
from backend.core.jobs import enqueue

APPLY_TASK = "billing.apply_events"
RESUME_TASK = "billing.resume_sends"
ACCOUNT_KEY = "levier_account_id"
_OVERDUE = frozenset({SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID})
_SETTLED = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING})


class BadSignature(LevierError):
    status, slug, title = HTTPStatus.BAD_REQUEST, "stripe-signature-invalid", "Bad signature"


def _at(seconds: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC) if seconds else None


def _id_of(value: Any) -> str | None:
    """An id field that Stripe may give as the id or as the expanded object."""
    if isinstance(value, dict):
        found = value.get("id")
        return str(found) if found else None
    return str(value) if value else None


def invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The subscription of an invoice: ``parent.subscription_details`` since Stripe's
    2025-03-31 API version, ``subscription`` before."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id_of(details.get("subscription")) or _id_of(invoice.get("subscription"))


def ordering_key(event: dict[str, Any]) -> str:
    """What orders an event: its subscription, else its customer, else itself."""
    obj: dict[str, Any] = event.get("data", {}).get("object", {}) or {}
    kind = obj.get("object")
    subscription = None
    if kind == "subscription":
        subscription = _id_of(obj.get("id"))
    elif kind == "invoice":
        subscription = invoice_subscription(obj)
    elif kind == "checkout.session":
        subscription = _id_of(obj.get("subscription"))
    return subscription or _id_of(obj.get("customer")) or str(event["id"])


async def receive(
    session: AsyncSession, settings: Settings, payload: bytes, signature: str | None
) -> tuple[str, bool]:
    """Verify and store one event, queue its application: (event id, whether it was a
    redelivery). Raises :class:`BadSignature` (nothing stored) when it does not verify."""
    secret = settings.stripe_webhook_secret
    if not secret:
        raise not_configured(settings, "receiving Stripe's webhooks")
    try:
        # What `stripe.Webhook.construct_event` runs first; building the SDK's event object
        # after it fails (500) on a signed body that is not an event object, refused here.
        stripe.WebhookSignature.verify_header(
            payload, signature or "", secret, tolerance=settings.stripe_webhook_tolerance_seconds
        )
        event: dict[str, Any] = msgspec.json.decode(payload)
    except stripe.SignatureVerificationError as exc:
        raise BadSignature(f"Stripe-Signature does not verify: {exc.user_message or exc}") from None
    except (ValueError, msgspec.DecodeError):
        raise BadSignature("the body is not a Stripe event") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise BadSignature("the body is not a Stripe event")
    key = ordering_key(event)
    created = _at(event.get("created")) or utcnow()
    stored = await repository.insert_event(
        session,
        {
            "id": event["id"][:255],
            "type": str(event.get("type", ""))[:100],
            "created": created,
            "ordering_key": key[:255],
            "payload": event,
            "received_at": utcnow(),
        },
    )
    if stored:
        await enqueue(session, APPLY_TASK, ordering_key=key[:255])
    return event["id"], not stored


# Applying ------------------------------------------------------------------------------------


@dataclass
class Applied:
    """What applying a key's waiting events did: how many, and the accounts whose sends a
    change released (their held messages go again)."""

    count: int = 0
    released: set[UUID] | None = None


def holds_sends(account: BillingAccount, settings: Settings, now: dt.datetime) -> bool:
    """Whether billing holds the account's non-transactional sends (canceled, paused, or past
    due beyond the grace period)."""
    if account.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.PAUSED):
        return True
    if account.status in _OVERDUE:
        since = account.past_due_since or now
        return now >= since + dt.timedelta(days=settings.billing_past_due_grace_days)
    return False


async def apply_waiting(session: AsyncSession, settings: Settings, key: str) -> Applied:
    """Apply the key's waiting events in order (the caller commits)."""
    await repository.lock_ordering_key(session, key)
    events = await repository.waiting_events(session, key)
    plans = {
        p.lookup_key for p in await repository.active_prices(session) if p.kind is PriceKind.PLAN
    }
    applied = Applied(count=len(events), released=set())
    now = utcnow()
    for event in events:
        account = await _account_of(session, event)
        if account is None:
            event.outcome = "unknown-account"
        else:
            held, plan = holds_sends(account, settings, now), account.plan_key
            event.outcome = _apply(account, event, plans)
            # Paid, resubscribed or another plan: what billing held may go now.
            if not holds_sends(account, settings, now) and (held or plan != account.plan_key):
                assert applied.released is not None
                applied.released.add(account.id)
        event.processed_at = now
        await session.flush()
    for account_id in applied.released or ():
        await enqueue(session, RESUME_TASK, account_id=str(account_id))
    return applied


def _object(event: StripeEvent) -> dict[str, Any]:
    found: dict[str, Any] = event.payload.get("data", {}).get("object", {}) or {}
    return found


async def _account_of(session: AsyncSession, event: StripeEvent) -> BillingAccount | None:
    """The account an event is about: named in the metadata Levier set (checkout and its
    subscription), else found by subscription id; locked for the change."""
    obj = _object(event)
    kind = obj.get("object")
    named: str | None = None
    subscription: str | None = None
    if kind == "subscription":
        named = (obj.get("metadata") or {}).get(ACCOUNT_KEY)
        subscription = _id_of(obj.get("id"))
    elif kind == "checkout.session":
        named = obj.get("client_reference_id") or (obj.get("metadata") or {}).get(ACCOUNT_KEY)
    elif kind == "invoice":
        subscription = invoice_subscription(obj)
    account = None
    if named:
        try:
            account = await repository.get_account(session, UUID(str(named)), lock=True)
        except ValueError:
            account = None
    if account is None and subscription:
        found = await repository.account_by_subscription(session, subscription)
        if found is not None:
            account = await repository.get_account(session, found.id, lock=True)
    return account


def _apply(account: BillingAccount, event: StripeEvent, plans: set[str]) -> str:
    obj = _object(event)
    if event.type.startswith("customer.subscription."):
        return _apply_subscription(account, event, obj, plans)
    if event.type == "invoice.paid":
        return _apply_paid(account, event)
    if event.type == "invoice.payment_failed":
        return _apply_failed(account, event)
    if event.type == "checkout.session.completed":
        return _apply_checkout(account, obj)
    return "ignored"


def _is_stale(account: BillingAccount, created: dt.datetime) -> bool:
    return account.state_as_of is not None and created < account.state_as_of


def _apply_subscription(
    account: BillingAccount, event: StripeEvent, sub: dict[str, Any], plans: set[str]
) -> str:
    subscription_id = _id_of(sub.get("id"))
    current = account.stripe_subscription_id
    if current not in (None, subscription_id):
        if account.status in LIVE_STATUSES:
            return "ignored"  # another subscription of the account is the live one
        account.state_as_of = None  # a new subscription after a canceled one: its own history
    elif _is_stale(account, event.created):
        return "stale"
    try:
        status = SubscriptionStatus(str(sub.get("status", "incomplete")))
    except ValueError:
        return "ignored"  # a status this version of Levier does not know
    if event.type == "customer.subscription.deleted":
        status = SubscriptionStatus.CANCELED
    if status in _OVERDUE and account.last_paid_at and account.last_paid_at >= event.created:
        status = SubscriptionStatus.ACTIVE  # an invoice paid since settled it
    items = (sub.get("items") or {}).get("data") or []
    prices = [item.get("price") or {} for item in items]
    lookup_keys = [p.get("lookup_key") for p in prices if p.get("lookup_key")]
    plan = next((k for k in lookup_keys if k in plans), None)
    if plan is None:
        licensed = [p for p in prices if (p.get("recurring") or {}).get("usage_type") != "metered"]
        plan = next((p.get("lookup_key") or p.get("id") for p in licensed), account.plan_key)
    period_ends = [_at(item.get("current_period_end")) for item in items]
    account.stripe_subscription_id = subscription_id
    account.stripe_customer_id = _id_of(sub.get("customer")) or account.stripe_customer_id
    account.plan_key = plan
    account.trial_end = _at(sub.get("trial_end"))
    account.current_period_end = _at(sub.get("current_period_end")) or max(
        (p for p in period_ends if p is not None), default=None
    )
    account.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    account.metered = any((p.get("recurring") or {}).get("usage_type") == "metered" for p in prices)
    if status in _OVERDUE:
        if account.status not in _OVERDUE or account.past_due_since is None:
            account.past_due_since = event.created
    else:
        account.past_due_since = None
    if status is SubscriptionStatus.CANCELED:
        account.canceled_at = (
            _at(sub.get("canceled_at")) or _at(sub.get("ended_at")) or event.created
        )
        account.metered = False
    else:
        account.canceled_at = None
    if status in LIVE_STATUSES and account.metering_since is None:
        account.metering_since = _at(sub.get("start_date")) or event.created
    if status is SubscriptionStatus.TRIALING or sub.get("trial_end"):
        account.trial_used = True
    account.status = status
    account.state_as_of = event.created
    return "applied"


def _apply_paid(account: BillingAccount, event: StripeEvent) -> str:
    if account.last_paid_at is None or account.last_paid_at < event.created:
        account.last_paid_at = event.created
    if _is_stale(account, event.created) or account.status not in _OVERDUE:
        return "recorded"
    account.status = SubscriptionStatus.ACTIVE
    account.past_due_since = None
    account.state_as_of = event.created
    return "applied"


def _apply_failed(account: BillingAccount, event: StripeEvent) -> str:
    if account.last_payment_failed_at is None or account.last_payment_failed_at < event.created:
        account.last_payment_failed_at = event.created
    paid_since = account.last_paid_at is not None and account.last_paid_at >= event.created
    if _is_stale(account, event.created) or paid_since or account.status not in _SETTLED:
        return "recorded"
    account.status = SubscriptionStatus.PAST_DUE
    account.past_due_since = event.created
    account.state_as_of = event.created
    return "applied"


def _apply_checkout(account: BillingAccount, session: dict[str, Any]) -> str:
    customer = _id_of(session.get("customer"))
    subscription = _id_of(session.get("subscription"))
    if customer and account.stripe_customer_id is None:
        account.stripe_customer_id = customer
    if subscription and (
        account.stripe_subscription_id is None or account.status not in LIVE_STATUSES
    ):
        account.stripe_subscription_id = subscription
    return "applied"


async def stuck_keys(session: AsyncSession, older_than: dt.timedelta) -> list[str]:
    """Ordering keys with events waiting longer than ``older_than`` (their job was lost)."""
    return await repository.stuck_ordering_keys(session, utcnow() - older_than)
