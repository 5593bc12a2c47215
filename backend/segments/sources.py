"""What keeps materialised segments current between scheduled evaluations: profile writes,
orders and linked rows, accepted events (orders among them), consent changes, finished imports
and finished RFM runs. Each hook only
schedules work in the write's transaction (an incremental evaluation per profile a few seconds
later, or full evaluations after an import). Connected by :func:`connect`."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.signals import Signals
from backend.core.tenancy import TenantId, session_tenant
from backend.events import service as events_service
from backend.imports import service as imports_service
from backend.imports.models import ImportJob
from backend.profiles import consents as consents_service
from backend.profiles import service as profiles_service
from backend.profiles.models import ConsentChange, Profile
from backend.rfm import service as rfm_service
from backend.segments import membership
from backend.segments.models import EvaluationCause


async def profile_changed(
    session: AsyncSession,
    tenant: TenantId,
    profile: Profile,
    created: bool,
    changed: frozenset[str],
) -> None:
    await membership.profiles_changed(session, tenant, [profile.id])


async def related_changed(session: AsyncSession, profile_ids: Sequence[UUID]) -> None:
    tenant = session_tenant(session)
    if tenant is not None:
        await membership.profiles_changed(session, tenant, profile_ids)


async def rfm_run_finished(session: AsyncSession, tenant: TenantId) -> None:
    # Rules may read RFM scores and named segments: the brand's current run just changed.
    await membership.refresh_all_later(session, tenant, cause=EvaluationCause.RFM, reading="rfm")


async def events_accepted(
    session: AsyncSession, tenant: TenantId, events: Sequence[events_service.AcceptedEvent]
) -> None:
    await membership.profiles_changed(session, tenant, [e.profile_id for e in events])


async def consent_changed(session: AsyncSession, profile: Profile, change: ConsentChange) -> None:
    await membership.profiles_changed(session, TenantId(profile.tenant_id), [profile.id])


async def import_finished(session: AsyncSession, job: ImportJob) -> None:
    if job.rows_done:
        await membership.refresh_all_later(session, TenantId(job.tenant_id))


def connect(signals: Signals) -> None:
    """Connect what keeps segments current to the signals of the domains they read."""
    signals.connect(profiles_service.PROFILE_CHANGED, profile_changed)
    signals.connect(profiles_service.PROFILE_RELATED_CHANGED, related_changed)
    signals.connect(rfm_service.RFM_RUN_FINISHED, rfm_run_finished)
    signals.connect(events_service.EVENTS_ACCEPTED, events_accepted)
    signals.connect(consents_service.CONSENT_CHANGED, consent_changed)
    signals.connect(imports_service.IMPORT_FINISHED, import_finished)
