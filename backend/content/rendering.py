"""The renders a send makes: :func:`render_many` for a batch of recipients (the contract in
docs/MESSAGING.md), :func:`render_for` for one (a batch of one: one code path).

A batch costs a constant number of queries whatever its size: the templates' published versions
in one, the profiles in one, each context part the versions use in one or two for all the
profiles (``context.load_parts``), each coupon pool claimed for all its holders at once; then
each message is rendered within its own budgets, and a refusal refuses that message only."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.content import repository
from backend.content.context import ContextParts, load_parts, profile_context
from backend.content.coupons import service as coupons
from backend.content.errors import RefusalReason, RenderRefused
from backend.content.formatting import helpers
from backend.content.live.blocks import live_context
from backend.content.models import ContentTemplate, TemplateChannel, TemplateVersion
from backend.content.render import Bag, Renderer, SafeHelper, TemplateCache
from backend.content.rendered import Rendered, RenderedEmail, RenderedPush, RenderedSms
from backend.content.sms import measure
from backend.core.db import utcnow
from backend.core.errors import NotFound
from backend.core.tenancy import TenantId
from backend.profiles import service as profile_service
from backend.profiles.models import Profile
from backend.profiles.service import ProfileMerged
from backend.tenancy import service as tenancy_service

log = structlog.get_logger(__name__)

BATCH = 1000  # requests read per round of queries (bounds the ids of one IN list)
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


@dataclass(frozen=True)
class RenderRequest:
    """One message of a batch: a template for a profile, ``message_id`` the coupons' holder;
    ``version_id`` pins a saved version of the template (else its published one)."""

    template_id: UUID
    profile_id: UUID
    message_id: UUID
    data: Mapping[str, Any] | None = None
    source: Mapping[str, Any] | None = None
    version_id: UUID | None = None


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


def build_context(
    parts: ContextParts,
    profile: Profile,
    names: Collection[str],
    locale: str,
    where: tuple[str, str],
    *,
    codes: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a version sees for one profile (``where``: its locale and time zone for the
    helpers, the brand's where it has none)."""
    context = profile_context(parts, profile, names)
    context.update(helpers(*where))
    context["locale"] = locale
    context["time_zone"] = where[1]
    context["now"] = utcnow()
    context["data"] = Bag("data", data or {})
    context["source"] = Bag("source", source or {})
    context["coupon"] = SafeHelper(dict(codes or {}).__getitem__)
    return context


class _Brand:
    """The brand's locale and time zone, read once and only when a profile lacks its own."""

    def __init__(self, session: AsyncSession, tenant: TenantId) -> None:
        self.session = session
        self.tenant = tenant
        self.found: tuple[str, str] | None = None

    async def where(self, profile: Profile) -> tuple[str, str]:
        if profile.locale and profile.time_zone:
            return profile.locale, profile.time_zone
        if self.found is None:
            brand = await tenancy_service.get_brand(self.session, self.tenant)
            self.found = (brand.locale, brand.time_zone)
        return profile.locale or self.found[0], profile.time_zone or self.found[1]


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
    parts = await load_parts(session, {profile.id: version.names})
    where = await _Brand(session, tenant).where(profile)
    return build_context(
        parts, profile, version.names, locale, where, codes=codes, data=data, source=source
    )


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
    Raises RenderRefused(reason, detail). A batch of one of :func:`render_many`."""
    request = RenderRequest(template_id, profile_id, message_id, data, source)
    (result,) = await render_many(session, tenant, settings, [request])
    if isinstance(result, RenderRefused):
        raise result
    return result


async def render_many(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    requests: Sequence[RenderRequest],
    *,
    profiles: Mapping[UUID, Profile] | None = None,
) -> list[RenderedMessage | RenderRefused]:
    """Render each request as :func:`render_for` would, in order: a RenderedMessage, or the
    RenderRefused that refuses that message alone. Queries are made per batch, not per
    request (see the module's docstring); on SQLite a batch claiming coupons must run in a
    transaction that is already the writer (``start_as_writer``), as a single render must.

    ``profiles``: profiles the caller has read in this session already, by their id (the
    pipeline's gate read the batch's): a request naming one of them is rendered for it without
    reading it again; the others are read as usual."""
    results: list[RenderedMessage | RenderRefused] = []
    for start in range(0, len(requests), BATCH):
        chunk = requests[start : start + BATCH]
        results += await _render_batch(session, tenant, settings, chunk, profiles or {})
    return results


async def _profiles(
    session: AsyncSession, ids: Sequence[UUID], known: Mapping[UUID, Profile]
) -> dict[UUID, Profile | RenderRefused]:
    found: dict[UUID, Profile | RenderRefused] = {i: known[i] for i in ids if i in known}
    unknown = [i for i in ids if i not in found]
    if unknown:
        found.update(await profile_service.profiles_by_ids(session, unknown))
    for profile_id in ids:
        if profile_id in found:
            continue
        try:  # gone, or merged into another: get_profile tells which
            found[profile_id] = await profile_service.get_profile(session, profile_id)
        except NotFound:
            found[profile_id] = RenderRefused(RefusalReason.PROFILE_NOT_FOUND, "no such profile")
        except ProfileMerged as exc:
            found[profile_id] = RenderRefused(
                RefusalReason.PROFILE_NOT_FOUND,
                f"the profile was merged into {exc.survivor_id}: send to that one",
            )
    return found


async def _render_batch(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    requests: Sequence[RenderRequest],
    known: Mapping[UUID, Profile],
) -> list[RenderedMessage | RenderRefused]:
    out: list[RenderedMessage | RenderRefused | None] = [None] * len(requests)
    published = await repository.published_many(
        session, {r.template_id for r in requests if r.version_id is None}
    )
    pinned = await repository.pinned_many(
        session, {r.version_id for r in requests if r.version_id is not None}
    )
    chosen: dict[int, tuple[ContentTemplate, TemplateVersion]] = {}
    for i, request in enumerate(requests):
        if request.version_id is not None:
            template, version = pinned.get(request.version_id, (None, None))
            if template is not None and template.id != request.template_id:
                template = version = None  # a version of another template: none of this one
        else:
            template, version = published.get(request.template_id, (None, None))
        if template is None or version is None:
            out[i] = RenderRefused(
                RefusalReason.TEMPLATE_NOT_FOUND, "no such template, or none published"
            )
        elif template.archived_at is not None:
            out[i] = RenderRefused(
                RefusalReason.TEMPLATE_ARCHIVED, f"template '{template.key}' was deleted (archived)"
            )
        else:
            chosen[i] = (template, version)

    wanted_ids = list(dict.fromkeys(requests[i].profile_id for i in chosen))
    profiles = await _profiles(session, wanted_ids, known)
    ready: dict[int, Profile] = {}
    for i in chosen:
        profile = profiles[requests[i].profile_id]
        if isinstance(profile, RenderRefused):
            out[i] = profile
        else:
            ready[i] = profile

    wanted: dict[UUID, list[str]] = {}
    for i in ready:
        wanted.setdefault(requests[i].message_id, []).extend(chosen[i][1].pools)
    claimed = await coupons.claim_for_many(session, tenant, wanted)

    names: dict[UUID, set[str]] = {}
    for i, profile in ready.items():
        names.setdefault(profile.id, set()).update(chosen[i][1].names)
    parts = await load_parts(session, names)
    brand = _Brand(session, tenant)
    for i, profile in ready.items():
        request = requests[i]
        template, version = chosen[i]
        codes = claimed[request.message_id]
        if isinstance(codes, RenderRefused):
            out[i] = codes
            continue
        locale = choose_locale(version, profile.locale)
        context = build_context(
            parts,
            profile,
            version.names,
            locale,
            await brand.where(profile),
            codes=codes,
            data=request.data,
            source=request.source,
        )
        context.update(
            live_context(settings, tenant, profile_id=profile.id, message_id=request.message_id)
        )
        try:
            content = render_version(settings, version, template.channel, locale, context)
        except RenderRefused as exc:
            out[i] = exc
            continue
        out[i] = RenderedMessage(
            template_id=template.id,
            version_id=version.id,
            version=version.version,
            channel=template.channel,
            locale=locale,
            topic=template.topic,
            content=content,
        )
    assert all(result is not None for result in out)
    return [result for result in out if result is not None]
