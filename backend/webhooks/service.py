"""Outbound webhooks: endpoints, publishing, and the delivery state machine. Services never
commit.

:func:`publish` stores an event and one delivery per enabled endpoint subscribed to its type, in
the caller's transaction, and enqueues the endpoint's sender through the outbox. The sender
(:mod:`backend.webhooks.tasks`) takes the endpoint's earliest pending delivery only, so each
endpoint receives its events in order; a failed attempt is retried with exponential backoff and
jitter through due work, and an endpoint failing too many times in a row is disabled (and a
``webhook_endpoint.disabled`` event published).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.db import utcnow
from backend.core.due_work import schedule
from backend.core.errors import InvalidInput, NotFound
from backend.core.jobs import enqueue
from backend.core.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_ENDPOINTS_DISABLED
from backend.core.pagination import PageRequest
from backend.core.tenancy import TenantId
from backend.webhooks import repository, sealing
from backend.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from backend.webhooks.schemas import EndpointCreate, EndpointUpdate
from backend.webhooks.sending import AttemptOutcome, is_public, literal_address

SEND_TASK = "webhooks.send"
# A lease outlives the request it covers: connect and read timeouts plus a margin.
LEASE_MARGIN = dt.timedelta(seconds=30)

seal, unseal = sealing.seal, sealing.unseal


# Endpoints -------------------------------------------------------------------------------------


def check_url(url: str, settings: Settings, *, field: str = "url") -> str:
    """An endpoint URL the deployment may send to: https (http only when allowed), a host, and
    no literal address that is not globally routable, in any spelling, unless private targets
    are allowed (hostnames are checked again when resolved, at every attempt)."""
    parts = urlsplit(url)
    schemes = ("https", "http") if settings.webhook_allow_http else ("https",)
    if parts.scheme not in schemes:
        raise InvalidInput(
            "the URL must use https" if len(schemes) == 1 else "the URL must use http(s)",
            errors=[{"field": field, "message": f"scheme {parts.scheme!r} not allowed"}],
        )
    if not parts.hostname:
        raise InvalidInput("the URL names no host", errors=[{"field": field}])
    if parts.username or parts.password:
        raise InvalidInput("the URL must not carry credentials", errors=[{"field": field}])
    literal = literal_address(parts.hostname)
    if (
        literal is not None
        and not settings.webhook_allow_private_targets
        and not is_public(literal)
    ):
        raise InvalidInput(
            "the URL names an address that is not globally routable (private, shared, "
            "loopback, link-local…)",
            errors=[{"field": field, "message": "address not allowed"}],
        )
    return url


async def list_endpoints(
    session: AsyncSession, page: PageRequest
) -> tuple[list[WebhookEndpoint], str | None]:
    return await repository.list_endpoints(session, page)


async def count_endpoints(session: AsyncSession) -> int:
    return await repository.count_endpoints(session)


async def get_endpoint(session: AsyncSession, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(session, endpoint_id)
    if endpoint is None:
        raise NotFound("webhook endpoint not found")
    return endpoint


async def create_endpoint(
    session: AsyncSession, settings: Settings, data: EndpointCreate
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it with its signing secret (shown this once)."""
    check_url(data.url, settings)
    secret = sealing.new_standard_webhooks_secret()
    endpoint = WebhookEndpoint(
        url=data.url,
        description=data.description,
        event_types=sorted({str(t) for t in data.event_types}),
        secret_ciphertext=seal(session, secret),
        secret_hint=sealing.hint(secret),
        enabled=data.enabled,
        consecutive_failures=0,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def update_endpoint(
    session: AsyncSession, settings: Settings, endpoint_id: UUID, data: EndpointUpdate
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, endpoint_id)
    if data.url is not msgspec.UNSET:
        endpoint.url = check_url(data.url, settings)
    if data.event_types is not msgspec.UNSET:
        endpoint.event_types = sorted({str(t) for t in data.event_types})
    if data.description is not msgspec.UNSET:
        endpoint.description = data.description
    if data.enabled is not msgspec.UNSET and data.enabled != endpoint.enabled:
        endpoint.enabled = data.enabled
        if data.enabled:
            endpoint.consecutive_failures = 0
            endpoint.disabled_at = None
            endpoint.disabled_reason = None
            await enqueue(session, SEND_TASK, endpoint_id=str(endpoint.id))
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, endpoint_id: UUID) -> None:
    """Delete the endpoint with its deliveries and their attempts."""
    endpoint = await get_endpoint(session, endpoint_id)
    await session.delete(endpoint)
    await session.flush()


# Publishing ------------------------------------------------------------------------------------


async def subscribed(session: AsyncSession, event_type: str) -> bool:
    """Whether an enabled endpoint of the brand subscribes to ``event_type`` (a producer of many
    events checks once before publishing each)."""
    return any(event_type in e.event_types for e in await repository.enabled_endpoints(session))


async def publish(
    session: AsyncSession,
    tenant: TenantId,
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: UUID | None = None,
) -> WebhookEvent | None:
    """Store an event and a delivery per enabled endpoint subscribed to ``event_type``, and
    enqueue their senders, all in the caller's transaction. An event nobody subscribed to is not
    stored (None), except ``webhook_endpoint.disabled``, which is always kept as a record.

    ``event_id``: the event's id when the caller may publish it again (a task delivered at
    least once): publishing an id already stored does nothing, so an endpoint never receives
    one occurrence under two ``webhook-id``s."""
    WebhookEventType(event_type)  # a programming error to publish an unknown type
    if event_id is not None and await repository.get_event(session, event_id) is not None:
        return None
    endpoints = [
        e for e in await repository.enabled_endpoints(session) if event_type in e.event_types
    ]
    if not endpoints and event_type != WebhookEventType.ENDPOINT_DISABLED:
        return None
    event = WebhookEvent(type=event_type, payload=payload)
    if event_id is not None:
        event.id = event_id
    session.add(event)
    await session.flush()
    now = utcnow()
    for endpoint in endpoints:
        session.add(_delivery(endpoint.id, event, now))
    await session.flush()
    for endpoint in endpoints:
        await enqueue(session, SEND_TASK, tenant=tenant, endpoint_id=str(endpoint.id))
    return event


async def publish_to_endpoint(
    session: AsyncSession,
    tenant: TenantId,
    endpoint_id: UUID,
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: UUID,
) -> WebhookEvent | None:
    """Store an event and its delivery to one endpoint of the brand (whatever it subscribes
    to: the caller names it, e.g. a scenario's webhook step) and enqueue its sender, in the
    caller's transaction; signed and SSRF-guarded like every delivery. An id already stored
    does nothing (None); a disabled endpoint gets nothing (None); an unknown one is NotFound."""
    WebhookEventType(event_type)
    endpoint = await get_endpoint(session, endpoint_id)
    if not endpoint.enabled:
        return None
    if await repository.get_event(session, event_id) is not None:
        return None
    event = WebhookEvent(type=event_type, payload=payload)
    event.id = event_id
    session.add(event)
    await session.flush()
    session.add(_delivery(endpoint.id, event, utcnow()))
    await session.flush()
    await enqueue(session, SEND_TASK, tenant=tenant, endpoint_id=str(endpoint.id))
    return event


def _delivery(endpoint_id: UUID, event: WebhookEvent, now: dt.datetime) -> WebhookDelivery:
    return WebhookDelivery(
        endpoint_id=endpoint_id,
        event_id=event.id,
        event_type=event.type,
        status=DeliveryStatus.PENDING,
        attempt_count=0,
        next_attempt_at=now,
    )


def message_body(event: WebhookEvent) -> str:
    """The JSON body of an event, the same at every attempt (Standard Webhooks payload shape)."""
    body = {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.payload}
    return msgspec.json.encode(body).decode()


# Deliveries and attempts -----------------------------------------------------------------------


async def list_deliveries(
    session: AsyncSession,
    endpoint_id: UUID,
    page: PageRequest,
    status: DeliveryStatus | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    endpoint = await get_endpoint(session, endpoint_id)
    return await repository.list_deliveries(session, endpoint.id, page, status)


async def count_deliveries(
    session: AsyncSession, endpoint_id: UUID, status: DeliveryStatus | None = None
) -> int:
    return await repository.count_deliveries(session, endpoint_id, status)


async def get_delivery(
    session: AsyncSession, endpoint_id: UUID, delivery_id: UUID
) -> tuple[WebhookDelivery, WebhookEvent]:
    delivery = await repository.get_delivery(session, endpoint_id, delivery_id)
    event = None if delivery is None else await repository.get_event(session, delivery.event_id)
    if delivery is None or event is None:
        raise NotFound("delivery not found")
    return delivery, event


async def delivery_by_id(
    session: AsyncSession, delivery_id: UUID
) -> tuple[WebhookDelivery, WebhookEvent]:
    """A delivery and its event, by the delivery's id alone."""
    delivery = await repository.find_delivery(session, delivery_id)
    if delivery is None:
        raise NotFound("delivery not found")
    return await get_delivery(session, delivery.endpoint_id, delivery.id)


async def list_attempts(
    session: AsyncSession, endpoint_id: UUID, delivery_id: UUID, page: PageRequest
) -> tuple[list[WebhookAttempt], str | None]:
    delivery, _ = await get_delivery(session, endpoint_id, delivery_id)
    return await repository.list_attempts(session, delivery.id, page)


async def count_attempts(session: AsyncSession, delivery_id: UUID) -> int:
    return await repository.count_attempts(session, delivery_id)


async def redeliver(
    session: AsyncSession, tenant: TenantId, endpoint_id: UUID, delivery_id: UUID
) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery queued behind the endpoint's others."""
    _, event = await get_delivery(session, endpoint_id, delivery_id)
    delivery = _delivery(endpoint_id, event, utcnow())
    session.add(delivery)
    await session.flush()
    await enqueue(session, SEND_TASK, tenant=tenant, endpoint_id=str(endpoint_id))
    return delivery


# Sending ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A delivery taken for one attempt: what the request needs, read before committing."""

    delivery_id: UUID
    url: str
    secret: str
    message_id: str
    body: str


async def claim_next(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    endpoint_id: UUID,
    now: dt.datetime,
) -> Claim | None:
    """Take the endpoint's earliest pending delivery if it is due and nobody holds it.

    None when there is nothing to send now: the endpoint is gone or disabled, nothing is pending,
    another sender holds the earliest delivery (it carries on after it), or the earliest waits
    for its retry time (due work brings the sender back then)."""
    endpoint = await repository.get_endpoint(session, endpoint_id)
    if endpoint is None or not endpoint.enabled:
        return None
    delivery = await repository.earliest_pending(session, endpoint_id)
    if delivery is None:
        return None
    if delivery.sending_until is not None and delivery.sending_until >= now:
        # Held by a sender that may crash: come back when its lease ends.
        await _schedule_send(session, tenant, endpoint_id, delivery.sending_until, "lease")
        return None
    if delivery.next_attempt_at > now:
        await _schedule_send(session, tenant, endpoint_id, delivery.next_attempt_at, "retry")
        return None
    timeouts = settings.webhook_connect_timeout_seconds + settings.webhook_read_timeout_seconds
    lease = now + dt.timedelta(seconds=timeouts) + LEASE_MARGIN
    if not await repository.take_lease(session, delivery.id, now, lease):
        return None
    event = await repository.get_event(session, delivery.event_id)
    if event is None:  # cascades make this impossible; fail closed all the same
        return None
    return Claim(
        delivery_id=delivery.id,
        url=endpoint.url,
        secret=unseal(session, endpoint.secret_ciphertext),
        message_id=str(event.id),
        body=message_body(event),
    )


async def _schedule_send(
    session: AsyncSession, tenant: TenantId, endpoint_id: UUID, at: dt.datetime, why: str
) -> None:
    await schedule(
        session,
        SEND_TASK,
        at,
        tenant=tenant,
        dedupe_key=f"{SEND_TASK}:{why}:{endpoint_id}:{at.isoformat()}",
        endpoint_id=str(endpoint_id),
    )


def backoff(settings: Settings, attempt: int) -> dt.timedelta:
    """Exponential backoff with jitter: half to all of base * 2^(attempt-1), capped."""
    ceiling = min(
        settings.webhook_retry_max_seconds, settings.webhook_retry_base_seconds * 2 ** (attempt - 1)
    )
    return dt.timedelta(seconds=ceiling * random.uniform(0.5, 1.0))  # noqa: S311  (not a secret)


async def record_outcome(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    endpoint_id: UUID,
    claim: Claim,
    outcome: AttemptOutcome,
    now: dt.datetime,
) -> bool:
    """Log the attempt and move the delivery on; True when the endpoint's next delivery may be
    sent at once (this one succeeded or has run out of attempts)."""
    delivery = await repository.get_delivery(session, endpoint_id, claim.delivery_id)
    endpoint = await repository.get_endpoint(session, endpoint_id)
    if delivery is None or endpoint is None:
        return False  # deleted meanwhile
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            response_excerpt=outcome.response_excerpt,
            error=outcome.error,
        )
    )
    delivery.attempt_count += 1
    delivery.sending_until = None
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.finished_at = now
        endpoint.consecutive_failures = 0
        await session.flush()
        WEBHOOK_ATTEMPTS.labels("succeeded").inc()
        return True

    endpoint.consecutive_failures += 1
    moves_on = delivery.attempt_count >= settings.webhook_max_attempts
    if moves_on:
        delivery.status = DeliveryStatus.FAILED
        delivery.finished_at = now
    else:
        delivery.next_attempt_at = now + backoff(settings, delivery.attempt_count)
        await _schedule_send(session, tenant, endpoint_id, delivery.next_attempt_at, "retry")
    await session.flush()
    WEBHOOK_ATTEMPTS.labels("failed" if moves_on else "retrying").inc()
    if (
        endpoint.enabled
        and endpoint.consecutive_failures >= settings.webhook_disable_after_failures
    ):
        await _disable(session, tenant, endpoint, now, outcome.error)
        WEBHOOK_ENDPOINTS_DISABLED.inc()
        return False
    return moves_on


async def _disable(
    session: AsyncSession,
    tenant: TenantId,
    endpoint: WebhookEndpoint,
    now: dt.datetime,
    last_error: str | None,
) -> None:
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"{endpoint.consecutive_failures} failed attempts in a row; the last: "
        f"{last_error or 'unknown'}"
    )[:2000]
    await session.flush()
    await publish(
        session,
        tenant,
        WebhookEventType.ENDPOINT_DISABLED,
        {
            "endpointId": str(endpoint.id),
            "url": endpoint.url,
            "consecutiveFailures": endpoint.consecutive_failures,
            "reason": endpoint.disabled_reason,
            "disabledAt": now.isoformat(),
        },
    )


async def enqueue_send(session: AsyncSession, tenant: TenantId, endpoint_id: UUID) -> None:
    await enqueue(session, SEND_TASK, tenant=tenant, endpoint_id=str(endpoint_id))
