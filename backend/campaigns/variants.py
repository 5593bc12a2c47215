"""The exact content each variant sends: its template's pinned version, else the one published
now; a subject variant's own version (the base version with the subject replaced, saved once
as an unpublished version of the template, so the ledger names what was really sent); and the
render check a schedule makes on a sample of the audience."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaigns.checks import not_renderable
from backend.campaigns.models import Campaign, CampaignVariant
from backend.campaigns.plan import PlannedVariant
from backend.config import Settings
from backend.content import service as content_service
from backend.content.models import TemplateVersion
from backend.content.schemas import TemplatePreviewIn, TemplateVersionCreate
from backend.core.errors import InvalidInput, NotFound
from backend.core.tenancy import TenantId


async def _base_version(
    session: AsyncSession, template_id: UUID, number: int | None, index: int
) -> TemplateVersion:
    template = await content_service.get_template(session, template_id)
    number = number or template.current_version
    if number is None:
        raise InvalidInput(
            "the template has no published version",
            errors=[
                {
                    "field": "templateId",
                    "pointer": f"/variants/{index}/templateId",
                    "message": "publish a version first",
                }
            ],
        )
    return await content_service.get_version(session, template.id, number)


async def _with_subject(
    session: AsyncSession, tenant: TenantId, variant: CampaignVariant, base: TemplateVersion
) -> TemplateVersion:
    """The base version with the variant's subject, saved once (reused while both stay)."""
    assert variant.subject is not None
    digest = hashlib.sha256(variant.subject.encode()).hexdigest()[:16]
    made_for = f"{base.id.hex}:{digest}"
    if variant.resolved_for == made_for and variant.resolved_version_id is not None:
        found = await content_service.version_by_id(session, variant.resolved_version_id)
        if found is not None:
            return found
    sources = {
        locale: {**fields, "subject": variant.subject} for locale, fields in base.variants.items()
    }
    data = msgspec.convert(
        {"variants": sources, "defaultLocale": base.default_locale, "publish": False},
        TemplateVersionCreate,
    )
    made = await content_service.create_version(session, tenant, base.template_id, data)
    variant.resolved_for = made_for
    variant.resolved_version_id = made.id
    variant.resolved_template_id = base.template_id
    return made


async def resolve(
    session: AsyncSession,
    tenant: TenantId,
    campaign: Campaign,
    variants: Sequence[CampaignVariant],
) -> list[PlannedVariant]:
    """Each variant's channel, template and exact version, as of now."""
    planned = []
    for index, variant in enumerate(variants):
        template_id = variant.template_id or campaign.template_id
        try:
            version = await _base_version(session, template_id, variant.template_version, index)
        except NotFound:
            raise InvalidInput(
                "the variant's template or version is gone",
                errors=[
                    {
                        "field": "templateId",
                        "pointer": f"/variants/{index}/templateId",
                        "message": "no such template or version",
                    }
                ],
            ) from None
        if variant.subject is not None:
            version = await _with_subject(session, tenant, variant, version)
        planned.append(
            PlannedVariant(
                key=variant.key,
                weight=variant.weight,
                channel=variant.channel or campaign.channel,
                template_id=template_id,
                version_id=version.id,
                sender_identity_id=variant.sender_identity_id,
                send_delay_minutes=variant.send_delay_minutes,
            )
        )
    return planned


async def check_renders(
    session: AsyncSession,
    tenant: TenantId,
    settings: Settings,
    planned: Sequence[PlannedVariant],
    sample: Sequence[UUID],
) -> None:
    """Every variant renders for every sample profile (coupons show a sample code, nothing is
    claimed); the first failure is a 422 naming the variant, the profile and the reason."""
    for index, variant in enumerate(planned):
        version = await content_service.version_by_id(session, variant.version_id)
        assert version is not None
        for profile_id in sample:
            preview = TemplatePreviewIn(profile_id=profile_id, version=version.version)
            try:
                await content_service.preview(
                    session, tenant, settings, variant.template_id, preview
                )
            except InvalidInput as exc:
                raise not_renderable(index, variant.key, profile_id, exc.detail) from None
