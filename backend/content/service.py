"""Content: templates, versions, snippets, previews, and the renders a send makes
(:func:`render_for`, :func:`render_many`: the contract in docs/MESSAGING.md, implemented in
``backend.content.rendering``). Services never commit."""

from __future__ import annotations

from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.content import repository, versions
from backend.content.compile import Problems, check_source
from backend.content.coupons import service as coupons
from backend.content.errors import RenderRefused
from backend.content.live.blocks import live_context
from backend.content.models import ContentTemplate, Snippet, TemplateVersion
from backend.content.rendered import RenderedEmail, RenderedSms
from backend.content.rendering import (
    RenderedMessage,
    RenderRequest,
    choose_locale,
    links_of,
    render_context,
    render_for,
    render_many,
    render_version,
)
from backend.content.schemas import (
    SnippetCreate,
    SnippetUpdate,
    TemplateCreate,
    TemplatePreviewIn,
    TemplatePreviewOut,
    TemplateUpdate,
    TemplateVersionCreate,
)
from backend.content.sms import measure
from backend.core.db import utcnow
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.core.pagination import PageRequest
from backend.core.tenancy import TenantId
from backend.profiles import service as profile_service
from backend.tenancy import service as tenancy_service

# The renders a send makes live in `rendering`; they are this service's API.
__all__ = [
    "RenderRequest",
    "RenderedMessage",
    "choose_locale",
    "links_of",
    "render_context",
    "render_for",
    "render_many",
    "render_version",
]


# Templates -------------------------------------------------------------------------------------


async def list_templates(
    session: AsyncSession, page: PageRequest
) -> tuple[list[ContentTemplate], str | None]:
    return await repository.list_templates(session, page)


async def count_templates(session: AsyncSession) -> int:
    return await repository.count_templates(session)


async def get_template(session: AsyncSession, template_id_or_key: UUID | str) -> ContentTemplate:
    """A template by id or key (NotFound otherwise): the pipeline reads its channel and topic."""
    if isinstance(template_id_or_key, UUID):
        template = await repository.get_template(session, template_id_or_key)
    else:
        template = await repository.template_by_key(session, template_id_or_key)
    if template is None:
        raise NotFound("template not found")
    return template


async def _live_template(session: AsyncSession, template_id: UUID) -> ContentTemplate:
    """A template that may still change: an archived one is only read (409 otherwise)."""
    template = await get_template(session, template_id)
    if template.archived_at is not None:
        raise Conflict("the template was deleted (archived): it no longer changes")
    return template


async def _default_locale(session: AsyncSession, tenant: TenantId, given: str | None) -> str:
    return given or (await tenancy_service.get_brand(session, tenant)).locale


async def create_template(
    session: AsyncSession, tenant: TenantId, data: TemplateCreate
) -> ContentTemplate:
    """A template with its first version, published; 422 naming every problem of its content
    (line and column), 409 when the key is taken."""
    if await repository.template_by_key(session, data.key):
        raise Conflict(f"a template '{data.key}' exists already")
    template = ContentTemplate(
        key=data.key, name=data.name, channel=data.channel, topic=data.topic, latest_version=0
    )
    locale = await _default_locale(session, tenant, data.default_locale)
    version = await versions.build_version(session, template, dict(data.variants), locale)
    session.add(template)
    await session.flush()
    version.template_id = template.id
    _record(template, version, publish=True)
    session.add(version)
    await session.flush()
    return template


def _record(template: ContentTemplate, version: TemplateVersion, *, publish: bool) -> None:
    template.latest_version = version.version
    if publish:
        template.current_version_id = version.id
        template.current_version = version.version


async def update_template(
    session: AsyncSession, template_id: UUID, data: TemplateUpdate
) -> ContentTemplate:
    """Change the name or topic (content changes through a new version)."""
    template = await _live_template(session, template_id)
    for field in ("name", "topic"):
        value = getattr(data, field)
        if value is not msgspec.UNSET:
            setattr(template, field, value)
    await session.flush()
    return template


async def delete_template(session: AsyncSession, template_id: UUID) -> None:
    """Archive a template: hidden from lists, refused for new sends (`template-archived`), its
    key free for a new template; its versions stay, since messages in the ledger name the exact
    version they were rendered from. Deleting it again changes nothing."""
    template = await get_template(session, template_id)
    if template.archived_at is None:
        template.archived_at = utcnow()
        await session.flush()


# Versions --------------------------------------------------------------------------------------


async def create_version(
    session: AsyncSession, tenant: TenantId, template_id: UUID, data: TemplateVersionCreate
) -> TemplateVersion:
    """Save a new version (published unless told otherwise); earlier versions stay as they
    were. 422 naming every problem, nothing stored."""
    template = await _live_template(session, template_id)
    locale = await _default_locale(session, tenant, data.default_locale)
    version = await versions.build_version(session, template, dict(data.variants), locale)
    session.add(version)
    await session.flush()
    _record(template, version, publish=data.publish)
    await session.flush()
    return version


async def list_versions(
    session: AsyncSession, template_id: UUID, page: PageRequest
) -> tuple[list[TemplateVersion], str | None]:
    template = await get_template(session, template_id)
    return await repository.list_versions(session, template.id, page)


async def count_versions(session: AsyncSession, template_id: UUID) -> int:
    return await repository.count_versions(session, template_id)


async def get_version(session: AsyncSession, template_id: UUID, version: int) -> TemplateVersion:
    found = await repository.get_version(session, template_id, version)
    if found is None:
        raise NotFound("template version not found")
    return found


async def version_by_id(session: AsyncSession, version_id: UUID) -> TemplateVersion | None:
    """A saved version by its id (the one a message names), archived template or not."""
    return await repository.version_by_id(session, version_id)


async def publish_version(
    session: AsyncSession, template_id: UUID, version: int
) -> ContentTemplate:
    """Make a saved version the one sent from now on (also to roll back)."""
    template = await _live_template(session, template_id)
    found = await get_version(session, template.id, version)
    template.current_version_id = found.id
    template.current_version = found.version
    await session.flush()
    return template


# Snippets --------------------------------------------------------------------------------------


def _check_snippet(body: str) -> None:
    problems = Problems()
    check_source(body, "/body", problems, allow_includes=False)
    if problems.items:
        raise InvalidInput("the snippet does not compile", errors=problems.items)


async def list_snippets(
    session: AsyncSession, page: PageRequest
) -> tuple[list[Snippet], str | None]:
    return await repository.list_snippets(session, page)


async def count_snippets(session: AsyncSession) -> int:
    return await repository.count_snippets(session)


async def get_snippet(session: AsyncSession, snippet_id: UUID) -> Snippet:
    snippet = await repository.get_snippet(session, snippet_id)
    if snippet is None:
        raise NotFound("snippet not found")
    return snippet


async def create_snippet(session: AsyncSession, data: SnippetCreate) -> Snippet:
    """A snippet (checked like a template; it cannot include another)."""
    _check_snippet(data.body)
    if await repository.snippets_by_key(session, [data.key]):
        raise Conflict(f"a snippet '{data.key}' exists already")
    snippet = Snippet(key=data.key, name=data.name, body=data.body)
    session.add(snippet)
    await session.flush()
    return snippet


async def update_snippet(session: AsyncSession, snippet_id: UUID, data: SnippetUpdate) -> Snippet:
    """Change a snippet; versions saved before keep the body they copied."""
    snippet = await get_snippet(session, snippet_id)
    if data.body is not msgspec.UNSET:
        _check_snippet(data.body)
        snippet.body = data.body
    if data.name is not msgspec.UNSET:
        snippet.name = data.name
    await session.flush()
    return snippet


async def delete_snippet(session: AsyncSession, snippet_id: UUID) -> None:
    await repository.delete(session, await get_snippet(session, snippet_id))


# Rendering -------------------------------------------------------------------------------------


async def preview(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    template_id: UUID,
    data: TemplatePreviewIn,
) -> TemplatePreviewOut:
    """Render a version for a profile without claiming coupons (each shows a sample code);
    a refused render answers 422 with its reason."""
    template = await get_template(session, template_id)
    number = data.version or template.current_version
    if number is None:
        raise NotFound("the template has no published version")
    version = await get_version(session, template.id, number)
    profile = await profile_service.get_profile(session, data.profile_id)
    locale = choose_locale(version, data.locale or profile.locale)
    context = await render_context(
        session,
        tenant,
        version,
        profile,
        locale,
        codes=coupons.sample_codes(version.pools),
        data=data.data,
        source=None,
    )
    context.update(live_context(settings, tenant, profile_id=profile.id, message_id=None))
    try:
        content = render_version(settings, version, template.channel, locale, context)
    except RenderRefused as exc:
        raise InvalidInput(
            f"{exc.reason}: {exc.detail}",
            errors=[{"field": "profileId", "pointer": "/profileId", "message": exc.detail}],
        ) from None
    out = TemplatePreviewOut(
        template_id=template.id,
        version_id=version.id,
        version=version.version,
        channel=template.channel,
        locale=locale,
    )
    if isinstance(content, RenderedEmail):
        return msgspec.structs.replace(
            out,
            subject=content.subject,
            preheader=content.preheader,
            html=content.html,
            text=content.text,
            links=list(content.links),
        )
    if isinstance(content, RenderedSms):
        info = measure(content.text)
        return msgspec.structs.replace(
            out,
            text=content.text,
            encoding=info.encoding.value,
            segments=info.segments,
            units=info.units,
        )
    return msgspec.structs.replace(
        out,
        title=content.title,
        body=content.body,
        image=content.image,
        deep_link=content.deep_link,
        data=content.data,
    )
