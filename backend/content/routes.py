"""REST routes of content under ``/v1/brands/{brand_id}``: templates and their versions,
previews, snippets. Reads need `content:read`, writes `content:write`; another brand's template
or snippet is not found."""

from __future__ import annotations

from uuid import UUID

from litestar import delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.content import service
from backend.content.schemas import (
    SnippetCreate,
    SnippetOut,
    SnippetPage,
    SnippetUpdate,
    TemplateCreate,
    TemplateOut,
    TemplatePage,
    TemplatePreviewIn,
    TemplatePreviewOut,
    TemplateUpdate,
    TemplateVersionCreate,
    TemplateVersionOut,
    TemplateVersionPage,
)
from backend.core.access import Access
from backend.core.api import BRAND_ACCESS_OPT, READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant

READ, WRITE = "content:read", "content:write"


class TemplateController(BrandController):
    """The brand's templates per channel, their immutable versions and previews."""

    path = "/v1/brands/{brand_id:uuid}/templates"
    tags = ["content"]

    @get("/", operation_id="listTemplates", summary="List templates", **needs(READ),
         responses=READ_ERRORS)  # fmt: skip
    async def list_templates(self, db_session: DbSession, page: Paging) -> TemplatePage:
        """The brand's templates, in creation order."""
        items, cursor = await service.list_templates(db_session, page)
        return TemplatePage(TemplateOut.many(items), cursor)

    @post("/", operation_id="createTemplate", summary="Create a template", **needs(WRITE),
          status_code=HTTP_201_CREATED, responses=WRITE_ERRORS)  # fmt: skip
    async def create_template(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[TemplateCreate]
    ) -> TemplateOut:
        """Create a template with its first version (published). Its content is checked now:
        a 422 names each problem with its JSON pointer, line and column (syntax, unknown
        names, unknown snippets or coupon pools, MJML that does not compile)."""
        return TemplateOut.of(await service.create_template(db_session, tenant, data))

    @get("/{template_id:uuid}", operation_id="getTemplate", summary="Read a template",
         **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def get_template(self, db_session: DbSession, template_id: FromPath[UUID]) -> TemplateOut:
        """One template, with its published and latest version numbers."""
        return TemplateOut.of(await service.get_template(db_session, template_id))

    @patch("/{template_id:uuid}", operation_id="updateTemplate", summary="Change a template",
           **needs(WRITE), responses=WRITE_ERRORS)  # fmt: skip
    async def update_template(
        self, db_session: DbSession, template_id: FromPath[UUID], data: JSONBody[TemplateUpdate]
    ) -> TemplateOut:
        """Change the name or the consent topic; content changes by a new version."""
        return TemplateOut.of(await service.update_template(db_session, template_id, data))

    @delete("/{template_id:uuid}", operation_id="deleteTemplate", summary="Delete a template",
            **needs(WRITE), status_code=HTTP_204_NO_CONTENT, responses=WRITE_ERRORS)  # fmt: skip
    async def delete_template(self, db_session: DbSession, template_id: FromPath[UUID]) -> None:
        """Delete a template: it is archived, not erased. It leaves the list, new sends of it
        are refused (`template-archived`) and its key is free again; its versions stay, since
        sent messages name the exact version they used, and reading it by id shows
        `archivedAt`. Changing it afterwards answers 409."""
        await service.delete_template(db_session, template_id)

    @get("/{template_id:uuid}/versions", operation_id="listTemplateVersions",
         summary="List a template's versions", **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def list_versions(
        self, db_session: DbSession, page: Paging, template_id: FromPath[UUID]
    ) -> TemplateVersionPage:
        """Every saved version, oldest first."""
        items, cursor = await service.list_versions(db_session, template_id, page)
        return TemplateVersionPage([TemplateVersionOut.from_row(v) for v in items], cursor)

    @post("/{template_id:uuid}/versions", operation_id="createTemplateVersion",
          summary="Save a new version", **needs(WRITE), status_code=HTTP_201_CREATED,
          responses=WRITE_ERRORS)  # fmt: skip
    async def create_version(
        self,
        db_session: DbSession,
        tenant: Tenant,
        template_id: FromPath[UUID],
        data: JSONBody[TemplateVersionCreate],
    ) -> TemplateVersionOut:
        """Save new content as the next version (published unless `publish` is false). Saved
        versions never change: snippets are copied in as they are now."""
        version = await service.create_version(db_session, tenant, template_id, data)
        return TemplateVersionOut.from_row(version)

    @get("/{template_id:uuid}/versions/{version:int}", operation_id="getTemplateVersion",
         summary="Read a version", **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def get_version(
        self, db_session: DbSession, template_id: FromPath[UUID], version: FromPath[int]
    ) -> TemplateVersionOut:
        """One saved version, with the names, pools and snippets it uses (SMS: encoding and
        segments of its fixed text)."""
        return TemplateVersionOut.from_row(
            await service.get_version(db_session, template_id, version)
        )

    @post("/{template_id:uuid}/versions/{version:int}/publish",
          operation_id="publishTemplateVersion", summary="Publish a version", **needs(WRITE),
          status_code=200, responses=WRITE_ERRORS)  # fmt: skip
    async def publish(
        self, db_session: DbSession, template_id: FromPath[UUID], version: FromPath[int]
    ) -> TemplateOut:
        """Make this version the one sent from now on (also to go back to an earlier one)."""
        return TemplateOut.of(await service.publish_version(db_session, template_id, version))

    @post("/{template_id:uuid}/preview", operation_id="previewTemplate",
          summary="Preview a template for a profile",
          **needs(READ, opt={BRAND_ACCESS_OPT: Access.VIEWER}), status_code=200,
          responses=READ_ERRORS)  # fmt: skip
    async def preview(
        self,
        db_session: DbSession,
        tenant: Tenant,
        state: State,
        template_id: FromPath[UUID],
        data: JSONBody[TemplatePreviewIn],
    ) -> TemplatePreviewOut:
        """Render a version for a profile (optional `data` and `locale`); coupons show a
        sample code and nothing is claimed. SMS previews carry encoding and segments."""
        return await service.preview(db_session, tenant, state.settings, template_id, data)


class SnippetController(BrandController):
    """Reusable pieces of templates: `{% include "snippet:key" %}`."""

    path = "/v1/brands/{brand_id:uuid}/snippets"
    tags = ["content"]

    @get("/", operation_id="listSnippets", summary="List snippets", **needs(READ),
         responses=READ_ERRORS)  # fmt: skip
    async def list_snippets(self, db_session: DbSession, page: Paging) -> SnippetPage:
        """The brand's snippets, in creation order."""
        items, cursor = await service.list_snippets(db_session, page)
        return SnippetPage(SnippetOut.many(items), cursor)

    @post("/", operation_id="createSnippet", summary="Create a snippet", **needs(WRITE),
          status_code=HTTP_201_CREATED, responses=WRITE_ERRORS)  # fmt: skip
    async def create_snippet(
        self, db_session: DbSession, data: JSONBody[SnippetCreate]
    ) -> SnippetOut:
        """Create a snippet (checked like a template; a snippet includes no other)."""
        return SnippetOut.of(await service.create_snippet(db_session, data))

    @get("/{snippet_id:uuid}", operation_id="getSnippet", summary="Read a snippet",
         **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def get_snippet(self, db_session: DbSession, snippet_id: FromPath[UUID]) -> SnippetOut:
        """One snippet."""
        return SnippetOut.of(await service.get_snippet(db_session, snippet_id))

    @patch("/{snippet_id:uuid}", operation_id="updateSnippet", summary="Change a snippet",
           **needs(WRITE), responses=WRITE_ERRORS)  # fmt: skip
    async def update_snippet(
        self, db_session: DbSession, snippet_id: FromPath[UUID], data: JSONBody[SnippetUpdate]
    ) -> SnippetOut:
        """Change a snippet; versions saved earlier keep the body they copied."""
        return SnippetOut.of(await service.update_snippet(db_session, snippet_id, data))

    @delete("/{snippet_id:uuid}", operation_id="deleteSnippet", summary="Delete a snippet",
            **needs(WRITE), status_code=HTTP_204_NO_CONTENT, responses=WRITE_ERRORS)  # fmt: skip
    async def delete_snippet(self, db_session: DbSession, snippet_id: FromPath[UUID]) -> None:
        """Delete a snippet (saved versions keep their copy)."""
        await service.delete_snippet(db_session, snippet_id)
