"""GraphQL of GDPR requests: the erasure of a person and the export of everything held on one
(as the JSON document REST answers)."""

from __future__ import annotations

from uuid import UUID

import msgspec
import strawberry
from strawberry.scalars import JSON

from backend.core.graphql_entities import entity_type, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import parse_id
from backend.profiles import service as profiles_service
from backend.profiles.gdpr import service
from backend.profiles.gdpr.schemas import EraseOut, EraseRequest, GdprExport

READ, WRITE = "profiles:read", "profiles:write"


@entity_type(EraseOut, name="Erasure")
class ErasureType:
    """A person erased (GDPR)."""


@input_type(EraseRequest, name="EraseProfileInput")
class EraseProfileInput:
    id: strawberry.ID = strawberry.field(description="The profile (a merged id: its survivor).")


async def _survivor(unit: BrandUnit, value: strawberry.ID) -> UUID:
    profile_id = parse_id(value, "Profile")
    return await profiles_service.survivor_of(unit.session, profile_id) or profile_id


@strawberry.type
class GdprQuery:
    @brand_query(
        READ,
        description="Everything held on a person (GDPR art. 15 and 20): the profile, its "
        "identity keys, the whole consent history, orders with lines, linked rows with their "
        "history and the merges into it, as the JSON document REST answers (camelCase keys).",
    )
    async def export_person_data(self, unit: BrandUnit, profile_id: strawberry.ID) -> JSON:
        data = await service.export_person(unit.session, await _survivor(unit, profile_id))
        return msgspec.to_builtins(GdprExport.of(data))  # type: ignore[no-any-return]


@strawberry.type
class GdprMutation:
    @brand_mutation(
        WRITE,
        description="Erase a person (GDPR): the profile and everything it has are deleted, its "
        "identifiers kept only as salted hashes on the suppression list.",
    )
    async def erase_profile(self, unit: BrandUnit, input: EraseProfileInput) -> ErasureType:
        request = struct_of(EraseRequest, input)
        erasure = await service.erase_profile(
            unit.session, unit.tenant, await _survivor(unit, input.id), request.reason
        )
        return EraseOut.of(erasure)
