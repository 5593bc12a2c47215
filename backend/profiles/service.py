"""Profiles and identity resolution (the unique customer reference). Services never commit.

Identity keys (``email``, ``phone``, ``external:<source>``) point to one profile each; the key's
primary key, not a prior read, decides who holds it.

Merge rule: when one write's keys point to several profiles, or on an explicit merge, the
**older** profile (first created) survives. Each standard field and attribute takes the value of
the profile written most recently that has one (then the incoming write applies on top); identity
keys, unique values, consent history, orders and the rows of every receiver of
:data:`PROFILE_MERGED` move to the survivor; a ``profile_merges`` row records survivor, merged id,
reason and joining keys; the merged id then answers with the survivor (REST 308, GraphQL resolves
it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, LevierError, NotFound
from backend.core.ids import new_id
from backend.core.pagination import PageRequest
from backend.core.signals import Signal, signals
from backend.core.tenancy import TenantId
from backend.profiles import attributes as attribute_rules
from backend.profiles import consents, repository, suppressions
from backend.profiles.fields import (
    FieldErrors,
    normalise_country,
    normalise_email,
    normalise_phone,
    normalise_standard_fields,
    region_of_locale,
    valid_source,
)
from backend.profiles.models import (
    ConsentChange,
    ConsentState,
    Order,
    Profile,
    ProfileIdentity,
    ProfileMerge,
)
from backend.profiles.schemas import ExternalId, ProfileCreate, ProfileUpdate, WriteMode
from backend.tenancy import service as tenancy_service

EMAIL, PHONE, EXTERNAL = "email", "phone", "external:"
MAX_MERGE_HOPS = 32

# (session, tenant, survivor id, merged id): other domains re-point their rows (orders, linked
# rows, events…) in the merge's transaction.
PROFILE_MERGED: Signal[[AsyncSession, TenantId, UUID, UUID]] = Signal("profile_merged")
# (session, tenant, profile id): other domains delete their rows of a deleted profile.
PROFILE_DELETED: Signal[[AsyncSession, TenantId, UUID]] = Signal("profile_deleted")
# (session, tenant, identifiers): other domains forget what they hold of an erased person, named
# by their identifiers ((kind, value): ``email``, ``phone`` E.164, ``external:<source>``; merged-in
# ones included). Sent in the erasure's transaction.
PROFILE_ERASED: Signal[[AsyncSession, TenantId, Sequence[tuple[str, str]]]] = Signal(
    "profile_erased"
)
# (session, tenant, profile, created, changed): a profile created or changed here; ``changed``
# names what the write changed (stored field names, and ``attributes.<key>``); on creation, every
# field it was given. Sent in the write's transaction.
PROFILE_CHANGED: Signal[[AsyncSession, TenantId, Profile, bool, frozenset[str]]] = Signal(
    "profile_changed"
)
# (session, profile ids): data read about these profiles besides their own fields changed (an
# order, a linked row), e.g. for segments to evaluate them again. Sent in the write's transaction.
PROFILE_RELATED_CHANGED: Signal[[AsyncSession, Sequence[UUID]]] = Signal("profile_related_changed")

_STANDARD = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "locale",
    "time_zone",
    "country",
    "preferred_store",
    "channel_appetency",
)


async def erased(
    session: AsyncSession, tenant: TenantId, identifiers: Sequence[tuple[str, str]]
) -> None:
    """Tell the other domains that a person was erased (:data:`PROFILE_ERASED`)."""
    await signals.send(PROFILE_ERASED, session, tenant, identifiers)


async def related_changed(session: AsyncSession, profile_ids: Sequence[UUID]) -> None:
    """Tell the other domains that data read about these profiles changed."""
    await signals.send(PROFILE_RELATED_CHANGED, session, profile_ids)


async def _changed(
    session: AsyncSession,
    tenant: TenantId,
    profile: Profile,
    created: bool,
    changed: frozenset[str],
) -> None:
    await signals.send(PROFILE_CHANGED, session, tenant, profile, created, changed)


class ProfileMerged(LevierError):
    """The profile was merged into ``survivor_id``: REST answers 308 to the survivor's URL."""

    status, slug, title = HTTPStatus.PERMANENT_REDIRECT, "profile-merged", "Profile merged"

    def __init__(self, merged_id: UUID, survivor_id: UUID) -> None:
        super().__init__(f"profile {merged_id} was merged into {survivor_id}")
        self.merged_id = merged_id
        self.survivor_id = survivor_id


@dataclass(frozen=True)
class ProfileView:
    """A profile with its identity keys, as the API shows it."""

    profile: Profile
    identities: list[ProfileIdentity]

    @property
    def external_ids(self) -> list[ExternalId]:
        return [
            ExternalId(source=i.kind.removeprefix(EXTERNAL), id=i.value)
            for i in self.identities
            if i.kind.startswith(EXTERNAL)
        ]

    def __getattr__(self, name: str) -> Any:
        # The profile's own fields, so that `ProfileOut.of(view)` reads the view as one row.
        if name.startswith("__") or name == "profile":
            raise AttributeError(name)
        return getattr(self.profile, name)


# Reading ---------------------------------------------------------------------------------------


async def survivor_of(session: AsyncSession, profile_id: UUID) -> UUID | None:
    """The id of the profile that ``profile_id`` now is (itself, or the one it merged into)."""
    current = profile_id
    for _ in range(MAX_MERGE_HOPS):
        if await repository.get_profile(session, current) is not None:
            return current
        merge = await repository.merge_of(session, current)
        if merge is None:
            return None
        current = merge.survivor_id
    return None


async def get_profile(session: AsyncSession, profile_id: UUID) -> Profile:
    """The profile; ProfileMerged if it was merged away, NotFound if it never was (here)."""
    profile = await repository.get_profile(session, profile_id)
    if profile is not None:
        return profile
    survivor = await survivor_of(session, profile_id)
    if survivor is not None:
        raise ProfileMerged(profile_id, survivor)
    raise NotFound("profile not found")


async def profiles_by_ids(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> dict[UUID, Profile]:
    """The profiles of these ids that exist (here, unmerged), in one query; see
    :func:`get_profile` for why one is missing."""
    return {p.id: p for p in await repository.profiles_by_ids(session, profile_ids)}


async def count_all_profiles(session: AsyncSession) -> int:
    """How many profiles the brand stores (billing bounds them by plan)."""
    return await repository.count_all_profiles(session)


async def view(session: AsyncSession, profile: Profile) -> ProfileView:
    return ProfileView(profile, await repository.identities_of(session, [profile.id]))


async def views(session: AsyncSession, profiles: Sequence[Profile]) -> list[ProfileView]:
    """Views of many profiles with one query for their keys."""
    identities = await repository.identities_of(session, [p.id for p in profiles])
    by_profile: dict[UUID, list[ProfileIdentity]] = {}
    for identity in identities:
        by_profile.setdefault(identity.profile_id, []).append(identity)
    return [ProfileView(p, by_profile.get(p.id, [])) for p in profiles]


async def _filters(
    session: AsyncSession,
    tenant: TenantId,
    *,
    email: str | None,
    phone: str | None,
    external_id: str | None,
    country: str | None,
    preferred_store: str | None,
    updated_since: dt.datetime | None,
) -> dict[str, Any]:
    """The profile list's filters, checked, as the repository takes them (422 naming each
    filter that is wrong)."""
    errors = FieldErrors()
    keys: list[tuple[str, str]] = []
    if email is not None:
        normalised = normalise_email(email)
        if normalised is None:
            errors.add("email", "not a valid email address")
        else:
            keys.append((EMAIL, normalised))
    if phone is not None:
        region = region_of_locale((await tenancy_service.get_brand(session, tenant)).locale)
        number = normalise_phone(phone, normalise_country(country) if country else region)
        if number is None:
            errors.add("phone", "not a valid phone number")
        else:
            keys.append((PHONE, number))
    if external_id is not None:
        source, _, value = external_id.partition(":")
        if not value or not valid_source(source):
            errors.add("externalId", "expected source:value")
        else:
            keys.append((EXTERNAL + source, value))
    if country is not None:
        country = normalise_country(country)
        if country is None:
            errors.add("country", "not an ISO 3166-1 alpha-2 country code")
    if updated_since is not None and updated_since.tzinfo is None:
        errors.add("updatedSince", "expected a date and time with its UTC offset")
    errors.raise_if_any()
    return {
        "keys": keys,
        "country": country,
        "preferred_store": preferred_store,
        "updated_since": updated_since,
    }


async def list_profiles(
    session: AsyncSession,
    tenant: TenantId,
    page: PageRequest,
    *,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    country: str | None = None,
    preferred_store: str | None = None,
    updated_since: dt.datetime | None = None,
) -> tuple[list[Profile], str | None]:
    """Profiles in creation order, filtered; ``email``, ``phone`` and ``external_id``
    (``source:value``) look profiles up by identity key, merged-in keys included;
    ``updated_since`` keeps those changed at or after it."""
    filters = await _filters(
        session,
        tenant,
        email=email,
        phone=phone,
        external_id=external_id,
        country=country,
        preferred_store=preferred_store,
        updated_since=updated_since,
    )
    return await repository.list_profiles(session, page, **filters)


async def count_profiles(
    session: AsyncSession,
    tenant: TenantId,
    *,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    country: str | None = None,
    preferred_store: str | None = None,
    updated_since: dt.datetime | None = None,
) -> int:
    """How many profiles :func:`list_profiles` pages through with these filters (one query)."""
    filters = await _filters(
        session,
        tenant,
        email=email,
        phone=phone,
        external_id=external_id,
        country=country,
        preferred_store=preferred_store,
        updated_since=updated_since,
    )
    return await repository.count_profiles(session, **filters)


async def time_zones_of(
    session: AsyncSession, profile_ids: Sequence[UUID]
) -> dict[UUID, str | None]:
    """The time zone of each profile of these ids that exists (None when the profile has
    none), in one query; merged-away and unknown ids are absent."""
    return dict(await repository.time_zones_of(session, profile_ids))


# Writing ---------------------------------------------------------------------------------------


def _external_keys(
    external_ids: Sequence[ExternalId], errors: FieldErrors
) -> list[tuple[str, str]]:
    for external in external_ids:
        if not valid_source(external.source):
            errors.add("externalIds", f"source {external.source!r} is not a valid name")
    return [(EXTERNAL + e.source, e.id) for e in external_ids]


@dataclass
class _Write:
    """One validated write: standard field changes, attribute changes and external keys."""

    fields: dict[str, Any]
    attributes: dict[str, Any]
    external: list[tuple[str, str]]
    bounced: list[str] | None = None
    suppressed: list[str] | None = None

    def keys(self) -> list[tuple[str, str]]:
        keys = list(self.external)
        if self.fields.get("email"):
            keys.append((EMAIL, self.fields["email"]))
        if self.fields.get("phone"):
            keys.append((PHONE, self.fields["phone"]))
        return keys


async def _prepare(
    session: AsyncSession,
    tenant: TenantId,
    given: dict[str, Any],
    attributes: dict[str, Any],
    external_ids: Sequence[ExternalId],
    *,
    current: Profile | None,
) -> tuple[_Write, FieldErrors]:
    errors = FieldErrors()
    region = current.country if current is not None and current.country else None
    if region is None:
        region = region_of_locale((await tenancy_service.get_brand(session, tenant)).locale)
    fields = normalise_standard_fields(given, errors, region)
    external = _external_keys(external_ids, errors)
    return _Write(fields, attributes, external), errors


async def _apply(
    session: AsyncSession,
    tenant: TenantId,
    profile: Profile,
    write: _Write,
    errors: FieldErrors,
    *,
    creating: bool,
) -> frozenset[str]:
    """Validate attributes, then write fields, keys and unique values; nothing is half-written
    because every failure raises and the unit of work rolls the transaction back. Answers what
    changed (stored field names, and ``attributes.<key>``)."""
    definitions = await attribute_rules.definitions(session)
    old_attributes = {} if creating else dict(profile.attributes or {})
    before = {name: None if creating else getattr(profile, name) for name in write.fields}
    new_attributes = attribute_rules.validate_values(
        definitions, old_attributes, write.attributes, errors, creating=creating
    )
    errors.raise_if_any()

    old_email, old_phone = (None, None) if creating else (profile.email, profile.phone)
    for name, value in write.fields.items():
        setattr(profile, name, value)
    profile.attributes = new_attributes
    if write.bounced is not None:
        profile.bounced = sorted(set(write.bounced))
    if write.suppressed is not None:
        profile.suppressed = sorted(set(write.suppressed))
    if creating:
        session.add(profile)
    await session.flush()

    for kind, field, old in ((EMAIL, "email", old_email), (PHONE, "phone", old_phone)):
        new = getattr(profile, field)
        if new == old:
            continue
        if old is not None:
            await repository.release_identity(session, kind, old, profile.id)
        if new is not None:
            await _claim(session, tenant, profile.id, kind, new, field)
    for kind, value in write.external:
        await _claim(session, tenant, profile.id, kind, value, "externalIds")

    for key, definition in definitions.items():
        if not definition.unique:
            continue
        old_value, new_value = old_attributes.get(key), new_attributes.get(key)
        old_key = None if old_value is None else attribute_rules.unique_key(old_value)
        new_key = None if new_value is None else attribute_rules.unique_key(new_value)
        if old_key == new_key:
            continue
        if old_key is not None:
            await repository.release_unique_values(session, [profile.id], key)
        if new_key is not None:
            owner = await repository.claim_unique_value(session, tenant, key, new_key, profile.id)
            if owner != profile.id:
                raise Conflict(
                    f"another profile holds this {key}",
                    errors=[{"field": f"attributes.{key}", "message": "value already taken"}],
                )
    changed = {name for name, old in before.items() if getattr(profile, name) != old}
    changed |= {
        f"attributes.{key}"
        for key in {*old_attributes, *new_attributes}
        if old_attributes.get(key) != new_attributes.get(key)
    }
    return frozenset(changed)


async def _claim(
    session: AsyncSession, tenant: TenantId, profile_id: UUID, kind: str, value: str, field: str
) -> None:
    owner = await repository.claim_identity(session, tenant, kind, value, profile_id)
    if owner != profile_id:
        raise Conflict(
            f"another profile holds this {kind} key",
            errors=[{"field": field, "message": "identity key belongs to another profile"}],
        )


def _given_fields(data: ProfileCreate) -> dict[str, Any]:
    return {name: getattr(data, name) for name in _STANDARD if getattr(data, name) is not None}


async def create_profile(
    session: AsyncSession,
    tenant: TenantId,
    data: ProfileCreate,
    mode: WriteMode = WriteMode.CREATE,
) -> tuple[Profile, bool]:
    """Create a profile, or with ``upsert`` update the one its identity keys point to (merging
    the profiles when they point to several). Returns the profile and whether it is new.

    Identifiers of an erased person (on the brand's suppression list, see
    :mod:`backend.profiles.gdpr`) that no profile holds answer 409 naming the field, unless the
    write carries new consent: a ``granted`` change in ``consents``, which lifts their
    suppression. The consents are recorded on the profile written."""
    write, errors = await _prepare(
        session,
        tenant,
        _given_fields(data),
        data.attributes,
        data.external_ids,
        current=None,
    )
    errors.raise_if_any()
    owners = await repository.owners_of_keys(session, write.keys())
    if owners and mode is WriteMode.CREATE:
        fields = sorted({_key_field(kind) for kind, _ in owners})
        raise Conflict(
            "a profile with these identity keys exists (use mode=upsert to update it)",
            errors=[
                {"field": f, "message": "identity key belongs to another profile"} for f in fields
            ],
        )
    given_keys = write.keys()
    await _check_suppressed(session, [k for k in given_keys if k not in owners], data)
    found = await repository.profiles_by_ids(session, sorted(set(owners.values())))
    if not found:
        profile = Profile(id=new_id(), attributes={}, bounced=[], suppressed=[])
        changed = await _apply(session, tenant, profile, write, errors, creating=True)
        await _changed(session, tenant, profile, True, changed)
        await _record_consents(session, profile, data)
        return profile, True

    found.sort(key=lambda p: (p.created_at, p.id))
    survivor = found[0]
    for other in found[1:]:
        joined = [f"{k}:{v}" for (k, v), owner in owners.items() if owner == other.id]
        await _merge(session, tenant, survivor, other, reason="identity", keys=joined)
    changed = await _apply(session, tenant, survivor, write, errors, creating=False)
    await _changed(session, tenant, survivor, False, changed)
    await _record_consents(session, survivor, data)
    return survivor, False


def _key_field(kind: str) -> str:
    return kind if kind in (EMAIL, PHONE) else "externalIds"


async def _check_suppressed(
    session: AsyncSession, keys: Sequence[tuple[str, str]], data: ProfileCreate
) -> None:
    blocked = await suppressions.suppressed(session, keys)
    if not blocked:
        return
    if not any(c.state is ConsentState.GRANTED for c in data.consents):
        fields = sorted({_key_field(kind) for kind, _ in blocked})
        raise Conflict(
            "these identifiers belong to an erased person: only a write carrying new consent "
            "(a granted consent in `consents`) may bring them back",
            errors=[{"field": f, "message": "identifier erased (GDPR)"} for f in fields],
        )
    await suppressions.lift(session, sorted(blocked))


async def _record_consents(session: AsyncSession, profile: Profile, data: ProfileCreate) -> None:
    for index, change in enumerate(data.consents):
        await consents.append_change(session, profile, change, field=f"consents[{index}].")


async def update_profile(
    session: AsyncSession, tenant: TenantId, profile_id: UUID, data: ProfileUpdate
) -> Profile:
    """Apply a partial update (see :class:`ProfileUpdate`). Identifiers of an erased person
    answer 409 naming the field (an update carries no new consent)."""
    profile = await get_profile(session, profile_id)
    given = {
        name: getattr(data, name) for name in _STANDARD if getattr(data, name) is not msgspec.UNSET
    }
    attributes = {} if data.attributes is msgspec.UNSET else data.attributes
    external = [] if data.external_ids is msgspec.UNSET else data.external_ids
    write, errors = await _prepare(session, tenant, given, attributes, external, current=profile)
    if data.bounced is not msgspec.UNSET:
        write.bounced = [str(c) for c in data.bounced]
    if data.suppressed is not msgspec.UNSET:
        write.suppressed = [str(c) for c in data.suppressed]
    errors.raise_if_any()
    held = {(i.kind, i.value) for i in await repository.identities_of(session, [profile.id])}
    new_keys = [key for key in write.keys() if key not in held]  # noqa: SIM118 (a method)
    blocked = await suppressions.suppressed(session, new_keys)
    if blocked:
        # An update carries no consent: it cannot give an erased person's identifier back.
        fields = sorted({_key_field(kind) for kind, _ in blocked})
        raise Conflict(
            "these identifiers belong to an erased person: only a create or upsert carrying new "
            "consent (a granted consent in `consents`) may bring them back",
            errors=[{"field": f, "message": "identifier erased (GDPR)"} for f in fields],
        )
    changed = await _apply(session, tenant, profile, write, errors, creating=False)
    await _changed(session, tenant, profile, False, changed)
    return profile


async def delete_profile(session: AsyncSession, tenant: TenantId, profile_id: UUID) -> None:
    """Delete the profile, its keys, unique values, consent history, orders and merge
    redirects."""
    profile = await get_profile(session, profile_id)
    await signals.send(PROFILE_DELETED, session, tenant, profile.id)
    await repository.delete_profile_rows(session, profile.id)
    await session.delete(profile)  # through the unit of work, so the audit log records it
    await session.flush()


# Merging ---------------------------------------------------------------------------------------


async def merge_profiles(
    session: AsyncSession, tenant: TenantId, profile_id: UUID, other_id: UUID, reason: str
) -> Profile:
    """Merge two profiles explicitly; the older survives whichever is named first."""
    profile = await get_profile(session, profile_id)
    if profile_id == other_id:
        raise InvalidInput("a profile cannot merge with itself", errors=[{"field": "otherId"}])
    other_survivor = await survivor_of(session, other_id)
    if other_survivor is None:
        raise InvalidInput("no profile has this id", errors=[{"field": "otherId"}])
    if other_survivor == profile.id:
        return profile  # already one person
    other = await get_profile(session, other_survivor)
    survivor, merged = sorted((profile, other), key=lambda p: (p.created_at, p.id))
    await _merge(session, tenant, survivor, merged, reason=reason, keys=[])
    return survivor


async def _merge(
    session: AsyncSession,
    tenant: TenantId,
    survivor: Profile,
    merged: Profile,
    *,
    reason: str,
    keys: list[str],
) -> None:
    older, newer = sorted((survivor, merged), key=lambda p: (p.updated_at, p.id))
    fields = {
        name: getattr(newer, name) if getattr(newer, name) is not None else getattr(older, name)
        for name in _STANDARD
    }
    attributes = {**(older.attributes or {}), **(newer.attributes or {})}
    bounced = sorted(set(survivor.bounced or []) | set(merged.bounced or []))
    suppressed = sorted(set(survivor.suppressed or []) | set(merged.suppressed or []))

    await repository.release_unique_values(session, [survivor.id, merged.id])
    await repository.repoint(session, ProfileIdentity, merged.id, survivor.id)
    await repository.repoint(session, ConsentChange, merged.id, survivor.id)
    await repository.repoint(session, Order, merged.id, survivor.id)
    await signals.send(PROFILE_MERGED, session, tenant, survivor.id, merged.id)
    session.add(
        ProfileMerge(
            survivor_id=survivor.id,
            merged_id=merged.id,
            reason=reason,
            keys=keys,
            merged_at=utcnow(),
        )
    )
    await session.delete(merged)
    await session.flush()

    for name, value in fields.items():
        setattr(survivor, name, value)
    survivor.attributes = attributes
    survivor.bounced = bounced
    survivor.suppressed = suppressed
    survivor.updated_at = utcnow()
    await session.flush()
    definitions = await attribute_rules.definitions(session)
    for key, definition in definitions.items():
        if definition.unique and attributes.get(key) is not None:
            unique = attribute_rules.unique_key(attributes[key])
            owner = await repository.claim_unique_value(session, tenant, key, unique, survivor.id)
            if owner != survivor.id:  # a third profile took it meanwhile
                raise Conflict(
                    f"another profile holds this {key}",
                    errors=[{"field": f"attributes.{key}", "message": "value already taken"}],
                )


async def list_merges(
    session: AsyncSession, profile_id: UUID, page: PageRequest
) -> tuple[list[ProfileMerge], str | None]:
    """The profiles merged into this one, oldest merge first."""
    profile = await get_profile(session, profile_id)
    return await repository.list_merges(session, profile.id, page)
