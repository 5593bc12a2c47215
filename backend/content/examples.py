"""OpenAPI examples of the content domain (templates, versions, previews, snippets, coupon
pools)."""

from __future__ import annotations

from typing import Any

TEMPLATE = "01939a10-4b5c-7d6e-8f70-8192a3b4c5d6"
VERSION = "01939a11-5c6d-7e8f-9a01-b2c3d4e5f607"
SNIPPET = "01939a12-6d7e-7f80-8b12-c3d4e5f60718"
POOL = "01939a13-7e8f-7091-9c23-d4e5f6071829"
PROFILE = "01938f52-8a7b-7c6d-9e0f-1a2b3c4d5e6f"

_VARIANTS = {
    "fr": {
        "subject": "Bienvenue {{ first_name | default('') }}",
        "body": '<p>Votre code : {{ coupon("WELCOME10") }}</p>{% include "snippet:footer" %}',
    },
    "en": {
        "subject": "Welcome {{ first_name | default('') }}",
        "body": '<p>Your code: {{ coupon("WELCOME10") }}</p>{% include "snippet:footer" %}',
        "format": "html",
    },
}
_TEMPLATE = {
    "id": TEMPLATE,
    "key": "welcome",
    "name": "Welcome e-mail",
    "channel": "email",
    "topic": "newsletter",
    "currentVersionId": VERSION,
    "currentVersion": 2,
    "latestVersion": 2,
    "archivedAt": None,
    "createdAt": "2026-11-20T09:00:00Z",
    "updatedAt": "2026-11-21T10:30:00Z",
}
_VERSION = {
    "id": VERSION,
    "templateId": TEMPLATE,
    "version": 2,
    "defaultLocale": "fr",
    "locales": ["en", "fr"],
    "variants": _VARIANTS,
    "names": ["coupon", "first_name"],
    "pools": ["WELCOME10"],
    "snippets": ["footer"],
    "sms": None,
    "createdAt": "2026-11-21T10:30:00Z",
}
_SNIPPET = {
    "id": SNIPPET,
    "key": "footer",
    "name": "Footer",
    "body": '<p><a href="https://shop.example.com">Shop</a></p>',
    "createdAt": "2026-11-19T08:00:00Z",
    "updatedAt": "2026-11-19T08:00:00Z",
}
_POOL = {
    "id": POOL,
    "key": "WELCOME10",
    "name": "Welcome 10%",
    "total": 5000,
    "claimed": 1240,
    "left": 3760,
    "createdAt": "2026-11-18T08:00:00Z",
}

EXAMPLES: dict[str, Any] = {
    "TemplateCreate": {
        "key": "welcome",
        "name": "Welcome e-mail",
        "channel": "email",
        "topic": "newsletter",
        "defaultLocale": "fr",
        "variants": _VARIANTS,
    },
    "TemplateUpdate": {"name": "Welcome e-mail (2027)", "topic": None},
    "TemplateOut": _TEMPLATE,
    "TemplateVersionCreate": {"variants": _VARIANTS, "defaultLocale": "fr", "publish": True},
    "TemplateVersionOut": _VERSION,
    "TemplatePreviewIn": {
        "profileId": PROFILE,
        "locale": "fr-BE",
        "data": {"order": {"number": "A-1042"}},
    },
    "TemplatePreviewOut": {
        "templateId": TEMPLATE,
        "versionId": VERSION,
        "version": 2,
        "channel": "email",
        "locale": "fr",
        "subject": "Bienvenue Léa",
        "html": '<p>Votre code : SAMPLE-CODE</p><p><a href="https://shop.example.com">Shop</a></p>',
        "text": "Votre code : SAMPLE-CODE\n\n[Shop](https://shop.example.com)\n",
        "links": ["https://shop.example.com"],
    },
    "SnippetCreate": {
        "key": "footer",
        "name": "Footer",
        "body": '<p><a href="https://shop.example.com">Shop</a></p>',
    },
    "SnippetUpdate": {"body": '<p><a href="https://shop.example.com/fr">Boutique</a></p>'},
    "SnippetOut": _SNIPPET,
    "CouponPoolCreate": {"key": "WELCOME10", "name": "Welcome 10%"},
    "CouponPoolOut": _POOL,
    "CouponCodesUpload": {"codes": ["W10-7KQ2-9XLM", "W10-3PZR-1BVD"]},
    "CouponCodesAdded": {"received": 2, "added": 2, "duplicates": 0, "pool": _POOL},
}
