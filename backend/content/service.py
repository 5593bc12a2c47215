"""Content: templates, versions, snippets, previews, and the one render a send makes
(:func:`render_for`, the contract in docs/MESSAGING.md). Services never commit."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.content import repository, versions
from backend.content.compile import Problems, check_source
from backend.content.context import profile_context
from backend.content.coupons import service as coupons
from backend.content.errors import RefusalReason, RenderRefused
from backend.content.formatting import helpers
from backend.content.live.blocks import live_context
from backend.content.models import ContentTemplate, Snippet, TemplateChannel, TemplateVersion
from backend.content.render import Bag, Renderer, SafeHelper, TemplateCache
from backend.content.rendered import Rendered, RenderedEmail, RenderedPush, RenderedSms
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
from backend.profiles.models import Profile
from backend.tenancy import service as tenancy_service

_CACHE = TemplateCache(1024)
_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


@dataclass(frozen=True)
class RenderedMessage:
    """One message rendered for one profile (what the ledger records and sends)."""

    template_id: UUID
    version_id: UUID
    version: int
    channel: TemplateChannel
    locale: str
    topic: str | None
    content: Rendered


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


def choose_locale(version: TemplateVersion, wanted: str | None) -> str:
    """The variant for a locale: itself, else its language, else the version's default."""
    variants = version.compiled
    if wanted:
        if wanted in variants:
            return wanted
        language = wanted.split("-", 1)[0].lower()
        if language in variants:
            return language
        regional = sorted(v for v in variants if v.split("-", 1)[0] == language)
        if regional:
            return regional[0]
    return version.default_locale


def links_of(html: str) -> tuple[str, ...]:
    """Every href of the HTML, in order, once each."""
    found = (html_lib.unescape(m.group(1) or m.group(2) or "") for m in _HREF.finditer(html))
    return tuple(dict.fromkeys(link for link in found if link))


_FIELDS = {
    TemplateChannel.EMAIL: ("html", "subject", "preheader", "text"),
    TemplateChannel.SMS: ("text",),
    TemplateChannel.PUSH: ("title", "body", "image", "deep_link"),
}


def render_version(
    settings: Settings,
    version: TemplateVersion,
    channel: TemplateChannel,
    locale: str,
    context: Mapping[str, Any],
) -> Rendered:
    """Render a version's variant for ``locale`` on a context (the budgets apply); raises
    RenderRefused."""
    _CACHE.size = settings.render_cache_size
    fields = version.compiled[locale]

    def get(field: str, source: str, *, html: bool = False) -> Any:
        return _CACHE.get((version.id, locale, field), source, html=html)

    # Compiled before the budget starts: a version's first render (a cold cache, a loaded
    # machine) must not be refused for the compiler's time, only for the template's.
    for name in _FIELDS[channel]:
        if fields.get(name):
            get(name, fields[name], html=name == "html")
    for key, source in (fields.get("data") or {}).items():
        get(f"data.{key}", source)
    with Renderer(
        seconds=settings.render_time_budget_seconds, max_chars=settings.render_max_output_chars
    ) as renderer:
        if channel is TemplateChannel.EMAIL:
            page = renderer.render(get("html", fields["html"], html=True), context)
            preheader = fields.get("preheader")
            return RenderedEmail(
                subject=renderer.render(get("subject", fields["subject"]), context).strip(),
                preheader=renderer.render(get("preheader", preheader), context).strip()
                if preheader
                else None,
                html=page,
                text=renderer.render(get("text", fields["text"]), context),
                links=links_of(page),
            )
        if channel is TemplateChannel.SMS:
            text = renderer.render(get("text", fields["text"]), context)
            info = measure(text)
            return RenderedSms(text=text, encoding=info.encoding, segments=info.segments)
        optional = {
            name: renderer.render(get(name, fields[name]), context).strip() or None
            for name in ("image", "deep_link")
            if fields.get(name)
        }
        return RenderedPush(
            title=renderer.render(get("title", fields["title"]), context),
            body=renderer.render(get("body", fields["body"]), context),
            image=optional.get("image"),
            deep_link=optional.get("deep_link"),
            data={
                key: renderer.render(get(f"data.{key}", source), context)
                for key, source in fields.get("data", {}).items()
            },
        )


async def render_context(
    session: AsyncSession,
    tenant: TenantId,
    version: TemplateVersion,
    profile: Profile,
    locale: str,
    *,
    codes: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a version sees for one profile: only the parts it uses are loaded."""
    context = await profile_context(session, profile, version.names)
    if profile.locale and profile.time_zone:
        where, zone = profile.locale, profile.time_zone
    else:
        brand = await tenancy_service.get_brand(session, tenant)
        where, zone = profile.locale or brand.locale, profile.time_zone or brand.time_zone
    context.update(helpers(where, zone))
    context["locale"] = locale
    context["time_zone"] = zone
    context["now"] = utcnow()
    context["data"] = Bag("data", data or {})
    context["source"] = Bag("source", source or {})
    context["coupon"] = SafeHelper(dict(codes or {}).__getitem__)
    return context


async def render_for(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    *,
    template_id: UUID,
    profile_id: UUID,
    message_id: UUID,
    data: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
) -> RenderedMessage:
    """Render a template's published version for one profile: the variant of the profile's
    locale (else its language, else the version's default), its coupons claimed for
    ``message_id`` first (a retry gets the same codes), within the time and output budgets.
    Raises RenderRefused(reason, detail)."""
    found = await repository.published(session, template_id)
    if found is None or found[1] is None:
        raise RenderRefused(RefusalReason.TEMPLATE_NOT_FOUND, "no such template, or none published")
    template, version = found
    assert version is not None
    if template.archived_at is not None:
        raise RenderRefused(
            RefusalReason.TEMPLATE_ARCHIVED, f"template '{template.key}' was deleted (archived)"
        )
    try:
        profile = await profile_service.get_profile(session, profile_id)
    except NotFound:
        raise RenderRefused(RefusalReason.PROFILE_NOT_FOUND, "no such profile") from None
    locale = choose_locale(version, profile.locale)
    codes = await coupons.claim_codes(session, tenant, version.pools, message_id)
    context = await render_context(
        session, tenant, version, profile, locale, codes=codes, data=data, source=source
    )
    context.update(live_context(settings, tenant, profile_id=profile.id, message_id=message_id))
    content = render_version(settings, version, template.channel, locale, context)
    return RenderedMessage(
        template_id=template.id,
        version_id=version.id,
        version=version.version,
        channel=template.channel,
        locale=locale,
        topic=template.topic,
        content=content,
    )


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
