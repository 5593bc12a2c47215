"""Event ingestion, event types, ingestion settings, reading, and live carts. Services never commit.

:func:`ingest` is the one way events come in (REST, GraphQL, partner connectors): each event is
accepted, acknowledged as a duplicate of one stored under the same ``event_id``, or rejected with
its reason, and one bad event never sinks the others. The accepted events are stored in one
set-based insert and sent with :data:`EVENTS_ACCEPTED` (triggers plug in
there), in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

import jsonschema
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import dialect_of, start_as_writer, utcnow
from backend.core.edge import NUL_ESCAPE, nul_field, nul_refusal
from backend.core.errors import Conflict, InvalidInput, LevierError, NotFound
from backend.core.ids import new_id
from backend.core.pagination import PageRequest
from backend.core.read_cache import cached, watch_config_tables
from backend.core.signals import Signal, Signals, signals
from backend.core.tenancy import TenantId, session_tenant
from backend.events import commerce, repository
from backend.events.models import (
    DEFAULT_MAX_FUTURE_SKEW_SECONDS,
    Cart,
    Event,
    EventSettings,
    EventType,
)
from backend.events.schemas import (
    MAX_BATCH,
    EventIn,
    EventSettingsUpdate,
    EventTypeCreate,
    EventTypeUpdate,
    Outcome,
)
from backend.profiles import lookup
from backend.profiles import service as profiles_service
from backend.profiles.fields import (
    FieldErrors,
    normalise_email,
    normalise_phone,
    region_of_locale,
    valid_source,
)
from backend.profiles.schemas import ExternalId, ProfileCreate, WriteMode
from backend.tenancy import service as tenancy_service

EMAIL, PHONE, EXTERNAL = lookup.EMAIL, lookup.PHONE, lookup.EXTERNAL

watch_config_tables("event_settings", "event_types")

API_SOURCE = "api"  # the source of events sent through the API (REST or GraphQL)


class BatchTooLarge(LevierError):
    status, slug, title = 413, "payload-too-large", "Batch too large"


@dataclass(frozen=True)
class AcceptedEvent:
    """An event stored by this ingestion (not a duplicate): what later steps act upon."""

    id: UUID
    event_id: str
    name: str
    profile_id: UUID
    occurred_at: dt.datetime
    properties: dict[str, Any]
    source: str


@dataclass
class EventOutcome:
    """What became of the event at ``index`` of an ingestion."""

    index: int
    event_id: str | None
    outcome: Outcome
    id: UUID | None = None
    profile_id: UUID | None = None
    reason: str | None = None
    errors: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class IngestSettings:
    create_unknown_profiles: bool = True
    require_declared_types: bool = False
    max_future_skew_seconds: int = DEFAULT_MAX_FUTURE_SKEW_SECONDS


# (session, tenant, accepted events): sent after the events are stored, in their transaction
# (e.g. raising triggers).
EVENTS_ACCEPTED: Signal[[AsyncSession, TenantId, Sequence[AcceptedEvent]]] = Signal(
    "events_accepted"
)


def cart_changes(events: Sequence[AcceptedEvent]) -> list[commerce.CartChange]:
    """What accepted events did to carts (``cart_updated``, ``cart_cleared``, and
    ``order_completed`` converting a cart), in the events' order."""
    changes = [
        commerce.cart_change(event.name, event.profile_id, event.occurred_at, event.properties)
        for event in events
    ]
    return [change for change in changes if change is not None]


# Settings --------------------------------------------------------------------------------------


async def get_settings(session: AsyncSession) -> IngestSettings:
    """The brand's ingestion settings (kept by the configuration cache: read on every event)."""

    async def load() -> IngestSettings:
        row = await repository.get_settings(session)
        if row is None:
            return IngestSettings()
        return IngestSettings(
            row.create_unknown_profiles, row.require_declared_types, row.max_future_skew_seconds
        )

    return await cached(session, (session_tenant(session), "event_settings"), load)


async def declared_schemas(session: AsyncSession) -> Mapping[str, str]:
    """Each declared event type's property schema as canonical JSON text (``""``: none), by
    name; kept by the configuration cache, as ingestion reads it on every event."""

    async def load() -> Mapping[str, str]:
        schemas = {
            t.name: json.dumps(t.properties_schema, sort_keys=True) if t.properties_schema else ""
            for t in await repository.all_event_types(session)
        }
        return MappingProxyType(schemas)

    return await cached(session, (session_tenant(session), "event_types"), load)


async def update_settings(session: AsyncSession, data: EventSettingsUpdate) -> IngestSettings:
    row = await repository.get_settings(session)
    if row is None:
        defaults = IngestSettings()
        row = EventSettings(
            create_unknown_profiles=defaults.create_unknown_profiles,
            require_declared_types=defaults.require_declared_types,
            max_future_skew_seconds=defaults.max_future_skew_seconds,
        )
        session.add(row)
    for name in ("create_unknown_profiles", "require_declared_types", "max_future_skew_seconds"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            setattr(row, name, value)
    await session.flush()
    return await get_settings(session)


# Event types -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    # Keyed by the schema's text: compiled once per process, whichever brand declared it.
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def _schema_errors(schema: dict[str, Any], field_name: str) -> list[dict[str, Any]]:
    if not schema:
        return []
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [{"field": field_name, "message": f"not a valid JSON Schema: {exc.message}"}]
    return []


def property_errors(schema_json: str, properties: dict[str, Any]) -> list[dict[str, Any]]:
    """The violations of ``properties`` against a type's schema (its JSON text, ``""`` for
    none), each naming its path."""
    if not schema_json:
        return []
    validator = _validator(schema_json)
    errors = []
    for error in sorted(validator.iter_errors(properties), key=lambda e: list(e.absolute_path)):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        errors.append({"field": f"properties{path}", "message": error.message})
    return errors


async def list_event_types(
    session: AsyncSession, page: PageRequest
) -> tuple[list[EventType], str | None]:
    return await repository.list_event_types(session, page)


async def count_event_types(session: AsyncSession) -> int:
    return await repository.count_event_types(session)


async def get_event_type_by_id(session: AsyncSession, type_id: UUID) -> EventType:
    event_type = await repository.event_type_by_id(session, type_id)
    if event_type is None:
        raise NotFound("no such event type")
    return event_type


async def get_event_type(session: AsyncSession, name: str) -> EventType:
    event_type = await repository.event_type_by_name(session, name)
    if event_type is None:
        raise NotFound(f"no event type {name!r}", errors=[{"field": "name"}])
    return event_type


async def create_event_type(session: AsyncSession, data: EventTypeCreate) -> EventType:
    """Declare an event name and the JSON Schema its properties must satisfy."""
    errors = _schema_errors(data.properties_schema, "propertiesSchema")
    if errors:
        raise InvalidInput("the properties schema is not valid", errors=errors)
    if await repository.event_type_by_name(session, data.name) is not None:
        raise Conflict(f"event type {data.name!r} exists", errors=[{"field": "name"}])
    event_type = EventType(
        name=data.name, description=data.description, properties_schema=data.properties_schema
    )
    session.add(event_type)
    await session.flush()
    return event_type


async def update_event_type(session: AsyncSession, name: str, data: EventTypeUpdate) -> EventType:
    """Change the description or the schema; stored events are not checked again."""
    event_type = await get_event_type(session, name)
    if data.properties_schema is not msgspec.UNSET:
        errors = _schema_errors(data.properties_schema, "propertiesSchema")
        if errors:
            raise InvalidInput("the properties schema is not valid", errors=errors)
        event_type.properties_schema = data.properties_schema
    if data.description is not msgspec.UNSET:
        event_type.description = data.description
    await session.flush()
    return event_type


async def delete_event_type(session: AsyncSession, name: str) -> None:
    """Forget the declaration; the events of that name stay."""
    await session.delete(await get_event_type(session, name))
    await session.flush()


# Ingestion -------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """An event being ingested, once its own fields are valid."""

    index: int
    data: EventIn
    occurred_at: dt.datetime
    keys: list[tuple[str, str]] = field(default_factory=list)
    profile_id: UUID | None = None


def decode_batch(body: bytes) -> tuple[list[EventIn | EventOutcome], int]:
    """The events of a batch body, each decoded on its own (a malformed one becomes a rejected
    outcome), and their count. Raises 413 past :data:`MAX_BATCH` and 422 for a body that is not a
    batch at all."""
    try:
        raw = msgspec.json.decode(body, type=_RawBatch)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not a batch of events: {exc}") from None
    if len(raw.events) > MAX_BATCH:
        raise BatchTooLarge(
            f"a batch holds at most {MAX_BATCH} events, this one {len(raw.events)}",
            errors=[{"field": "events", "message": f"at most {MAX_BATCH} events"}],
        )
    decoded: list[EventIn | EventOutcome] = []
    may_hold_nul = NUL_ESCAPE in body
    for index, item in enumerate(raw.events):
        try:
            event = msgspec.json.decode(item, type=EventIn)
        except msgspec.DecodeError as exc:
            decoded.append(_malformed(index, item, str(exc)))
            continue
        # The edge's NUL rule, judged per event here so that one bad event sinks no other.
        field = None
        if may_hold_nul and NUL_ESCAPE in bytes(item):
            field = nul_field(msgspec.json.decode(item))
        if field is not None:
            decoded.append(_refused(index, event.event_id, nul_refusal(field)))
        else:
            decoded.append(event)
    return decoded, len(raw.events)


def _refused(index: int, event_id: str | None, error: InvalidInput) -> EventOutcome:
    return EventOutcome(index, event_id, Outcome.REJECTED, reason=error.detail, errors=error.errors)


class _RawBatch(msgspec.Struct):
    events: list[msgspec.Raw]


class _EventIdOnly(msgspec.Struct, rename="camel"):
    event_id: str | None = None


def _malformed(index: int, item: msgspec.Raw, message: str) -> EventOutcome:
    try:
        event_id = msgspec.json.decode(item, type=_EventIdOnly).event_id
    except msgspec.DecodeError:
        event_id = None
    return EventOutcome(
        index,
        event_id,
        Outcome.REJECTED,
        reason="the event is malformed",
        errors=[{"field": _field_of(message), "message": message}],
    )


def _field_of(message: str) -> str:
    """The wire name of the field a msgspec error names (``$.externalId.source`` →
    ``externalId.source``; a missing or unknown field by its name)."""
    path = _AT_PATH.search(message)
    named = _NAMED_FIELD.search(message)
    prefix = path.group(1) if path else ""
    if named:
        return f"{prefix}.{named.group(1)}" if prefix else named.group(1)
    return prefix or "event"


_AT_PATH = re.compile(r"at `\$\.([^`]+)`")
_NAMED_FIELD = re.compile(r"(?:missing required|contains unknown) field `([^`]+)`")


async def ingest_decoded(
    session: AsyncSession,
    tenant: TenantId,
    decoded: Sequence[EventIn | EventOutcome],
    *,
    source: str,
) -> list[EventOutcome]:
    """:func:`ingest` the well-formed events of a decoded batch; outcomes in batch order."""
    events = [e for e in decoded if isinstance(e, EventIn)]
    positions = [i for i, e in enumerate(decoded) if isinstance(e, EventIn)]
    outcomes = [e for e in decoded if isinstance(e, EventOutcome)]
    for outcome in await ingest(session, tenant, events, source=source):
        outcome.index = positions[outcome.index]
        outcomes.append(outcome)
    return sorted(outcomes, key=lambda o: o.index)


async def ingest(
    session: AsyncSession,
    tenant: TenantId,
    events: Sequence[EventIn],
    *,
    source: str,
    platform: bool = False,
) -> list[EventOutcome]:
    """Store the events (once each per ``event_id``) and answer one outcome per event, in order.

    ``platform``: events Levier itself records (a message sent, opened…): a brand accepting
    declared types only still gets them (it cannot be asked to declare our names); a schema it
    declared for one of them still applies.

    A rejected event stores nothing; an accepted one is stored with its profile resolved (a
    merged id resolves to the survivor; unknown identity keys create a profile when the brand's
    settings allow it), standard commerce events update orders and carts, and the hooks of
    :data:`EVENTS_ACCEPTED` receivers run on the accepted events.
    """
    if len(events) > MAX_BATCH:
        raise BatchTooLarge(f"at most {MAX_BATCH} events at once")
    now = utcnow()
    outcomes: dict[int, EventOutcome] = {}
    settings = await get_settings(session)
    skew = dt.timedelta(seconds=settings.max_future_skew_seconds)

    def reject(index: int, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        outcomes[index] = EventOutcome(
            index, events[index].event_id, Outcome.REJECTED, reason=reason, errors=errors
        )

    # 1. Each event's own fields; a second event with an event id seen earlier is a duplicate.
    region: str | None = None
    if any(e.phone for e in events):
        region = region_of_locale((await tenancy_service.get_brand(session, tenant)).locale)
    pending: list[_Pending] = []
    first_of: dict[str, int] = {}
    repeats: list[int] = []
    for index, data in enumerate(events):
        if data.event_id in first_of:
            repeats.append(index)
            continue
        first_of[data.event_id] = index
        item = _check_fields(index, data, now, skew, region, reject)
        if item is not None:
            pending.append(item)

    def duplicate(index: int, stored: tuple[UUID, UUID]) -> None:
        outcomes[index] = EventOutcome(
            index, events[index].event_id, Outcome.DUPLICATE, id=stored[0], profile_id=stored[1]
        )

    # 2. Declared types and property schemas; standard commerce properties.
    fresh = await _check_types(session, pending, settings, reject, platform=platform)

    # 3. Profiles. An event stored earlier is found by the insert's conflict, not by a read
    #    first (one round trip fewer for new events), except before creating a profile for it.
    fresh = await _resolve_profiles(session, tenant, fresh, settings, reject, duplicate)

    # 4. One set-based insert; an event id stored already (re-sent, or by a concurrent request)
    #    is skipped, and acknowledged as a duplicate.
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": tenant,
            "id": new_id(),
            "event_id": item.data.event_id,
            "name": item.data.name,
            "profile_id": item.profile_id,
            "occurred_at": item.occurred_at,
            "created_at": now,
            "updated_at": now,
            "source": source,
            "properties": item.data.properties,
        }
        for item in fresh
    ]
    inserted = await repository.insert_events(session, rows)
    accepted: list[AcceptedEvent] = []
    lost: list[_Pending] = []
    for item, row in zip(fresh, rows, strict=True):
        if item.data.event_id not in inserted:
            lost.append(item)
            continue
        assert item.profile_id is not None
        accepted.append(
            AcceptedEvent(
                row["id"],
                item.data.event_id,
                item.data.name,
                item.profile_id,
                item.occurred_at,
                item.data.properties,
                source,
            )
        )
        outcomes[item.index] = EventOutcome(
            item.index,
            item.data.event_id,
            Outcome.ACCEPTED,
            id=row["id"],
            profile_id=item.profile_id,
        )
    if lost:
        stored = await repository.stored_events(session, [i.data.event_id for i in lost])
        for item in lost:
            duplicate(item.index, stored[item.data.event_id])
    # A re-sent event is acknowledged even if it would not pass the checks today.
    refused = [o for o in outcomes.values() if o.outcome is Outcome.REJECTED]
    if refused:
        stored = await repository.stored_events(session, [o.event_id or "" for o in refused])
        for outcome in refused:
            if outcome.event_id is not None and outcome.event_id in stored:
                duplicate(outcome.index, stored[outcome.event_id])

    # 5. What stored events change elsewhere.
    for event in accepted:
        await commerce.apply(
            session, event.name, event.profile_id, event.occurred_at, event.properties
        )
    if accepted:
        await signals.send(EVENTS_ACCEPTED, session, tenant, accepted)

    for index in repeats:
        first = outcomes[first_of[events[index].event_id]]
        if first.outcome is Outcome.REJECTED:
            outcomes[index] = EventOutcome(
                index, first.event_id, Outcome.REJECTED, reason=first.reason, errors=first.errors
            )
        else:
            outcomes[index] = EventOutcome(
                index, first.event_id, Outcome.DUPLICATE, id=first.id, profile_id=first.profile_id
            )
    return [outcomes[i] for i in range(len(events))]


def _check_fields(
    index: int,
    data: EventIn,
    now: dt.datetime,
    skew: dt.timedelta,
    region: str | None,
    reject: Callable[[int, str, list[dict[str, Any]] | None], None],
) -> _Pending | None:
    errors = FieldErrors()
    occurred_at = data.occurred_at or now
    if occurred_at.tzinfo is None:
        errors.add("occurredAt", "expected a date and time with its UTC offset")
    elif occurred_at > now + skew:
        errors.add("occurredAt", f"more than {int(skew.total_seconds())} s in the future")
    keys: list[tuple[str, str]] = []
    if data.email is not None:
        email = normalise_email(data.email)
        if email is None:
            errors.add("email", "not a valid email address")
        else:
            keys.append((EMAIL, email))
    if data.phone is not None:
        phone = normalise_phone(data.phone, region)
        if phone is None:
            errors.add("phone", "not a valid phone number")
        else:
            keys.append((PHONE, phone))
    if data.external_id is not None:
        if not valid_source(data.external_id.source):
            errors.add("externalId.source", "not a valid source name")
        else:
            keys.append((EXTERNAL + data.external_id.source, data.external_id.id))
    if data.profile_id is None and not keys and not errors.errors:
        errors.add("profileId", "name the profile: profileId, email, phone or externalId")
    errors.errors.extend(commerce.check(data.name, data.properties))
    if errors.errors:
        fields = ", ".join(e["field"] for e in errors.errors)
        reject(index, f"invalid value for {fields}", errors.errors)
        return None
    return _Pending(index, data, occurred_at, keys)


async def _check_types(
    session: AsyncSession,
    items: list[_Pending],
    settings: IngestSettings,
    reject: Callable[[int, str, list[dict[str, Any]] | None], None],
    *,
    platform: bool,
) -> list[_Pending]:
    schemas = await declared_schemas(session) if items else {}
    kept = []
    for item in items:
        schema_json = schemas.get(item.data.name)
        if schema_json is None:
            if settings.require_declared_types and not platform:
                reject(
                    item.index,
                    f"event type {item.data.name!r} is not declared, and the brand accepts "
                    "declared types only",
                    [{"field": "name", "message": "undeclared event type"}],
                )
                continue
        else:
            errors = property_errors(schema_json, item.data.properties)
            if errors:
                reject(item.index, f"properties do not match {item.data.name!r}", errors)
                continue
        kept.append(item)
    return kept


async def _resolve_profiles(
    session: AsyncSession,
    tenant: TenantId,
    items: list[_Pending],
    settings: IngestSettings,
    reject: Callable[[int, str, list[dict[str, Any]] | None], None],
    duplicate: Callable[[int, tuple[UUID, UUID]], None],
) -> list[_Pending]:
    """Set each item's profile: by id (a merged id resolves to the survivor), or by identity
    keys; unknown keys create a profile (an upsert, merging when keys point to several) when the
    brand allows it, unless the event is stored already (a duplicate). Rejects the items that
    name no profile."""
    by_keys = [i for i in items if i.data.profile_id is None]
    owners = await lookup.owners_of_keys(session, [k for i in by_keys for k in i.keys])
    rejected: set[int] = set()

    def resolved_by_keys(item: _Pending) -> bool:
        found = {owners[k] for k in item.keys if k in owners}
        return len(found) == 1 and all(k in owners for k in item.keys)

    if settings.create_unknown_profiles:
        # A re-sent event must not create a profile its first sending did not need (the keys
        # may have moved since): such events are found stored before any upsert.
        upserting = [i for i in by_keys if not resolved_by_keys(i)]
        stored = await repository.stored_events(session, [i.data.event_id for i in upserting])
        for item in upserting:
            if item.data.event_id in stored:
                rejected.add(item.index)
                duplicate(item.index, stored[item.data.event_id])
        by_keys = [i for i in by_keys if i.index not in rejected]

    def refuse(item: _Pending, reason: str, errors: list[dict[str, Any]] | None) -> None:
        rejected.add(item.index)
        reject(item.index, reason, errors)

    upserted = False
    locked = False
    for item in by_keys:
        found = {owners[k] for k in item.keys if k in owners}
        complete = all(k in owners for k in item.keys)
        if len(found) == 1 and (complete or not settings.create_unknown_profiles):
            item.profile_id = found.pop()
            continue
        if not settings.create_unknown_profiles:
            reason = (
                "the identity keys point to several profiles"
                if found
                else "no profile has these identity keys, and the brand does not create "
                "profiles from events"
            )
            refuse(item, reason, [{"field": f, "message": reason} for f in _fields(item)])
            continue
        if not locked:
            await start_as_writer(session, "profiles")
            locked = True
        try:
            async with session.begin_nested():
                profile, _ = await profiles_service.create_profile(
                    session, tenant, _profile_of(item), WriteMode.UPSERT
                )
        except LevierError as exc:
            refuse(item, exc.detail or exc.title, exc.errors)
            continue
        upserted = True
        item.profile_id = profile.id
        for key in item.keys:
            owners[key] = profile.id

    kept = [i for i in items if i.index not in rejected]
    # Named by id, or resolved before an upsert merged its profile away: check they exist.
    checked = {i.index for i in kept if upserted or i.profile_id is None}
    wanted = [i.profile_id or i.data.profile_id for i in kept if i.index in checked]
    current = await lookup.current_ids(session, [w for w in wanted if w is not None])
    resolved = []
    for item in kept:
        candidate = item.profile_id or item.data.profile_id
        assert candidate is not None
        if item.index in checked:
            survivor = current.get(candidate)
            if survivor is None:
                reject(
                    item.index,
                    "no profile has this id",
                    [{"field": "profileId", "message": "unknown profile"}],
                )
                continue
            candidate = survivor
        item.profile_id = candidate
        resolved.append(item)
    return resolved


def _fields(item: _Pending) -> list[str]:
    names = {EMAIL: "email", PHONE: "phone"}
    return sorted({names.get(kind, "externalId") for kind, _ in item.keys})


def _profile_of(item: _Pending) -> ProfileCreate:
    data = item.data
    email = next((v for k, v in item.keys if k == EMAIL), None)
    phone = next((v for k, v in item.keys if k == PHONE), None)
    external = (
        [ExternalId(source=data.external_id.source, id=data.external_id.id)]
        if data.external_id is not None
        else []
    )
    return ProfileCreate(email=email, phone=phone, external_ids=external)


# Reading ---------------------------------------------------------------------------------------


def _checked_range(since: dt.datetime | None, until: dt.datetime | None) -> None:
    errors = FieldErrors()
    if since is not None and since.tzinfo is None:
        errors.add("since", "expected a date and time with its UTC offset")
    if until is not None and until.tzinfo is None:
        errors.add("until", "expected a date and time with its UTC offset")
    errors.raise_if_any()


async def list_events(
    session: AsyncSession,
    page: PageRequest,
    cursor: str | None,
    *,
    name: str | None = None,
    profile_id: UUID | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[list[Event], str | None]:
    """The brand's events, newest first, filtered by name, profile and time range
    (``since`` included, ``until`` excluded)."""
    _checked_range(since, until)
    profile_ids = None
    if profile_id is not None:
        profile_ids = list((await lookup.current_ids(session, [profile_id])).values())
    return await repository.list_events(
        session,
        limit=page.limit,
        cursor=cursor,
        profile_ids=profile_ids,
        name=name,
        since=since,
        until=until,
    )


async def timeline(
    session: AsyncSession,
    profile_id: UUID,
    page: PageRequest,
    cursor: str | None,
    *,
    name: str | None = None,
) -> tuple[list[Event], str | None]:
    """The profile's events, newest first (ProfileMerged for a merged id, 404 if unknown)."""
    profile = await profiles_service.get_profile(session, profile_id)
    return await repository.list_events(
        session, limit=page.limit, cursor=cursor, profile_ids=[profile.id], name=name
    )


async def event_times(
    session: AsyncSession,
    name: str,
    profile_ids: Sequence[UUID],
    since: dt.datetime,
    until: dt.datetime,
) -> list[tuple[UUID, dt.datetime]]:
    """When these profiles did ``name`` between ``since`` and ``until`` (a campaign's
    conversions): (profile, occurred at) pairs, in one query."""
    return await repository.event_times(session, name, profile_ids, since, until)


async def latest_events_of(
    session: AsyncSession, profile_ids: Sequence[UUID], per_profile: int
) -> dict[UUID, list[Event]]:
    """The latest ``per_profile`` events of each profile (for dataloaders)."""
    return await repository.latest_events_of(session, profile_ids, per_profile)


class HourActivity(NamedTuple):
    """A profile's events in one local hour of the day: how many, and their decayed weight
    (each event ``age`` old weighs ``2 ** (-age / half_life)``)."""

    hour: int
    events: int
    weight: float


_UTC = ZoneInfo("UTC")
# The zone names the PostgreSQL server knows (asked once per name and process).
_DATABASE_ZONES: dict[str, bool] = {}


async def activity_by_local_hour(
    session: AsyncSession,
    names: Sequence[str],
    since: dt.datetime,
    until: dt.datetime,
    zones: Mapping[UUID, ZoneInfo],
    half_life: dt.timedelta,
) -> dict[UUID, list[HourActivity]]:
    """When each profile of ``zones`` acts: its events named ``names`` in [since, until] by
    local hour of the day in its zone (DST-correct: each event in its own day's offset), with
    weights decayed from ``until``. Profiles without such events are absent; merged-away ids
    have none (their events moved to the survivor).

    One query whatever the number of profiles: on PostgreSQL grouped by local hour in the
    database (a zone the server's time zone database lacks, by UTC hour, converted here); on
    SQLite grouped by UTC hour and converted here."""
    found: dict[UUID, list[HourActivity]] = {}
    if not zones or not names:
        return found
    by_hour: Mapping[UUID, ZoneInfo] = zones
    if dialect_of(session) == "postgresql":
        unknown = [z for z in {zone.key for zone in zones.values()} if z not in _DATABASE_ZONES]
        if unknown:
            known = await repository.known_time_zones(session, unknown)
            _DATABASE_ZONES.update({z: z in known for z in unknown})
        in_database = [(p, zone.key) for p, zone in zones.items() if _DATABASE_ZONES[zone.key]]
        rate = -math.log(2) / half_life.total_seconds()
        rows = await repository.activity_by_local_hour(
            session, names, since, until, in_database, rate
        )
        for profile_id, hour, count, weight in rows:
            found.setdefault(profile_id, []).append(HourActivity(hour, count, weight))
        by_hour = {p: zone for p, zone in zones.items() if not _DATABASE_ZONES[zone.key]}
    if by_hour:
        rows_by_hour = await repository.activity_by_hour(
            session, names, since, until, list(by_hour)
        )
        for profile_id, activity in by_local_hour(rows_by_hour, by_hour, until, half_life).items():
            found.setdefault(profile_id, []).extend(activity)
    return found


def by_local_hour(
    rows: Iterable[tuple[UUID, dt.datetime, int]],
    zones: Mapping[UUID, ZoneInfo],
    until: dt.datetime,
    half_life: dt.timedelta,
) -> dict[UUID, list[HourActivity]]:
    """(profile, UTC hour, events) rows as :class:`HourActivity` per local hour in each
    profile's zone (a profile missing from ``zones`` is read in UTC). An hour counts whole for
    the local hour its first minute falls in (exact but for zones whose offset is not a whole
    hour). Each distinct hour's conversion and weight is computed once."""
    local: dict[tuple[dt.datetime, str], int] = {}
    decay: dict[dt.datetime, float] = {}
    seconds = half_life.total_seconds()
    summed: dict[UUID, dict[int, list[float]]] = {}
    for profile_id, hour_start, count in rows:
        zone = zones.get(profile_id, _UTC)
        hour = local.get((hour_start, zone.key))
        if hour is None:
            hour = local[(hour_start, zone.key)] = hour_start.astimezone(zone).hour
        weight = decay.get(hour_start)
        if weight is None:
            age = max((until - hour_start).total_seconds(), 0.0)
            weight = decay[hour_start] = math.exp2(-age / seconds)
        totals = summed.setdefault(profile_id, {}).setdefault(hour, [0.0, 0.0])
        totals[0] += count
        totals[1] += count * weight
    return {
        profile_id: [HourActivity(h, int(t[0]), t[1]) for h, t in hours.items()]
        for profile_id, hours in summed.items()
    }


async def latest_activity_by_hour(
    session: AsyncSession,
    names: Sequence[str],
    since: dt.datetime,
    until: dt.datetime,
    limit: int,
) -> list[tuple[UUID, dt.datetime, int]]:
    """How many of the brand's latest ``limit`` events named ``names`` in [since, until] each
    profile made in each UTC hour: (profile, the hour's start, count) — a bounded sample of the
    brand's habits (see :func:`by_local_hour`), in one query."""
    return await repository.latest_activity_by_hour(session, names, since, until, limit)


# Carts -----------------------------------------------------------------------------------------


async def carts_of_profile(session: AsyncSession, profile_id: UUID) -> list[Cart]:
    profile = await profiles_service.get_profile(session, profile_id)
    return await repository.carts_of_profile(session, profile.id)


async def open_carts_idle_since(
    session: AsyncSession, idle_since: dt.datetime, page: PageRequest
) -> tuple[list[Cart], str | None]:
    """Open carts of the session's brand whose last change is at or before ``idle_since``
    (abandoned-cart candidates), in id order, keyset-paginated."""
    return await repository.idle_open_carts(session, idle_since, page)


# Profiles' lifecycle ---------------------------------------------------------------------------


async def _follow_merge(
    session: AsyncSession, tenant: TenantId, survivor_id: UUID, merged_id: UUID
) -> None:
    await repository.repoint_profile(session, Event, merged_id, survivor_id)
    # A cart id the survivor already holds keeps the survivor's cart; the other goes.
    for cart in await repository.cart_conflicts(session, merged_id, survivor_id):
        await session.delete(cart)
    await session.flush()
    await repository.repoint_profile(session, Cart, merged_id, survivor_id)


async def _forget_profile(session: AsyncSession, tenant: TenantId, profile_id: UUID) -> None:
    await repository.delete_of_profile(session, Event, profile_id)
    await repository.delete_of_profile(session, Cart, profile_id)


def connect(signals: Signals) -> None:
    """Connect the events' receivers: events and carts follow their profile."""
    signals.connect(profiles_service.PROFILE_MERGED, _follow_merge)
    signals.connect(profiles_service.PROFILE_DELETED, _forget_profile)
