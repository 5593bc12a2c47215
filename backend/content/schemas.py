"""What the REST API reads and writes for templates, their versions, snippets and previews."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.content.models import ContentTemplate, TemplateChannel, TemplateVersion
from backend.content.sms import SmsInfo
from backend.core.schemas import Schema, whole

MAX_FIELD_CHARS = 500_000  # one field of a template or a snippet's body
Key = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z][a-z0-9_\-]{0,63}"), max_length=64, examples=["welcome"])
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Locale = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[a-z]{2,3}(?:-[A-Z]{2})?"),
        description="A language (`fr`) or a language and region (`fr-BE`).",
        examples=["fr-BE"],
    ),
]
TopicKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_FIELD_CHARS)]
Short = Annotated[str, msgspec.Meta(max_length=2000)]


class BodyFormat(StrEnum):
    HTML = "html"
    MJML = "mjml"


class VariantIn(Schema, kw_only=True):
    """One locale's content, as written (Jinja2). Email: `subject`, `body` (HTML, or MJML when
    `format` is `mjml`), optional `preheader` and `text` (generated from the HTML when absent).
    SMS: `text`. Push: `title`, `body`, optional `image`, `deepLink` and `data` (string values,
    each a template)."""

    subject: Short | None = None
    preheader: Short | None = None
    body: Text | None = None
    format: BodyFormat = BodyFormat.HTML
    text: Text | None = None
    title: Short | None = None
    image: Short | None = None
    deep_link: Short | None = None
    data: dict[str, Short] | None = None


Variants = Annotated[
    dict[Locale, VariantIn],
    msgspec.Meta(
        min_length=1,
        max_length=50,
        examples=[
            {"en": {"subject": "Hi {{ first_name | default('there') }}", "body": "<p>…</p>"}}
        ],
    ),
]


class TemplateVersionCreate(Schema, kw_only=True):
    """A new version (versions are never changed once saved). `defaultLocale` is the variant a
    profile gets when neither its locale nor its language has one (default: the brand's locale,
    which then must have a variant). `publish` makes it the version sent from now on."""

    variants: Variants
    default_locale: Locale | None = None
    publish: bool = True


class TemplateCreate(Schema, kw_only=True):
    """A template and its first version (published)."""

    key: Key
    name: Name
    channel: TemplateChannel
    topic: TopicKey | None = None
    variants: Variants
    default_locale: Locale | None = None


class TemplateUpdate(Schema):
    """Fields to change; the key and channel are fixed, content changes by a new version."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    topic: TopicKey | msgspec.UnsetType | None = msgspec.UNSET


class TemplateOut(Schema):
    """A template; `archivedAt` is set once it was deleted (kept for the messages naming its
    versions, hidden from lists, refused for new sends)."""

    id: UUID
    key: str
    name: str
    channel: TemplateChannel
    topic: str | None
    current_version_id: UUID | None
    current_version: int | None
    latest_version: int
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: ContentTemplate) -> TemplateOut:
        return cls.of(row)


class TemplatePage(Schema):
    items: list[TemplateOut]
    next_cursor: str | None


class TemplateVersionOut(Schema):
    """A saved version: its variants as written, the context names, coupon pools and snippets
    it uses, and (SMS) each locale's encoding and segments of its fixed text (the text without
    its `{{ … }}` parts: a preview measures a real message)."""

    id: UUID
    template_id: UUID
    version: int
    default_locale: str
    locales: list[str]
    variants: dict[str, Any]
    names: list[str]
    pools: list[str]
    snippets: list[str]
    sms: dict[str, SmsInfo] | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: TemplateVersion) -> TemplateVersionOut:
        sms = {
            locale: msgspec.convert(fields["sms"], SmsInfo)
            for locale, fields in row.compiled.items()
            if "sms" in fields
        }
        return cls(
            id=row.id,
            template_id=row.template_id,
            version=row.version,
            default_locale=row.default_locale,
            locales=row.locales,
            variants=row.variants,
            names=row.names,
            pools=row.pools,
            snippets=row.snippets,
            sms=sms or None,
            created_at=row.created_at,
        )


class TemplateVersionPage(Schema):
    items: list[TemplateVersionOut]
    next_cursor: str | None


class TemplatePreviewIn(Schema, kw_only=True):
    """Render a version (default: the published one) for a profile, with optional request
    `data` and a forced `locale`. Coupons show a sample code; nothing is claimed."""

    profile_id: UUID
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    locale: Locale | None = None
    data: dict[str, Any] | None = None


class TemplatePreviewOut(Schema, kw_only=True):
    """The rendered content: email (`subject`, `preheader`, `html`, `text`, `links`), SMS
    (`text`, `encoding`, `segments`, `units`) or push (`title`, `body`, `image`, `deepLink`,
    `data`)."""

    template_id: UUID
    version_id: UUID
    version: int
    channel: TemplateChannel
    locale: str
    subject: str | None = None
    preheader: str | None = None
    html: str | None = None
    text: str | None = None
    links: list[str] | None = None
    encoding: str | None = None
    segments: int | None = None
    units: int | None = None
    title: str | None = None
    body: str | None = None
    image: str | None = None
    deep_link: str | None = None
    data: dict[str, Any] | None = None


class SnippetCreate(Schema, kw_only=True):
    """A reusable piece of template, included as `{% include "snippet:key" %}`."""

    key: Key
    name: Name
    body: Text


class SnippetUpdate(Schema):
    """Fields to change; versions already saved keep the body they copied."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    body: Text | msgspec.UnsetType = msgspec.UNSET


class SnippetOut(Schema):
    id: UUID
    key: str
    name: str
    body: str
    created_at: dt.datetime
    updated_at: dt.datetime


class SnippetPage(Schema):
    items: list[SnippetOut]
    next_cursor: str | None
