"""Triggers: definitions per brand, occurrences raised exactly once, the entry points other
domains call (accepted events, live carts), and the hooks that keep occurrences with their
profile. Services never commit.

Every new occurrence is published to the registered consumers (:mod:`.consumers`) by the
``triggers.publish`` task, enqueued through the outbox in the raising transaction: published after
commit, never for a rolled-back write, and not lost when the broker blips.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core import due_work
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.ids import new_id
from backend.core.jobs import enqueue
from backend.core.pagination import PageRequest
from backend.core.read_cache import cached, watch_config_tables
from backend.core.signals import Signals
from backend.core.tenancy import TenantId, session_tenant
from backend.profiles import attributes as profile_attributes
from backend.profiles import service as profile_service
from backend.profiles.fields import FieldErrors
from backend.profiles.models import AttributeType, Profile
from backend.triggers import repository
from backend.triggers.models import (
    SCANNED_KINDS,
    TriggerCart,
    TriggerDefinition,
    TriggerKind,
    TriggerOccurrence,
    TriggerWatermark,
)
from backend.triggers.repository import NewOccurrence
from backend.triggers.schemas import TriggerCreate, TriggerSettings, TriggerUpdate

PUBLISH_TASK = "triggers.publish"
ABANDONED_CART_TASK = "triggers.check_abandoned_cart"

BIRTH_DATE = "birth_date"
MAX_OFFSET_DAYS = 3650
MAX_INACTIVITY_DAYS = 3650
MAX_CART_DELAY_MINUTES = 30 * 24 * 60
DEFAULT_LOCAL_TIME = dt.time(9, 0)
MAX_TYPE_LENGTH = 64
MAX_DEDUPE_KEY_LENGTH = 300

# The settings each kind takes (snake_case, as stored); any other one given is refused.
SETTINGS_OF_KIND: dict[TriggerKind, tuple[str, ...]] = {
    TriggerKind.EVENT: ("event_name", "property_equals"),
    TriggerKind.DATE_ATTRIBUTE: ("date_field", "offset_days", "local_time", "yearly"),
    TriggerKind.INACTIVITY: ("inactivity_days",),
    TriggerKind.ABANDONED_CART: ("delay_minutes",),
    TriggerKind.PROFILE_CHANGE: ("changed_field", "changed_to"),
}
# Standard profile fields a profile_change trigger may watch: API name → stored name.
PROFILE_FIELDS = {
    "email": "email",
    "phone": "phone",
    "firstName": "first_name",
    "lastName": "last_name",
    "birthDate": "birth_date",
    "locale": "locale",
    "timeZone": "time_zone",
    "country": "country",
    "preferredStore": "preferred_store",
    "channelAppetency": "channel_appetency",
}
ATTRIBUTES = "attributes."
_WIRE_NAMES = {f.name: f.encode_name for f in msgspec.structs.fields(TriggerSettings)}


class AcceptedEvent(msgspec.Struct, frozen=True):
    """An event the events domain accepted, as event triggers read it."""

    id: str  # the event's stable id: the dedupe key of the occurrences it raises
    name: str
    profile_id: UUID
    occurred_at: dt.datetime
    properties: dict[str, Any] = {}


# Occurrences -----------------------------------------------------------------------------------


async def raise_many(
    session: AsyncSession, tenant: TenantId, occurrences: Sequence[NewOccurrence]
) -> list[UUID]:
    """Store the occurrences not stored yet (by type and dedupe key) and publish the new ones;
    the ids of the new ones."""
    inserted = await repository.insert_occurrences(session, tenant, occurrences)
    for start in range(0, len(inserted), repository.INSERT_CHUNK):
        chunk = inserted[start : start + repository.INSERT_CHUNK]
        await enqueue(session, PUBLISH_TASK, tenant=tenant, occurrence_ids=[str(i) for i in chunk])
    return inserted


async def raise_trigger(
    session: AsyncSession,
    tenant: TenantId,
    *,
    profile_id: UUID,
    type: str,
    dedupe_key: str,
    occurred_at: dt.datetime,
    payload: dict[str, Any],
) -> TriggerOccurrence | None:
    """Raise a trigger for a profile: stored once per (type, dedupe key) and published after
    commit; None when it was already raised."""
    errors = FieldErrors()
    if not 0 < len(type) <= MAX_TYPE_LENGTH:
        errors.add("type", f"expected 1 to {MAX_TYPE_LENGTH} characters")
    if not 0 < len(dedupe_key) <= MAX_DEDUPE_KEY_LENGTH:
        errors.add("dedupeKey", f"expected 1 to {MAX_DEDUPE_KEY_LENGTH} characters")
    if occurred_at.tzinfo is None:
        errors.add("occurredAt", "expected a date and time with its UTC offset")
    errors.raise_if_any()
    occurrence = NewOccurrence(profile_id, type, dedupe_key, occurred_at, payload)
    inserted = await raise_many(session, tenant, [occurrence])
    if not inserted:
        return None
    return (await repository.occurrences_by_ids(session, inserted))[0]


async def list_occurrences(
    session: AsyncSession,
    page: PageRequest,
    *,
    type: str | None = None,
    profile_id: UUID | None = None,
    occurred_from: dt.datetime | None = None,
    occurred_until: dt.datetime | None = None,
) -> tuple[list[TriggerOccurrence], str | None]:
    """The brand's occurrences in the order they were raised, filtered; ``occurred_from`` is
    inclusive and ``occurred_until`` exclusive."""
    errors = FieldErrors()
    for name, value in (("occurredFrom", occurred_from), ("occurredUntil", occurred_until)):
        if value is not None and value.tzinfo is None:
            errors.add(name, "expected a date and time with its UTC offset")
    errors.raise_if_any()
    if occurred_from and occurred_until and occurred_from >= occurred_until:
        raise InvalidInput(
            "occurredFrom must come before occurredUntil", errors=[{"field": "occurredUntil"}]
        )
    return await repository.list_occurrences(
        session,
        page,
        type=type,
        profile_id=profile_id,
        occurred_from=occurred_from,
        occurred_until=occurred_until,
    )


async def list_profile_occurrences(
    session: AsyncSession, profile_id: UUID, page: PageRequest, *, type: str | None = None
) -> tuple[list[TriggerOccurrence], str | None]:
    """One profile's occurrences (a merged id answers with the survivor, as profiles do)."""
    profile = await profile_service.get_profile(session, profile_id)
    return await repository.list_occurrences(session, page, type=type, profile_id=profile.id)


async def occurrences_by_ids(session: AsyncSession, ids: Sequence[UUID]) -> list[TriggerOccurrence]:
    return await repository.occurrences_by_ids(session, ids)


# Definitions -----------------------------------------------------------------------------------


def settings_of(definition: TriggerDefinition) -> TriggerSettings:
    """The stored settings as the API shows them."""
    return TriggerSettings.of(definition)


def _given_settings(data: TriggerCreate) -> TriggerSettings:
    return TriggerSettings(**{name: getattr(data, name) for name in _WIRE_NAMES})


async def _checked_settings(
    session: AsyncSession, kind: TriggerKind, given: TriggerSettings
) -> dict[str, Any]:
    """The settings as stored for ``kind``; each violation names its (wire) field."""
    errors = FieldErrors()
    values = msgspec.structs.asdict(given)
    allowed = SETTINGS_OF_KIND[kind]
    for name, value in values.items():
        if value is not None and name not in allowed:
            errors.add(_WIRE_NAMES[name], f"not a setting of a {kind.value} trigger")
    stored: dict[str, Any] = {}
    if kind is TriggerKind.EVENT:
        name = (given.event_name or "").strip()
        if not 0 < len(name) <= 100:
            errors.add("eventName", "expected the event's name (1 to 100 characters)")
        stored = {"event_name": name, "property_equals": dict(given.property_equals or {})}
    elif kind is TriggerKind.DATE_ATTRIBUTE:
        await _check_date_settings(session, given, errors)
        local_time = given.local_time or DEFAULT_LOCAL_TIME
        stored = {
            "date_field": given.date_field,
            "offset_days": given.offset_days or 0,
            "local_time": local_time.replace(tzinfo=None).isoformat(),
            "yearly": bool(given.yearly),
        }
    elif kind is TriggerKind.INACTIVITY:
        days = given.inactivity_days
        if days is None or not 1 <= days <= MAX_INACTIVITY_DAYS:
            errors.add(
                "inactivityDays", f"expected a number of days from 1 to {MAX_INACTIVITY_DAYS}"
            )
        stored = {"inactivity_days": days}
    elif kind is TriggerKind.PROFILE_CHANGE:
        await _check_changed_field(session, given.changed_field, errors)
        stored = {"changed_field": given.changed_field, "changed_to": given.changed_to}
    else:
        minutes = given.delay_minutes
        if minutes is None or not 1 <= minutes <= MAX_CART_DELAY_MINUTES:
            errors.add(
                "delayMinutes", f"expected a number of minutes from 1 to {MAX_CART_DELAY_MINUTES}"
            )
        stored = {"delay_minutes": minutes}
    errors.raise_if_any()
    return stored


async def _check_changed_field(
    session: AsyncSession, field: str | None, errors: FieldErrors
) -> None:
    if field is None:
        errors.add("changedField", "expected the profile field or attributes.<key> to watch")
    elif field.startswith(ATTRIBUTES):
        defined = await profile_attributes.definitions(session)
        if field.removeprefix(ATTRIBUTES) not in defined:
            errors.add("changedField", "unknown attribute")
    elif field not in PROFILE_FIELDS:
        errors.add(
            "changedField", f"expected one of {', '.join(PROFILE_FIELDS)}, or attributes.<key>"
        )


async def _check_date_settings(
    session: AsyncSession, given: TriggerSettings, errors: FieldErrors
) -> None:
    field_type = AttributeType.DATE
    if not given.date_field:
        errors.add("dateField", "expected birth_date or a date attribute's key")
    elif given.date_field != BIRTH_DATE:
        definition = (await profile_attributes.definitions(session)).get(given.date_field)
        if definition is None:
            errors.add("dateField", f"no profile attribute {given.date_field!r}")
        elif definition.type not in (AttributeType.DATE, AttributeType.DATETIME):
            errors.add("dateField", f"attribute {given.date_field!r} is not a date")
        else:
            field_type = definition.type
    offset = given.offset_days or 0
    if not -MAX_OFFSET_DAYS <= offset <= MAX_OFFSET_DAYS:
        errors.add("offsetDays", f"expected {-MAX_OFFSET_DAYS} to {MAX_OFFSET_DAYS} days")
    if given.local_time is not None and given.local_time.tzinfo is not None:
        errors.add("localTime", "expected a local time of day, without UTC offset")
    if given.yearly and field_type is AttributeType.DATETIME:
        errors.add("yearly", "only a date (not a date and time) recurs every year")


async def list_definitions(
    session: AsyncSession, page: PageRequest
) -> tuple[list[TriggerDefinition], str | None]:
    return await repository.list_definitions(session, page)


async def count_definitions(session: AsyncSession) -> int:
    return await repository.count_definitions(session)


async def get_definition(session: AsyncSession, definition_id: UUID) -> TriggerDefinition:
    definition = await repository.get_definition(session, definition_id)
    if definition is None:
        raise NotFound("trigger not found")
    return definition


async def definition_by_key(session: AsyncSession, key: str) -> TriggerDefinition | None:
    """The brand's definition of this key (the type of its occurrences), if any."""
    return await repository.definition_by_key(session, key)


async def create_definition(
    session: AsyncSession, data: TriggerCreate, *, now: dt.datetime | None = None
) -> TriggerDefinition:
    """Define a trigger; a scheduled one (date, inactivity) is scanned from ``now`` on."""
    settings = await _checked_settings(session, data.kind, _given_settings(data))
    if await repository.definition_by_key(session, data.key) is not None:
        raise Conflict(f"a trigger {data.key!r} exists", errors=[{"field": "key"}])
    definition = TriggerDefinition(
        key=data.key, label=data.label, kind=data.kind, enabled=data.enabled, settings=settings
    )
    session.add(definition)
    await session.flush()
    if data.kind in SCANNED_KINDS:
        session.add(TriggerWatermark(definition_id=definition.id, scanned_until=now or utcnow()))
        await session.flush()
    return definition


async def update_definition(
    session: AsyncSession,
    definition_id: UUID,
    data: TriggerUpdate,
    *,
    now: dt.datetime | None = None,
) -> TriggerDefinition:
    """Change a trigger's label, switch it on or off, or change its settings. Switched back on,
    a scheduled trigger is scanned from then (what fell due while off is not raised)."""
    definition = await get_definition(session, definition_id)
    changes = {
        name: getattr(data, name)
        for name in _WIRE_NAMES
        if getattr(data, name) is not msgspec.UNSET
    }
    merged = msgspec.structs.replace(settings_of(definition), **changes)
    definition.settings = await _checked_settings(session, definition.kind, merged)
    if data.label is not msgspec.UNSET:
        definition.label = data.label
    if data.enabled is not msgspec.UNSET:
        if data.enabled and not definition.enabled and definition.kind in SCANNED_KINDS:
            watermark = await session.get(TriggerWatermark, (definition.tenant_id, definition.id))
            if watermark is not None:
                watermark.scanned_until = now or utcnow()
        definition.enabled = data.enabled
    await session.flush()
    return definition


async def delete_definition(session: AsyncSession, definition_id: UUID) -> None:
    """Delete the definition (its watermark goes with it); its occurrences stay as history."""
    definition = await get_definition(session, definition_id)
    await session.delete(definition)
    await session.flush()


# Events ----------------------------------------------------------------------------------------


watch_config_tables("trigger_definitions")


@dataclass(frozen=True)
class EnabledDefinition:
    """What the hot paths need of an enabled definition (kept by the configuration cache)."""

    id: UUID
    key: str
    settings: Mapping[str, Any]


async def enabled_definitions(
    session: AsyncSession, kind: TriggerKind
) -> tuple[EnabledDefinition, ...]:
    """The brand's enabled definitions of ``kind``: read on every accepted event and profile
    write, so kept by the configuration cache."""

    async def load() -> tuple[EnabledDefinition, ...]:
        rows = await repository.enabled_definitions(session, kind)
        return tuple(EnabledDefinition(d.id, d.key, dict(d.settings or {})) for d in rows)

    return await cached(session, (session_tenant(session), "trigger_definitions", kind), load)


def _equal(expected: Any, actual: Any) -> bool:
    # true is not 1: a boolean only equals a boolean.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    return bool(expected == actual)


def _matches(definition: EnabledDefinition, event: AcceptedEvent) -> bool:
    settings = definition.settings or {}
    if settings.get("event_name") != event.name:
        return False
    wanted: dict[str, Any] = settings.get("property_equals") or {}
    return all(
        name in event.properties and _equal(value, event.properties[name])
        for name, value in wanted.items()
    )


async def on_events_accepted(
    session: AsyncSession, tenant: TenantId, events: Sequence[AcceptedEvent]
) -> list[UUID]:
    """Raise the event triggers the accepted events match (dedupe key: the event id, so a
    re-sent event raises nothing new); the ids of the new occurrences."""
    if not events:
        return []
    definitions = await enabled_definitions(session, TriggerKind.EVENT)
    occurrences = [
        NewOccurrence(
            profile_id=event.profile_id,
            type=definition.key,
            dedupe_key=event.id,
            occurred_at=event.occurred_at,
            payload={
                "eventId": event.id,
                "eventName": event.name,
                "properties": dict(event.properties),
            },
        )
        for event in events
        for definition in definitions
        if _matches(definition, event)
    ]
    return await raise_many(session, tenant, occurrences)


async def on_profile_changed(
    session: AsyncSession,
    tenant: TenantId,
    profile: Profile,
    changed: frozenset[str],
    *,
    now: dt.datetime | None = None,
) -> list[UUID]:
    """Raise the profile_change triggers a write matches: the watched field is among the
    ``changed`` ones (stored names; ``attributes.<key>`` for attributes) and, when the trigger
    names a value, now holds it. Each change is its own occurrence."""
    if not changed:
        return []
    definitions = await enabled_definitions(session, TriggerKind.PROFILE_CHANGE)
    at = now or utcnow()
    occurrences: list[NewOccurrence] = []
    for definition in definitions:
        field = str(definition.settings["changed_field"])
        stored = PROFILE_FIELDS.get(field, field)
        if stored not in changed:
            continue
        if stored.startswith(ATTRIBUTES):
            value = (profile.attributes or {}).get(stored.removeprefix(ATTRIBUTES))
        else:
            value = getattr(profile, stored)
        if isinstance(value, dt.date):
            value = value.isoformat()
        wanted = definition.settings.get("changed_to")
        if wanted is not None and value != wanted:
            continue
        occurrences.append(
            NewOccurrence(
                profile_id=profile.id,
                type=definition.key,
                dedupe_key=f"{profile.id}:{field}:{new_id()}",  # every change counts once
                occurred_at=at,
                payload={"field": field, "value": value},
            )
        )
    return await raise_many(session, tenant, occurrences)


# Carts -----------------------------------------------------------------------------------------


def _cart_due_key(tenant: TenantId, definition_id: UUID, cart_id: str, at: dt.datetime) -> str:
    # Hashed: due keys are platform-wide and bounded in length, cart ids are the brand's.
    raw = f"{tenant}|{definition_id}|{cart_id}|{at.astimezone(dt.UTC).isoformat()}"
    return "triggers.cart:" + hashlib.sha256(raw.encode()).hexdigest()


async def _cancel_cart_checks(session: AsyncSession, tenant: TenantId, cart: TriggerCart) -> None:
    definitions = await enabled_definitions(session, TriggerKind.ABANDONED_CART)
    keys = [_cart_due_key(tenant, d.id, cart.cart_id, cart.cart_updated_at) for d in definitions]
    await due_work.cancel_scheduled(session, keys)


async def cart_updated(
    session: AsyncSession,
    tenant: TenantId,
    *,
    profile_id: UUID,
    cart_id: str,
    updated_at: dt.datetime,
) -> None:
    """A profile's cart changed: each abandoned-cart trigger is checked ``delay`` after this
    update (the checks of the previous update are dropped). An update older than the one known
    changes nothing (events may arrive out of order)."""
    if updated_at.tzinfo is None:
        raise InvalidInput("expected an aware date and time", errors=[{"field": "updatedAt"}])
    cart = await repository.get_cart(session, cart_id)
    if cart is not None:
        if cart.cart_updated_at >= updated_at:
            return
        await _cancel_cart_checks(session, tenant, cart)
        cart.profile_id = profile_id
        cart.cart_updated_at = updated_at
    else:
        session.add(TriggerCart(cart_id=cart_id, profile_id=profile_id, cart_updated_at=updated_at))
    await session.flush()
    for definition in await enabled_definitions(session, TriggerKind.ABANDONED_CART):
        delay = dt.timedelta(minutes=int(definition.settings["delay_minutes"]))
        await due_work.schedule(
            session,
            ABANDONED_CART_TASK,
            updated_at + delay,
            tenant=tenant,
            dedupe_key=_cart_due_key(tenant, definition.id, cart_id, updated_at),
            definition_id=str(definition.id),
            cart_id=cart_id,
            cart_updated_at=updated_at.astimezone(dt.UTC).isoformat(),
        )


async def cart_closed(
    session: AsyncSession, tenant: TenantId, *, profile_id: UUID, cart_id: str
) -> None:
    """The cart was converted (ordered) or cleared: its pending checks are dropped."""
    cart = await repository.get_cart(session, cart_id)
    if cart is None:
        return
    await _cancel_cart_checks(session, tenant, cart)
    await session.delete(cart)
    await session.flush()


async def profile_carts_closed(
    session: AsyncSession, tenant: TenantId, *, profile_id: UUID
) -> None:
    """Every cart of the profile was converted (an order naming no cart): no checks remain."""
    for cart in await repository.carts_of_profile(session, profile_id):
        await _cancel_cart_checks(session, tenant, cart)
        await session.delete(cart)
    await session.flush()


async def check_abandoned_cart(
    session: AsyncSession,
    tenant: TenantId,
    *,
    definition_id: UUID,
    cart_id: str,
    cart_updated_at: dt.datetime,
) -> TriggerOccurrence | None:
    """The delay after a cart update ran out: raise the trigger unless the cart was updated
    since or closed (dedupe key: cart id and update time)."""
    cart = await repository.get_cart(session, cart_id)
    if cart is None or cart.cart_updated_at != cart_updated_at:
        return None
    definition = await repository.get_definition(session, definition_id)
    if definition is None or not definition.enabled:
        return None
    if definition.kind is not TriggerKind.ABANDONED_CART:
        return None
    delay = dt.timedelta(minutes=int(definition.settings["delay_minutes"]))
    at = cart_updated_at.astimezone(dt.UTC).isoformat()
    return await raise_trigger(
        session,
        tenant,
        profile_id=cart.profile_id,
        type=definition.key,
        dedupe_key=f"{cart_id}:{at}",
        occurred_at=cart_updated_at + delay,
        payload={"cartId": cart_id, "cartUpdatedAt": at},
    )


# Profiles --------------------------------------------------------------------------------------


async def follow_merge(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    """The merged profile's occurrences and carts move to the survivor."""
    await repository.repoint_profile_rows(session, merged_id, survivor_id)


async def forget_profile(session: AsyncSession, tenant: TenantId, profile_id: UUID) -> None:
    """An erased profile's occurrences and carts go with it."""
    await repository.delete_profile_rows(session, profile_id)


def connect(signals: Signals) -> None:
    """Connect the occurrences' receivers: occurrences and carts follow their profile."""
    signals.connect(profile_service.PROFILE_MERGED, follow_merge)
    signals.connect(profile_service.PROFILE_DELETED, forget_profile)
