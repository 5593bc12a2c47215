"""GDPR: erasing a person, and exporting everything held on one person.

Erasure is a hard delete of the profile and everything it has: identity keys, unique values,
consent history, orders and their lines, linked rows and their history, the merge history that
leads to it (the ids merged into it answer 404 afterwards), and every row the receivers of
:data:`backend.profiles.service.PROFILE_DELETED` delete (events, memberships, scores…). Its
identifiers (email, phone, external ids, merged-in ones included) are kept only as keyed hashes
in the brand's suppression list (:mod:`backend.profiles.suppressions`), so that no later write or
import brings the person back without new consent. The audit log records the deletion (who, when,
which id).

Exports written or being written (``profile_exports``) may hold the person: they expire at once
(their files are purged, the export says ``expired`` and why). The receivers of
:data:`backend.profiles.service.PROFILE_ERASED` forget what they hold of the identifiers (imports
purge the stored files naming them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.db import utcnow
from backend.core.pagination import MAX_LIMIT, PageRequest, decode_cursor
from backend.core.tenancy import TenantId
from backend.profiles import consents, orders, repository, service, suppressions
from backend.profiles.exports import service as exports
from backend.profiles.gdpr import repository as gdpr_repository
from backend.profiles.linked import service as linked
from backend.profiles.models import (
    ConsentChange,
    LinkedRowVersion,
    ProfileIdentity,
    ProfileMerge,
)
from backend.profiles.orders import OrderView
from backend.profiles.service import EMAIL, PHONE, ProfileView

T = TypeVar("T")


@dataclass(frozen=True)
class Erasure:
    """What an erasure did (read as `EraseOut`)."""

    profile_id: UUID
    suppressed_keys: int  # identifiers now on the suppression list because of this erasure
    erased_at: dt.datetime


@dataclass(frozen=True)
class PersonRow:
    """A linked row of the person with its whole history."""

    id: UUID
    table: str
    values: dict[str, Any]
    history: list[LinkedRowVersion]


@dataclass(frozen=True)
class PersonData:
    """Everything held on one person (read as `GdprExport`)."""

    profile: ProfileView
    identities: list[ProfileIdentity]
    consents: list[ConsentChange]
    orders: list[OrderView]
    linked_rows: list[PersonRow]
    merges: list[ProfileMerge]
    exported_at: dt.datetime


async def erase_profile(
    session: AsyncSession, tenant: TenantId, profile_id: UUID, reason: str
) -> Erasure:
    """Erase the person (see the module docstring); a merged id answers with its survivor."""
    profile = await service.get_profile(session, profile_id)
    keys = {(i.kind, i.value) for i in await repository.identities_of(session, [profile.id])}
    if profile.email:
        keys.add((EMAIL, profile.email))
    if profile.phone:
        keys.add((PHONE, profile.phone))
    await suppressions.suppress(session, sorted(keys), reason)
    # Merge records hold the joining keys in clear: the whole chain into this profile goes.
    merged = await gdpr_repository.merged_into(session, profile.id)
    await gdpr_repository.delete_merges_into(session, merged)
    await service.delete_profile(session, tenant, profile.id)
    await exports.expire_for_erasure(session)
    await service.erased(session, tenant, sorted(keys))
    return Erasure(profile.id, len(keys), utcnow())


async def _every(fetch: Callable[[PageRequest], Awaitable[tuple[list[T], str | None]]]) -> list[T]:
    items: list[T] = []
    page = PageRequest(limit=MAX_LIMIT)
    while True:
        found, cursor = await fetch(page)
        items += found
        if cursor is None:
            return items
        page = PageRequest(limit=MAX_LIMIT, after=decode_cursor(cursor))


async def export_person(session: AsyncSession, profile_id: UUID) -> PersonData:
    """Everything held on the person: profile, identity keys, the whole consent history,
    orders with lines, linked rows with their history, and the merges into the profile."""
    profile = await service.get_profile(session, profile_id)
    rows = await linked.everything_of_profile(session, profile.id)
    return PersonData(
        profile=await service.view(session, profile),
        identities=await repository.identities_of(session, [profile.id]),
        consents=await _every(lambda page: consents.history(session, profile.id, page)),
        orders=await _every(lambda page: orders.list_orders(session, profile.id, page)),
        linked_rows=[
            PersonRow(view.row.id, view.table, dict(view.row.values or {}), versions)
            for view, versions in rows
        ],
        merges=await _every(lambda page: service.list_merges(session, profile.id, page)),
        exported_at=utcnow(),
    )
