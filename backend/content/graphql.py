"""GraphQL of content: templates, their versions, previews and snippets, in the REST shapes
(derived from `backend.content.schemas`) and through the same services. Expected failures of
mutations (a 422 naming each problem of the content with its pointer, a taken key, an archived
template) are the `OperationError` member of their result union. Coupon pools are in
`backend.content.coupons.graphql`."""

from __future__ import annotations

from uuid import UUID

import msgspec
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON

from backend.config import Settings
from backend.content import service
from backend.content.models import TemplateChannel
from backend.content.schemas import (
    SnippetCreate,
    SnippetOut,
    SnippetUpdate,
    TemplateCreate,
    TemplateOut,
    TemplatePreviewIn,
    TemplatePreviewOut,
    TemplateUpdate,
    TemplateVersionCreate,
    TemplateVersionOut,
)
from backend.core.errors import NotFound
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.relay import Connection, Node

READ, WRITE = "content:read", "content:write"
graphql_enum(TemplateChannel)


async def _load_template(session: AsyncSession, template_id: UUID) -> TemplateOut:
    return TemplateOut.of(await service.get_template(session, template_id))


async def _load_version(session: AsyncSession, version_id: UUID) -> TemplateVersionOut:
    found = await service.version_by_id(session, version_id)
    if found is None:
        raise NotFound("template version not found")
    return TemplateVersionOut.from_row(found)


async def _load_snippet(session: AsyncSession, snippet_id: UUID) -> SnippetOut:
    return SnippetOut.of(await service.get_snippet(session, snippet_id))


@entity_type(TemplateOut, name="Template", node=(READ, _load_template))
class TemplateType(Node):
    """A template on one channel; its content lives in versions."""


@entity_type(TemplateVersionOut, name="TemplateVersion", node=(READ, _load_version))
class TemplateVersionType(Node):
    """A saved version of a template, never changed afterwards."""

    variants: JSON = strawberry.field(description="Each locale's fields as written.")

    @strawberry.field(
        description="SMS: each locale's encoding, units and segments of its fixed text."
    )
    def sms(self) -> JSON | None:
        own: TemplateVersionOut = self  # type: ignore[assignment]  # the root is the struct
        return None if own.sms is None else msgspec.to_builtins(own.sms)


@entity_type(TemplatePreviewOut, name="TemplatePreview")
class TemplatePreviewType:
    pass


@entity_type(SnippetOut, name="Snippet", node=(READ, _load_snippet))
class SnippetType(Node):
    """A reusable piece of template: `{% include "snippet:key" %}`."""


@input_type(TemplateCreate, name="CreateTemplateInput")
class CreateTemplateInput:
    pass


@input_type(TemplateUpdate, name="UpdateTemplateInput")
class UpdateTemplateInput:
    id: strawberry.ID


@strawberry.input(description="Names one template.")
class TemplateIdInput:
    id: strawberry.ID


@input_type(TemplateVersionCreate, name="CreateTemplateVersionInput")
class CreateTemplateVersionInput:
    template_id: strawberry.ID = strawberry.field(description="The template.")


@strawberry.input(description="Names one saved version of a template.")
class PublishTemplateVersionInput:
    template_id: strawberry.ID
    version: int


@input_type(TemplatePreviewIn, name="PreviewTemplateInput")
class PreviewTemplateInput:
    template_id: strawberry.ID = strawberry.field(description="The template.")
    profile_id: strawberry.ID = strawberry.field(description="The profile: its id or global id.")


@input_type(SnippetCreate, name="CreateSnippetInput")
class CreateSnippetInput:
    pass


@input_type(SnippetUpdate, name="UpdateSnippetInput")
class UpdateSnippetInput:
    id: strawberry.ID


@strawberry.input(description="Names one snippet.")
class SnippetIdInput:
    id: strawberry.ID


def _settings(unit: BrandUnit) -> Settings:
    request = unit.context.request
    assert request is not None
    settings: Settings = request.app.state.settings
    return settings


def _template_id(value: strawberry.ID) -> UUID:
    return parse_id(value, "Template")


@strawberry.type
class ContentQuery:
    @brand_query(READ)
    async def templates(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[TemplateType]:
        """The brand's templates, in creation order (deleted ones are archived and left out)."""
        page = unit.page(first, after)
        items, cursor = await service.list_templates(unit.session, page)
        return unit.connection(TemplateOut.many(items), cursor, page, count=service.count_templates)

    @brand_query(READ, missing_is_null=True)
    async def template(self, unit: BrandUnit, id: strawberry.ID) -> TemplateType | None:
        """One template, archived or not (null when the brand has none with this id)."""
        return await _load_template(unit.session, _template_id(id))

    @brand_query(READ)
    async def template_versions(
        self, unit: BrandUnit, template_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[TemplateVersionType]:
        """A template's saved versions, oldest first."""
        page = unit.page(first, after)
        found = _template_id(template_id)
        items, cursor = await service.list_versions(unit.session, found, page)

        async def count(session: AsyncSession) -> int:
            return await service.count_versions(session, found)

        versions = [TemplateVersionOut.from_row(v) for v in items]
        return unit.connection(versions, cursor, page, count=count)

    @brand_query(READ, missing_is_null=True)
    async def template_version(
        self, unit: BrandUnit, template_id: strawberry.ID, version: int
    ) -> TemplateVersionType | None:
        """One saved version by its number (null when there is none)."""
        found = await service.get_version(unit.session, _template_id(template_id), version)
        return TemplateVersionOut.from_row(found)

    @brand_query(READ)
    async def preview_template(
        self, unit: BrandUnit, input: PreviewTemplateInput
    ) -> TemplatePreviewType:
        """Render a version (default: the published one) for a profile, with optional `data`
        and `locale`; coupons show a sample code and nothing is claimed. A render that fails
        (a missing value, a budget) is a 422 naming its reason."""
        data = struct_of(TemplatePreviewIn, input, profile_id=parse_id(input.profile_id, "Profile"))
        return await service.preview(
            unit.session, unit.tenant, _settings(unit), _template_id(input.template_id), data
        )

    @brand_query(READ)
    async def snippets(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[SnippetType]:
        """The brand's snippets, in creation order."""
        page = unit.page(first, after)
        items, cursor = await service.list_snippets(unit.session, page)
        return unit.connection(SnippetOut.many(items), cursor, page, count=service.count_snippets)

    @brand_query(READ, missing_is_null=True)
    async def snippet(self, unit: BrandUnit, id: strawberry.ID) -> SnippetType | None:
        """One snippet (null when the brand has none with this id)."""
        return await _load_snippet(unit.session, parse_id(id, "Snippet"))


@strawberry.type
class ContentMutation:
    @brand_mutation(WRITE)
    async def create_template(self, unit: BrandUnit, input: CreateTemplateInput) -> TemplateType:
        """Create a template with its first version (published); its content is checked now
        (the error's `fieldErrors` point at each problem)."""
        data = struct_of(TemplateCreate, input)
        return TemplateOut.of(await service.create_template(unit.session, unit.tenant, data))

    @brand_mutation(WRITE)
    async def update_template(self, unit: BrandUnit, input: UpdateTemplateInput) -> TemplateType:
        """Change a template's name or consent topic (content changes by a new version)."""
        data = struct_of(TemplateUpdate, input)
        template = await service.update_template(unit.session, _template_id(input.id), data)
        return TemplateOut.of(template)

    @brand_mutation(WRITE)
    async def delete_template(self, unit: BrandUnit, input: TemplateIdInput) -> Deleted:
        """Delete a template: it is archived (left out of lists, refused for new sends, its key
        free again) and its versions kept for the messages naming them."""
        await service.delete_template(unit.session, _template_id(input.id))
        return Deleted(id=input.id)

    @brand_mutation(WRITE)
    async def create_template_version(
        self, unit: BrandUnit, input: CreateTemplateVersionInput
    ) -> TemplateVersionType:
        """Save new content as the template's next version (published unless `publish` is
        false)."""
        data = struct_of(TemplateVersionCreate, input)
        template_id = _template_id(input.template_id)
        version = await service.create_version(unit.session, unit.tenant, template_id, data)
        return TemplateVersionOut.from_row(version)

    @brand_mutation(WRITE)
    async def publish_template_version(
        self, unit: BrandUnit, input: PublishTemplateVersionInput
    ) -> TemplateType:
        """Make a saved version the one sent from now on (also to roll back)."""
        template_id = _template_id(input.template_id)
        template = await service.publish_version(unit.session, template_id, input.version)
        return TemplateOut.of(template)

    @brand_mutation(WRITE)
    async def create_snippet(self, unit: BrandUnit, input: CreateSnippetInput) -> SnippetType:
        """Create a snippet (checked like a template; a snippet includes no other)."""
        return SnippetOut.of(
            await service.create_snippet(unit.session, struct_of(SnippetCreate, input))
        )

    @brand_mutation(WRITE)
    async def update_snippet(self, unit: BrandUnit, input: UpdateSnippetInput) -> SnippetType:
        """Change a snippet; versions saved earlier keep the body they copied."""
        snippet = await service.update_snippet(
            unit.session, parse_id(input.id, "Snippet"), struct_of(SnippetUpdate, input)
        )
        return SnippetOut.of(snippet)

    @brand_mutation(WRITE)
    async def delete_snippet(self, unit: BrandUnit, input: SnippetIdInput) -> Deleted:
        """Delete a snippet (saved versions keep their copy)."""
        await service.delete_snippet(unit.session, parse_id(input.id, "Snippet"))
        return Deleted(id=input.id)
