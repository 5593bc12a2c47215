"""GraphQL of campaigns: the REST shapes (derived from `backend.campaigns.schemas`) and the
same services. Expected failures of mutations are the `OperationError` member of their result
union (an empty audience, content that does not render, a schedule in the past… with the REST
problem's type)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from uuid import UUID

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaigns import service
from backend.campaigns.models import (
    AbTestMode,
    CampaignStatus,
    OccurrenceKind,
    OccurrenceStatus,
    RecipientState,
    ScheduleKind,
    WinnerMetric,
)
from backend.campaigns.schemas import (
    CampaignAudience,
    CampaignCreate,
    CampaignFallback,
    CampaignOccurrenceOut,
    CampaignOut,
    CampaignProgress,
    CampaignRecipientOut,
    CampaignSchedule,
    CampaignTest,
    CampaignTestSendIn,
    CampaignUpdate,
    CampaignVariantIn,
    CampaignVariantOut,
    CampaignVariantProgress,
)
from backend.config import Settings
from backend.core.graphql_entities import entity_type, graphql_enum, input_type, struct_of
from backend.core.graphql_fields import BrandUnit, brand_mutation, brand_query
from backend.core.graphql_results import Deleted, parse_id
from backend.core.graphql_subscriptions import BrandWatch, ProgressFields, brand_subscription
from backend.core.live import Progress
from backend.core.relay import Connection, Node

READ, WRITE = "campaigns:read", "campaigns:write"
graphql_enum(CampaignStatus)
graphql_enum(ScheduleKind, "CampaignScheduleKind")
graphql_enum(AbTestMode, "CampaignTestMode")
graphql_enum(WinnerMetric, "CampaignWinnerMetric")
graphql_enum(OccurrenceKind, "CampaignOccurrenceKind")
graphql_enum(OccurrenceStatus, "CampaignOccurrenceStatus")
graphql_enum(RecipientState, "CampaignRecipientState")


async def _load_campaign(session: AsyncSession, campaign_id: UUID) -> CampaignOut:
    campaign, variants = await service.with_variants(session, campaign_id)
    return CampaignOut.of_campaign(campaign, variants)


def _settings(unit: BrandUnit) -> Settings:
    request = unit.context.request
    assert request is not None
    settings: Settings = request.app.state.settings
    return settings


def _campaign_id(value: strawberry.ID) -> UUID:
    return parse_id(value, "Campaign")


@entity_type(CampaignAudience, name="CampaignAudience")
class CampaignAudienceType:
    pass


@entity_type(CampaignFallback, name="CampaignFallback")
class CampaignFallbackType:
    pass


@entity_type(CampaignSchedule, name="CampaignSchedule")
class CampaignScheduleType:
    pass


@entity_type(CampaignVariantOut, name="CampaignVariant")
class CampaignVariantType:
    pass


@entity_type(CampaignTest, name="CampaignTest")
class CampaignTestType:
    pass


@entity_type(CampaignOut, name="Campaign", node=(READ, _load_campaign))
class CampaignType(Node):
    """A communication to a target at a time: audience, channel, content per variant,
    schedule and test settings."""


@entity_type(CampaignOccurrenceOut, name="CampaignOccurrence")
class CampaignOccurrenceType:
    """One send of a campaign (a test send too)."""


@entity_type(CampaignRecipientOut, name="CampaignRecipient")
class CampaignRecipientType:
    pass


@entity_type(CampaignVariantProgress, name="CampaignVariantProgress")
class CampaignVariantProgressType:
    pass


@entity_type(CampaignProgress, name="CampaignProgress")
class CampaignProgressType:
    pass


@input_type(CampaignAudience, name="CampaignAudienceInput")
class CampaignAudienceInput:
    pass


@input_type(CampaignFallback, name="CampaignFallbackInput")
class CampaignFallbackInput:
    pass


@input_type(CampaignSchedule, name="CampaignScheduleInput")
class CampaignScheduleInput:
    pass


@input_type(CampaignVariantIn, name="CampaignVariantInput")
class CampaignVariantInput:
    pass


@input_type(CampaignTest, name="CampaignTestInput")
class CampaignTestInput:
    pass


@input_type(CampaignCreate, name="CreateCampaignInput")
class CreateCampaignInput:
    pass


@input_type(CampaignUpdate, name="UpdateCampaignInput")
class UpdateCampaignInput:
    id: strawberry.ID


@input_type(CampaignTestSendIn, name="SendCampaignTestInput")
class SendCampaignTestInput:
    id: strawberry.ID = strawberry.field(description="The campaign.")


@strawberry.input(description="Names one campaign.")
class CampaignIdInput:
    id: strawberry.ID


@strawberry.type
class CampaignsQuery:
    @brand_query(READ)
    async def campaigns(
        self, unit: BrandUnit, first: int = 50, after: str | None = None
    ) -> Connection[CampaignType]:
        """The brand's campaigns, in creation order."""
        page = unit.page(first, after)
        items, cursor = await service.list_campaigns(unit.session, page)
        return unit.connection(
            [CampaignOut.of_campaign(c, v) for c, v in items],
            cursor,
            page,
            count=service.count_campaigns,
        )

    @brand_query(READ, missing_is_null=True)
    async def campaign(self, unit: BrandUnit, id: strawberry.ID) -> CampaignType | None:
        """One campaign (null when the brand has none with this id)."""
        return await _load_campaign(unit.session, _campaign_id(id))

    @brand_query(READ)
    async def campaign_progress(
        self, unit: BrandUnit, id: strawberry.ID, occurrence_id: strawberry.ID | None = None
    ) -> CampaignProgressType:
        """Where the campaign's latest occurrence (or the one named) stands, live."""
        occurrence = parse_id(occurrence_id) if occurrence_id is not None else None
        return await service.get_progress(unit.session, _campaign_id(id), occurrence)

    @brand_query(READ)
    async def campaign_occurrences(
        self, unit: BrandUnit, id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[CampaignOccurrenceType]:
        """Each send of the campaign (test sends too), oldest first."""
        page = unit.page(first, after)
        items, cursor = await service.list_occurrences(unit.session, _campaign_id(id), page)
        return unit.connection(CampaignOccurrenceOut.many(items), cursor, page)

    @brand_query(READ, missing_is_null=True)
    async def campaign_occurrence(
        self, unit: BrandUnit, campaign_id: strawberry.ID, id: strawberry.ID
    ) -> CampaignOccurrenceType | None:
        """One send of a campaign (null when it has none with this id)."""
        occurrence = await service.get_occurrence(
            unit.session, _campaign_id(campaign_id), parse_id(id)
        )
        return CampaignOccurrenceOut.of(occurrence)

    @brand_query(READ)
    async def campaign_recipients(
        self,
        unit: BrandUnit,
        campaign_id: strawberry.ID,
        occurrence_id: strawberry.ID,
        first: int = 50,
        after: str | None = None,
        state: RecipientState | None = None,
        variant: str | None = None,
    ) -> Connection[CampaignRecipientType]:
        """An occurrence's audience snapshot: each profile's variant, state and message."""
        page = unit.page(first, after)
        items, cursor = await service.list_recipients(
            unit.session,
            _campaign_id(campaign_id),
            parse_id(occurrence_id),
            page,
            state=RecipientState(state.value) if state else None,
            variant=variant,
        )
        return unit.connection(
            CampaignRecipientOut.many(items), cursor, page, key=lambda r: r.profile_id
        )


@strawberry.type
class CampaignsMutation:
    @brand_mutation(WRITE)
    async def create_campaign(self, unit: BrandUnit, input: CreateCampaignInput) -> CampaignType:
        """Create a draft campaign (its shape and what it names are checked)."""
        data = struct_of(CampaignCreate, input)
        campaign, variants = await service.create_campaign(unit.session, unit.tenant, data)
        return CampaignOut.of_campaign(campaign, variants)

    @brand_mutation(WRITE)
    async def update_campaign(self, unit: BrandUnit, input: UpdateCampaignInput) -> CampaignType:
        """Change a draft, or a scheduled campaign until it starts."""
        campaign, variants = await service.update_campaign(
            unit.session,
            unit.tenant,
            _settings(unit),
            _campaign_id(input.id),
            struct_of(CampaignUpdate, input),
        )
        return CampaignOut.of_campaign(campaign, variants)

    @brand_mutation(WRITE)
    async def delete_campaign(self, unit: BrandUnit, input: CampaignIdInput) -> Deleted:
        """Delete a campaign that is not sending nor paused."""
        await service.delete_campaign(unit.session, _campaign_id(input.id))
        return Deleted(id=input.id)

    @brand_mutation(WRITE)
    async def schedule_campaign(self, unit: BrandUnit, input: CampaignIdInput) -> CampaignType:
        """Schedule a draft (audience, schedule and content checked)."""
        campaign_id = _campaign_id(input.id)
        await service.schedule_campaign(unit.session, unit.tenant, _settings(unit), campaign_id)
        return await _load_campaign(unit.session, campaign_id)

    @brand_mutation(WRITE)
    async def pause_campaign(self, unit: BrandUnit, input: CampaignIdInput) -> CampaignType:
        """Stop releasing and hold the messages not claimed yet."""
        campaign_id = _campaign_id(input.id)
        await service.pause_campaign(unit.session, unit.tenant, campaign_id)
        return await _load_campaign(unit.session, campaign_id)

    @brand_mutation(WRITE)
    async def resume_campaign(self, unit: BrandUnit, input: CampaignIdInput) -> CampaignType:
        """Go on where it stopped."""
        campaign_id = _campaign_id(input.id)
        await service.resume_campaign(unit.session, unit.tenant, campaign_id)
        return await _load_campaign(unit.session, campaign_id)

    @brand_mutation(WRITE)
    async def cancel_campaign(self, unit: BrandUnit, input: CampaignIdInput) -> CampaignType:
        """Stop for good: what was not sent never will be."""
        campaign_id = _campaign_id(input.id)
        await service.cancel_campaign(unit.session, unit.tenant, campaign_id)
        return await _load_campaign(unit.session, campaign_id)

    @brand_mutation(WRITE)
    async def send_campaign_test(
        self, unit: BrandUnit, input: SendCampaignTestInput
    ) -> CampaignOccurrenceType:
        """Send one variant now to a seed list (an occurrence of kind `test`)."""
        occurrence = await service.send_test(
            unit.session,
            unit.tenant,
            _settings(unit),
            _campaign_id(input.id),
            struct_of(CampaignTestSendIn, input),
        )
        return CampaignOccurrenceOut.of(occurrence)


# An occurrence in one of these statuses has nothing left to send: its stream ends there.
_OCCURRENCE_ENDED = frozenset(
    {OccurrenceStatus.SENT, OccurrenceStatus.CANCELLED, OccurrenceStatus.FAILED}
)


@strawberry.type(name="CampaignSendProgress")
class CampaignSendProgressType(ProgressFields):
    """How far a campaign's occurrence got, in recipients: `done` counts those settled (sent,
    failed, refused by the gate, excluded, held out, cancelled) out of the `total` targeted; with
    the detailed counters as the `campaignProgress` query gives them."""

    progress: CampaignProgressType

    @classmethod
    def of(cls, progress: CampaignProgress, now: dt.datetime) -> CampaignSendProgressType:
        pending = progress.waiting + progress.queued + progress.deferred
        done = max(0, progress.targeted - pending)
        ended = progress.finished_at if _ended(progress) else None
        values = ProgressFields.values(
            Progress(done, progress.targeted, progress.started_at, ended, now)
        )
        return cls(**values, progress=progress)  # type: ignore[arg-type]


def _ended(progress: CampaignProgress) -> bool:
    return progress.occurrence_status in _OCCURRENCE_ENDED and progress.finished_at is not None


@strawberry.type
class CampaignsSubscription:
    @brand_subscription(READ)
    async def campaign_progress(
        self, unit: BrandWatch, id: strawberry.ID, occurrence_id: strawberry.ID | None = None
    ) -> AsyncGenerator[CampaignSendProgressType, None]:
        """A campaign's send, live: where its latest occurrence (or the one named) stands now,
        then each change (read every `LEVIER_LIVE_POLL_SECONDS`), until it was sent, cancelled
        or failed — that last message has `finished: true`, then the subscription completes."""
        campaign_id = _campaign_id(id)
        occurrence = parse_id(occurrence_id) if occurrence_id is not None else None
        async for progress in unit.follow(
            lambda session: service.get_progress(session, campaign_id, occurrence),
            finished=_ended,
        ):
            yield CampaignSendProgressType.of(progress, unit.now())
