"""Inbound partner connectors: configuration, signature checks, storing deliveries once, and
turning them into profile writes, consents and an event. Services never commit.

The proven pattern: verify → store the raw delivery once (unique on connector and delivery id)
→ enqueue processing → answer 202. Processing that fails keeps the delivery as ``failed`` with
its reason; it can be replayed once the mapping is fixed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from backend.config import Settings
from backend.connectors import mapping as mappings
from backend.connectors import repository
from backend.connectors.models import (
    Connector,
    ConnectorType,
    HookRoute,
    InboundDelivery,
    InboundStatus,
)
from backend.connectors.schemas import ConnectorCreate, ConnectorUpdate
from backend.core import edge
from backend.core.db import insert_ignoring_conflict, utcnow
from backend.core.errors import InvalidInput, LevierError, NotFound, Unauthenticated
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.tenancy import TenantId
from backend.events import service as events_service
from backend.events.schemas import EventIn
from backend.events.schemas import Outcome as EventOutcomeKind
from backend.profiles import service as profiles_service
from backend.profiles.schemas import ProfileCreate, WriteMode
from backend.webhooks import service as webhooks_service
from backend.webhooks.sealing import hint, new_standard_webhooks_secret

PROCESS_TASK = "connectors.process"
QUALIFIO_SIGNATURE = "x-qualifio-signature"


class SignatureRefused(Unauthenticated):
    slug, title = "bad-signature", "Signature refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {}


# Configuration ---------------------------------------------------------------------------------


async def list_connectors(
    session: AsyncSession, page: PageRequest
) -> tuple[list[Connector], str | None]:
    return await repository.list_connectors(session, page)


async def count_connectors(session: AsyncSession) -> int:
    return await repository.count_connectors(session)


async def get_connector(session: AsyncSession, connector_id: UUID) -> Connector:
    connector = await repository.get_connector(session, connector_id)
    if connector is None:
        raise NotFound("connector not found")
    return connector


def _new_secret(kind: ConnectorType) -> str:
    if kind is ConnectorType.STANDARD_WEBHOOKS:
        return new_standard_webhooks_secret()
    return secrets.token_urlsafe(32)


def _check_secret(kind: ConnectorType, secret: str) -> None:
    if kind is not ConnectorType.STANDARD_WEBHOOKS:
        return
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith("whsec_") or len(key) < 24:
        raise InvalidInput(
            "a Standard Webhooks secret is whsec_ then at least 24 bytes in base64",
            errors=[{"field": "secret"}],
        )


async def create_connector(
    session: AsyncSession, tenant: TenantId, data: ConnectorCreate
) -> tuple[Connector, str | None]:
    """Create a connector and its hook route; returns the generated secret (None when the
    brand gave its own)."""
    mapping = mappings.check_mapping(data.type, data.mapping)
    if data.secret is not None:
        _check_secret(data.type, data.secret)
    secret = data.secret or _new_secret(data.type)
    connector = Connector(
        id=new_id(),
        type=data.type,
        name=data.name,
        secret_ciphertext=webhooks_service.seal(session, secret),
        secret_hint=hint(secret),
        mapping=mapping,
        event_name=data.event_name,
        enabled=data.enabled,
    )
    session.add(connector)
    session.add(HookRoute(connector_id=connector.id, brand_id=tenant))
    await session.flush()
    return connector, None if data.secret else secret


async def update_connector(
    session: AsyncSession, connector_id: UUID, data: ConnectorUpdate
) -> tuple[Connector, str | None]:
    connector = await get_connector(session, connector_id)
    if data.name is not msgspec.UNSET:
        connector.name = data.name
    if data.mapping is not msgspec.UNSET:
        connector.mapping = mappings.check_mapping(connector.type, data.mapping)
    if data.event_name is not msgspec.UNSET:
        connector.event_name = data.event_name
    if data.enabled is not msgspec.UNSET:
        connector.enabled = data.enabled
    generated = None
    if data.secret is not msgspec.UNSET or data.rotate_secret:
        if data.secret is not msgspec.UNSET:
            _check_secret(connector.type, data.secret)
            secret = data.secret
        else:
            secret = generated = _new_secret(connector.type)
        connector.previous_secret_ciphertext = connector.secret_ciphertext
        connector.secret_rotated_at = utcnow()
        connector.secret_ciphertext = webhooks_service.seal(session, secret)
        connector.secret_hint = hint(secret)
    await session.flush()
    return connector, generated


async def delete_connector(session: AsyncSession, connector_id: UUID) -> None:
    connector = await get_connector(session, connector_id)
    route = await repository.get_hook_route(session, connector.id)
    if route is not None:
        await session.delete(route)
    await session.delete(connector)
    await session.flush()


# Receiving -------------------------------------------------------------------------------------


async def brand_of_hook(session: AsyncSession, connector_id: UUID) -> TenantId | None:
    """The brand a hook URL belongs to (read without a brand scope: a platform table)."""
    route = await repository.get_hook_route(session, connector_id)
    return TenantId(route.brand_id) if route is not None else None


def _secrets_in_force(
    session: AsyncSession, connector: Connector, settings: Settings, now: dt.datetime
) -> list[str]:
    found = [webhooks_service.unseal(session, connector.secret_ciphertext)]
    grace = dt.timedelta(minutes=settings.connector_secret_grace_minutes)
    rotated = connector.secret_rotated_at
    if connector.previous_secret_ciphertext and rotated and now - rotated <= grace:
        found.append(webhooks_service.unseal(session, connector.previous_secret_ciphertext))
    return found


def _qualifio_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.removeprefix("sha256=").lower().encode())


def _standard_signature_ok(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except Exception:  # missing, malformed, stale or wrong: all the same refusal
        return False
    return True


def verify(
    session: AsyncSession,
    settings: Settings,
    connector: Connector,
    body: bytes,
    headers: dict[str, str],
) -> None:
    """Check the partner's signature with the connector's secret (or the previous one, during
    the grace period after a rotation): SignatureRefused (401) otherwise."""
    candidates = _secrets_in_force(session, connector, settings, utcnow())
    if connector.type is ConnectorType.QUALIFIO:
        header = headers.get(QUALIFIO_SIGNATURE)
        if not any(_qualifio_signature_ok(s, body, header) for s in candidates):
            raise SignatureRefused(f"missing or wrong {QUALIFIO_SIGNATURE} header")
    elif not any(_standard_signature_ok(s, body, headers) for s in candidates):
        raise SignatureRefused(
            "missing, wrong or stale webhook-signature (timestamps are accepted 5 minutes "
            "either side)"
        )


def _delivery_id(connector: Connector, body: bytes, headers: dict[str, str]) -> str:
    if connector.type is ConnectorType.STANDARD_WEBHOOKS:
        return headers["webhook-id"][:200]
    try:
        participation = json.loads(body).get("id")
    except (ValueError, AttributeError):
        participation = None
    if not isinstance(participation, (str, int)) or participation == "":
        raise InvalidInput(
            "the body is not a Qualifio participation (no id)", errors=[{"field": "id"}]
        )
    return str(participation)[:200]


async def receive(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    connector_id: UUID,
    body: bytes,
    headers: dict[str, str],
) -> tuple[UUID, bool]:
    """Verify and store a delivery once, and enqueue its processing; returns the delivery id and
    whether it was a duplicate (then nothing changed)."""
    connector = await repository.get_connector(session, connector_id)
    if connector is None or not connector.enabled:
        raise NotFound("no hook here")
    verify(session, settings, connector, body, headers)
    edge.decode_json(body, settings.json_max_depth)  # the edge's JSON rules, once it is signed
    external_id = _delivery_id(connector, body, headers)
    delivery_id = new_id()
    values = {
        "id": delivery_id,
        "tenant_id": tenant,
        "connector_id": connector.id,
        "external_id": external_id,
        "body": body,
        "status": InboundStatus.RECEIVED,
        "attempts": 0,
        "received_at": utcnow(),
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    inserted = await insert_ignoring_conflict(
        session, InboundDelivery, values, ["tenant_id", "connector_id", "external_id"]
    )
    if not inserted:
        existing = await repository.delivery_id_of(session, connector.id, external_id)
        assert existing is not None
        return existing, True
    await enqueue(session, PROCESS_TASK, tenant=tenant, delivery_id=str(delivery_id))
    return delivery_id, False


# Deliveries ------------------------------------------------------------------------------------


async def list_deliveries(
    session: AsyncSession,
    connector_id: UUID,
    page: PageRequest,
    status: InboundStatus | None = None,
) -> tuple[list[InboundDelivery], str | None]:
    connector = await get_connector(session, connector_id)
    return await repository.list_deliveries(session, connector.id, page, status)


async def count_deliveries(
    session: AsyncSession, connector_id: UUID, status: InboundStatus | None = None
) -> int:
    return await repository.count_deliveries(session, connector_id, status)


async def get_delivery(
    session: AsyncSession, delivery_id: UUID, connector_id: UUID | None = None
) -> InboundDelivery:
    """A delivery by id (of ``connector_id`` when named): NotFound otherwise."""
    delivery = await repository.get_delivery(session, delivery_id, connector_id)
    if delivery is None:
        raise NotFound("delivery not found")
    return delivery


async def replay(
    session: AsyncSession, tenant: TenantId, delivery_id: UUID, connector_id: UUID | None = None
) -> InboundDelivery:
    """Process a failed delivery again (with the connector's current mapping)."""
    delivery = await get_delivery(session, delivery_id, connector_id)
    if delivery.status is not InboundStatus.FAILED:
        raise InvalidInput(
            f"only a failed delivery is replayed; this one is {delivery.status.value}",
            errors=[{"field": "status"}],
        )
    delivery.status = InboundStatus.RECEIVED
    delivery.error = None
    await session.flush()
    await enqueue(session, PROCESS_TASK, tenant=tenant, delivery_id=str(delivery.id))
    return delivery


# Processing ------------------------------------------------------------------------------------


def form_submitted_event(
    connector: Connector,
    delivery: InboundDelivery,
    profile_id: UUID,
    occurred_at: dt.datetime,
    properties: dict[str, Any],
) -> dict[str, Any]:
    """The event a delivery raises (``form_submitted`` by default): its ``eventId`` is derived
    from the partner's delivery id, so a replay or a redelivery can never count twice."""
    return {
        "name": connector.event_name,
        "eventId": f"{connector.type.value}:{connector.id}:{delivery.external_id}",
        "occurredAt": occurred_at.isoformat(),
        "profileId": str(profile_id),
        "properties": properties,
    }


async def process(session: AsyncSession, tenant: TenantId, delivery_id: UUID) -> None:
    """Map a received delivery and write it: profile upsert by identity keys with its consents,
    and the event, ingested like any other (its id kept in the delivery's ``result``). Raises
    MappingFailed or a LevierError when the delivery does not fit: the caller rolls back and
    records the failure."""
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None or delivery.status is not InboundStatus.RECEIVED:
        return  # processed already (delivery is at least once) or gone
    connector = await get_connector(session, delivery.connector_id)
    try:
        raw = json.loads(delivery.body)
    except ValueError:
        raise mappings.MappingFailed("the body is not JSON") from None
    if connector.type is ConnectorType.QUALIFIO:
        mapped = mappings.map_qualifio(raw, connector.mapping, str(connector.id))
    else:
        mapped = mappings.map_standard(raw, connector.mapping, delivery.received_at)
    if not any(mapped.profile.get(k) for k in ("email", "phone")):
        raise mappings.MappingFailed("the mapping found neither an email nor a phone")
    body = {**mapped.profile, "attributes": mapped.attributes, "consents": mapped.consents}
    try:
        data = msgspec.convert(body, ProfileCreate)
    except msgspec.ValidationError as exc:
        raise mappings.MappingFailed(f"the mapped profile is not valid: {exc}") from None
    profile, created = await profiles_service.create_profile(
        session, tenant, data, WriteMode.UPSERT
    )
    occurred_at = mapped.occurred_at or delivery.received_at
    event = form_submitted_event(connector, delivery, profile.id, occurred_at, mapped.properties)
    (outcome,) = await events_service.ingest(
        session, tenant, [msgspec.convert(event, EventIn)], source=connector.type.value
    )
    if outcome.outcome is EventOutcomeKind.REJECTED:
        raise mappings.MappingFailed(f"the event was refused: {outcome.reason}")
    delivery.status = InboundStatus.PROCESSED
    delivery.error = None
    delivery.attempts += 1
    delivery.processed_at = utcnow()
    delivery.result = {
        "profileId": str(profile.id),
        "profileCreated": created,
        "consents": len(mapped.consents),
        "event": {**event, "id": str(outcome.id)},
    }
    await session.flush()


def failure_reason(exc: Exception) -> str:
    if isinstance(exc, LevierError) and exc.errors:
        return f"{exc.detail or exc.title}: {json.dumps(exc.errors, default=str)}"[:2000]
    if isinstance(exc, LevierError):
        return (exc.detail or exc.title)[:2000]
    return str(exc)[:2000]


async def mark_failed(session: AsyncSession, delivery_id: UUID, reason: str) -> None:
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None:
        return
    delivery.status = InboundStatus.FAILED
    delivery.error = reason
    delivery.attempts += 1
    delivery.processed_at = utcnow()
    await session.flush()
