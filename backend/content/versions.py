"""Saving a version: every locale's fields checked (422 with line and column naming each
problem), snippets copied in, coupon pools checked, MJML compiled, CSS inlined, the text part
generated, SMS measured. Nothing is stored unless all of it passes."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.content import repository
from backend.content.compile import (
    _JINJA_TAG,
    Problems,
    check_source,
    compile_mjml,
    compiles,
    inline_css,
    inline_snippets,
    text_of_html,
)
from backend.content.coupons import service as coupons
from backend.content.models import ContentTemplate, TemplateChannel, TemplateVersion
from backend.content.schemas import BodyFormat, VariantIn
from backend.content.sms import measure
from backend.core.errors import InvalidInput
from backend.core.ids import new_id

# Fields each channel renders: (name in the variant, required, is HTML).
FIELDS: dict[TemplateChannel, tuple[tuple[str, bool, bool], ...]] = {
    TemplateChannel.EMAIL: (
        ("subject", True, False),
        ("preheader", False, False),
        ("body", True, True),
        ("text", False, False),
    ),
    TemplateChannel.SMS: (("text", True, False),),
    TemplateChannel.PUSH: (
        ("title", True, False),
        ("body", True, False),
        ("image", False, False),
        ("deep_link", False, False),
    ),
}
_WIRE = {"deep_link": "deepLink"}
_OTHER_FIELDS = ("subject", "preheader", "body", "text", "title", "image", "deep_link", "data")


def _sources(channel: TemplateChannel, variant: VariantIn) -> dict[str, str]:
    """The variant's template fields of this channel (push data keys as ``data.<key>``)."""
    sources = {
        name: getattr(variant, name)
        for name, _, _ in FIELDS[channel]
        if getattr(variant, name) is not None
    }
    if channel is TemplateChannel.PUSH:
        for key, value in (variant.data or {}).items():
            sources[f"data.{key}"] = value
    return sources


def _pointer(locale: str, field: str) -> str:
    if field.startswith("data."):
        return f"/variants/{locale}/data/{field[5:]}"
    return f"/variants/{locale}/{_WIRE.get(field, field)}"


def _check_shape(
    channel: TemplateChannel, locale: str, variant: VariantIn, problems: Problems
) -> None:
    allowed = {name for name, _, _ in FIELDS[channel]} | (
        {"data"} if channel is TemplateChannel.PUSH else set()
    )
    for name, required, _ in FIELDS[channel]:
        value = getattr(variant, name)
        if required and (value is None or not value.strip()):
            problems.add(_pointer(locale, name), f"a {channel.value} template needs `{name}`")
    for name in _OTHER_FIELDS:
        if name not in allowed and getattr(variant, name) is not None:
            problems.add(_pointer(locale, name), f"a {channel.value} template has no `{name}`")
    if channel is TemplateChannel.EMAIL and variant.format is BodyFormat.MJML:
        body = variant.body or ""
        if body and "<mjml" not in body:
            problems.add(_pointer(locale, "body"), "an MJML body starts with <mjml>")


def _fail(problems: Problems) -> None:
    if problems.items:
        raise InvalidInput("the template does not compile", errors=problems.items)


async def build_version(
    session: AsyncSession,
    template: ContentTemplate,
    variants: dict[str, VariantIn],
    default_locale: str,
) -> TemplateVersion:
    """The next version of ``template`` (not yet added to the session); 422 on any problem."""
    problems = Problems()
    if default_locale not in variants:
        problems.add(
            "/defaultLocale",
            f"the default locale '{default_locale}' has no variant (give one, or name another)",
        )
    sources: dict[str, dict[str, str]] = {}
    snippet_keys: set[str] = set()
    for locale, variant in variants.items():
        _check_shape(template.channel, locale, variant, problems)
        sources[locale] = _sources(template.channel, variant)
        for field, source in sources[locale].items():
            snippet_keys |= check_source(source, _pointer(locale, field), problems).snippets
    _fail(problems)

    snippets = await repository.snippets_by_key(session, sorted(snippet_keys))
    for key in sorted(snippet_keys - set(snippets)):
        problems.add("/variants", f"unknown snippet '{key}'")
    _fail(problems)
    bodies = {key: s.body for key, s in snippets.items()}

    names: set[str] = set()
    pools: set[str] = set()
    compiled: dict[str, dict[str, Any]] = {}
    for locale, fields in sources.items():
        resolved = {f: inline_snippets(s, bodies) for f, s in fields.items()}
        for field, source in resolved.items():
            checked = check_source(source, _pointer(locale, field), problems)
            names |= checked.names
            pools |= checked.pools
        compiled[locale] = _compiled(template.channel, locale, variants[locale], resolved, problems)
    for key in await coupons.unknown_pools(session, sorted(pools)):
        problems.add("/variants", f"unknown coupon pool '{key}'")
    _fail(problems)
    return TemplateVersion(
        id=new_id(),
        template_id=template.id,
        version=template.latest_version + 1,
        default_locale=default_locale,
        variants={
            locale: {k: v for k, v in _as_dict(variant).items() if v is not None}
            for locale, variant in variants.items()
        },
        compiled=compiled,
        names=sorted(names),
        pools=sorted(pools),
        snippets=sorted(snippet_keys),
    )


def _as_dict(variant: VariantIn) -> dict[str, Any]:
    return {
        "subject": variant.subject,
        "preheader": variant.preheader,
        "body": variant.body,
        "format": variant.format.value if variant.body is not None else None,
        "text": variant.text,
        "title": variant.title,
        "image": variant.image,
        "deepLink": variant.deep_link,
        "data": variant.data,
    }


def _compiled(
    channel: TemplateChannel,
    locale: str,
    variant: VariantIn,
    resolved: dict[str, str],
    problems: Problems,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if channel is TemplateChannel.EMAIL:
        body = resolved.get("body", "")
        if variant.format is BodyFormat.MJML:
            html, error = compile_mjml(body)
            if html is None:
                problems.add(_pointer(locale, "body"), error or "MJML does not compile")
                return out
            body = html
        out["html"] = inline_css(body)
        out["subject"] = resolved["subject"]
        if "preheader" in resolved:
            out["preheader"] = resolved["preheader"]
        out["text"] = resolved.get("text") or text_of_html(out["html"])
        for field in ("html", "text"):
            error = compiles(out[field], html=field == "html")
            if error:
                problems.add(_pointer(locale, "body"), f"the compiled {field} breaks: {error}")
    elif channel is TemplateChannel.SMS:
        out["text"] = resolved["text"]
        info = measure(_JINJA_TAG.sub("", resolved["text"]))
        out["sms"] = {
            "encoding": info.encoding.value,
            "units": info.units,
            "segments": info.segments,
        }
    else:
        out.update({k: v for k, v in resolved.items() if not k.startswith("data.")})
        out["data"] = {k[5:]: v for k, v in resolved.items() if k.startswith("data.")}
    return out
