"""GraphQL of triggers: definitions and occurrences, the REST shapes (derived from
`backend.triggers.schemas`) read and written through the same services. Expected failures of
mutations are the `OperationError` member of their result union; a setting that does not fit the
kind names its field."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node
from backend.profiles import service as profile_service
from backend.triggers import service
from backend.triggers.models import TriggerKind
from backend.triggers.schemas import OccurrenceOut, TriggerCreate, TriggerOut, TriggerUpdate

READ, WRITE = "events:read", "events:write"
graphql_enum(TriggerKind)


async def _load_trigger(session: AsyncSession, trigger_id: UUID) -> TriggerOut:
    return TriggerOut.of(await service.get_definition(session, trigger_id))


async def _load_occurrence(session: AsyncSession, occurrence_id: UUID) -> OccurrenceOut | None:
    found = await service.occurrences_by_ids(session, [occurrence_id])
    return OccurrenceOut.of(found[0]) if found else None


@entity_type(TriggerOut, name="Trigger", node=(READ, _load_trigger))
class TriggerType(Node):
    """A trigger definition of the brand: its `key` is the `type` of the occurrences it raises;
    the settings of its kind are fields of their own (null when not of the kind)."""


@entity_type(OccurrenceOut, name="TriggerOccurrence", node=(READ, _load_occurrence))
class TriggerOccurrenceType(Node):
    """A trigger raised for a profile, once per (type, dedupe key)."""


@input_type(TriggerCreate, name="CreateTriggerInput")
class CreateTriggerInput:
    pass


@input_type(TriggerUpdate, name="UpdateTriggerInput")
class UpdateTriggerInput:
    id: strawberry.ID = strawberry.field(description="The trigger to change.")


@strawberry.input(description="Names one trigger.")
class TriggerIdInput:
    id: strawberry.ID


@strawberry.type
class TriggersQuery:
    @brand_query(READ)
    async def triggers(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[TriggerType]:
        """The brand's trigger definitions, in creation order."""
        page = unit.page(first, after)
        items, cursor = await service.list_definitions(unit.session, page)
        return unit.connection(
            TriggerOut.many(items), cursor, page, count=service.count_definitions
        )

    @brand_query(READ, missing_is_null=True)
    async def trigger(self, unit: BrandUnit, id: strawberry.ID) -> TriggerType | None:
        """One trigger definition (null when the brand has none with this id)."""
        return await _load_trigger(unit.session, parse_id(id, "Trigger"))

    @brand_query(READ)
    async def trigger_occurrences(
        self,
        unit: BrandUnit,
        first: int = 50,
        after: str | None = None,
        type: str | None = None,
        profile_id: strawberry.ID | None = None,
        occurred_from: dt.datetime | None = None,
        occurred_until: dt.datetime | None = None,
    ) -> Connection[TriggerOccurrenceType]:
        """Trigger occurrences in the order they were raised, filtered by type (a trigger's
        key), profile and when they occurred (from inclusive, until exclusive)."""
        page = unit.page(first, after)
        items, cursor = await service.list_occurrences(
            unit.session,
            page,
            type=type,
            profile_id=parse_id(profile_id, "Profile") if profile_id is not None else None,
            occurred_from=occurred_from,
            occurred_until=occurred_until,
        )
        return unit.connection(OccurrenceOut.many(items), cursor, page)

    @brand_query(READ)
    async def profile_trigger_occurrences(
        self,
        unit: BrandUnit,
        profile_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        type: str | None = None,
    ) -> Connection[TriggerOccurrenceType]:
        """A profile's occurrences in the order they were raised (a merged profile's id reads
        the survivor's)."""
        named = parse_id(profile_id, "Profile")
        target = await profile_service.survivor_of(unit.session, named) or named
        page = unit.page(first, after)
        items, cursor = await service.list_profile_occurrences(
            unit.session, target, page, type=type
        )
        return unit.connection(OccurrenceOut.many(items), cursor, page)


@strawberry.type
class TriggersMutation:
    @brand_mutation(WRITE)
    async def create_trigger(self, unit: BrandUnit, input: CreateTriggerInput) -> TriggerType:
        """Define a trigger of a `kind` with that kind's settings; its `key` becomes the `type`
        of the occurrences it raises."""
        data = struct_of(TriggerCreate, input)
        return TriggerOut.of(await service.create_definition(unit.session, data))

    @brand_mutation(WRITE)
    async def update_trigger(self, unit: BrandUnit, input: UpdateTriggerInput) -> TriggerType:
        """Change the label, switch the trigger on or off, or change its settings (settings
        given replace the stored ones of that name; key and kind are fixed)."""
        definition = await service.update_definition(
            unit.session, parse_id(input.id, "Trigger"), struct_of(TriggerUpdate, input)
        )
        return TriggerOut.of(definition)

    @brand_mutation(WRITE)
    async def delete_trigger(self, unit: BrandUnit, input: TriggerIdInput) -> Deleted:
        """Delete a trigger definition; the occurrences it raised stay listed."""
        await service.delete_definition(unit.session, parse_id(input.id, "Trigger"))
        return Deleted(id=input.id)
