"""Where webhook events come from: receivers of the profiles', consents' and imports' signals
(connected by :func:`connect`), publishing in the transaction of the change they report."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.signals import Signals
from backend.core.tenancy import TenantId
from backend.imports import service as imports_service
from backend.imports.models import ImportJob
from backend.profiles import consents as consents_service
from backend.profiles import service as profiles_service
from backend.profiles.models import ConsentChange, Profile
from backend.webhooks.models import WebhookEventType
from backend.webhooks.service import publish


def profile_payload(profile: Profile) -> dict[str, Any]:
    return {
        "id": str(profile.id),
        "email": profile.email,
        "phone": profile.phone,
        "firstName": profile.first_name,
        "lastName": profile.last_name,
        "birthDate": profile.birth_date.isoformat() if profile.birth_date else None,
        "locale": profile.locale,
        "timeZone": profile.time_zone,
        "country": profile.country,
        "preferredStore": profile.preferred_store,
        "channelAppetency": profile.channel_appetency,
        "attributes": dict(profile.attributes or {}),
    }


async def profile_changed(
    session: AsyncSession,
    tenant: TenantId,
    profile: Profile,
    created: bool,
    changed: frozenset[str],
) -> None:
    if not created and not changed:
        return  # a write that changed nothing (an upsert of the same values) tells no one
    kind = WebhookEventType.PROFILE_CREATED if created else WebhookEventType.PROFILE_UPDATED
    await publish(session, tenant, kind, {"profile": profile_payload(profile)})


async def consent_changed(session: AsyncSession, profile: Profile, change: ConsentChange) -> None:
    payload = {
        "profileId": str(profile.id),
        "consentId": str(change.id),
        "channel": change.channel,
        "topic": change.topic,
        "state": change.state,
        "source": change.source,
        "occurredAt": change.occurred_at.isoformat(),
    }
    await publish(session, TenantId(profile.tenant_id), WebhookEventType.CONSENT_CHANGED, payload)


async def import_finished(session: AsyncSession, job: ImportJob) -> None:
    payload = {
        "importId": str(job.id),
        "kind": job.kind,
        "status": job.status,
        "rows": job.rows_done,
        "created": job.created_count,
        "updated": job.updated_count,
        "rejected": job.rejected_count,
        "error": job.error,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }
    await publish(session, TenantId(job.tenant_id), WebhookEventType.IMPORT_FINISHED, payload)


def connect(signals: Signals) -> None:
    """Connect the webhook events' sources to the profiles', consents' and imports' signals."""
    signals.connect(profiles_service.PROFILE_CHANGED, profile_changed)
    signals.connect(consents_service.CONSENT_CHANGED, consent_changed)
    signals.connect(imports_service.IMPORT_FINISHED, import_finished)
