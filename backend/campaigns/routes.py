"""REST routes of campaigns under ``/v1/brands/{brand_id}``: write and read them, schedule,
pause, resume, cancel, test-send, and read their occurrences, recipients and progress. The
brand guard answers 404 for a brand out of reach, and a campaign of another brand is not found
either; reads need `campaigns:read`, writes `campaigns:write`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import delete, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from backend.auth.scopes import needs
from backend.campaigns import service
from backend.campaigns.models import RecipientState
from backend.campaigns.schemas import (
    CampaignCreate,
    CampaignOccurrenceOut,
    CampaignOccurrencePage,
    CampaignOut,
    CampaignPage,
    CampaignProgress,
    CampaignRecipientOut,
    CampaignRecipientPage,
    CampaignTestSendIn,
    CampaignUpdate,
)
from backend.core.api import READ_ERRORS, WRITE_ERRORS, BrandController
from backend.core.dependencies import DbSession, Paging, Tenant

READ, WRITE = "campaigns:read", "campaigns:write"


async def _out(db_session: DbSession, campaign_id: UUID) -> CampaignOut:
    campaign, variants = await service.with_variants(db_session, campaign_id)
    return CampaignOut.of_campaign(campaign, variants)


class CampaignController(BrandController):
    """The brand's campaigns: audience, channel, content per variant, schedule, tests."""

    path = "/v1/brands/{brand_id:uuid}/campaigns"
    tags = ["campaigns"]

    @get("/", operation_id="listCampaigns", summary="List campaigns", **needs(READ),
         responses=READ_ERRORS)  # fmt: skip
    async def list_campaigns(self, db_session: DbSession, page: Paging) -> CampaignPage:
        """The brand's campaigns, in creation order, with their variants."""
        items, cursor = await service.list_campaigns(db_session, page)
        return CampaignPage([CampaignOut.of_campaign(c, v) for c, v in items], cursor)

    @post("/", operation_id="createCampaign", summary="Create a campaign", **needs(WRITE),
          status_code=HTTP_201_CREATED, responses=WRITE_ERRORS)  # fmt: skip
    async def create_campaign(
        self, db_session: DbSession, tenant: Tenant, data: JSONBody[CampaignCreate]
    ) -> CampaignOut:
        """A draft campaign. 422 (nothing stored) when the variants' weights do not add up to
        100 % (`invalid-split`), a winner test lacks its settings, the schedule's fields do
        not fit its kind, or a segment, template (of the channel), version, sender identity or
        consent topic it names does not exist."""
        campaign, variants = await service.create_campaign(db_session, tenant, data)
        return CampaignOut.of_campaign(campaign, variants)

    @get("/{campaign_id:uuid}", operation_id="getCampaign", summary="Read a campaign",
         **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def get_campaign(self, db_session: DbSession, campaign_id: FromPath[UUID]) -> CampaignOut:
        """One campaign with its variants, status and next planned occurrence."""
        return await _out(db_session, campaign_id)

    @patch("/{campaign_id:uuid}", operation_id="updateCampaign", summary="Change a campaign",
           **needs(WRITE), responses=WRITE_ERRORS)  # fmt: skip
    async def update_campaign(
        self,
        db_session: DbSession,
        tenant: Tenant,
        state: State,
        campaign_id: FromPath[UUID],
        data: JSONBody[CampaignUpdate],
    ) -> CampaignOut:
        """Change a draft, or a scheduled campaign until it starts (checked as when scheduled,
        and planned again); 409 once it is sending — then it can only be paused or
        cancelled."""
        campaign, variants = await service.update_campaign(
            db_session, tenant, state.settings, campaign_id, data
        )
        return CampaignOut.of_campaign(campaign, variants)

    @delete("/{campaign_id:uuid}", operation_id="deleteCampaign", summary="Delete a campaign",
            **needs(WRITE), status_code=HTTP_204_NO_CONTENT, responses=WRITE_ERRORS)  # fmt: skip
    async def delete_campaign(self, db_session: DbSession, campaign_id: FromPath[UUID]) -> None:
        """Delete a campaign with its occurrences and recipients (409 while it is sending or
        paused: cancel it first). The messages it sent stay in the ledger."""
        await service.delete_campaign(db_session, campaign_id)

    @post("/{campaign_id:uuid}/schedule", operation_id="scheduleCampaign",
          summary="Schedule a campaign", **needs(WRITE), status_code=200,
          responses=WRITE_ERRORS)  # fmt: skip
    async def schedule_campaign(
        self, db_session: DbSession, tenant: Tenant, state: State, campaign_id: FromPath[UUID]
    ) -> CampaignOut:
        """Schedule a draft. Refused 422 when its audience is empty (`empty-audience`), a
        variant does not render for a sample profile (`campaign-not-renderable`, naming the
        profile and the reason), its moment is past (`schedule-in-past`) or its RRULE never
        fires (`rrule-never-fires`). A `now` campaign starts at once."""
        await service.schedule_campaign(db_session, tenant, state.settings, campaign_id)
        return await _out(db_session, campaign_id)

    @post("/{campaign_id:uuid}/pause", operation_id="pauseCampaign", summary="Pause a campaign",
          **needs(WRITE), status_code=200, responses=WRITE_ERRORS)  # fmt: skip
    async def pause_campaign(
        self, db_session: DbSession, tenant: Tenant, campaign_id: FromPath[UUID]
    ) -> CampaignOut:
        """Stop releasing recipients and hold every message not yet claimed by a worker; a
        scheduled campaign does not start while paused. 409 unless scheduled or sending."""
        await service.pause_campaign(db_session, tenant, campaign_id)
        return await _out(db_session, campaign_id)

    @post("/{campaign_id:uuid}/resume", operation_id="resumeCampaign",
          summary="Resume a campaign", **needs(WRITE), status_code=200,
          responses=WRITE_ERRORS)  # fmt: skip
    async def resume_campaign(
        self, db_session: DbSession, tenant: Tenant, campaign_id: FromPath[UUID]
    ) -> CampaignOut:
        """Go on where it stopped, without sending anyone a second message; a start that fell
        due while paused happens now. 409 unless paused."""
        await service.resume_campaign(db_session, tenant, campaign_id)
        return await _out(db_session, campaign_id)

    @post("/{campaign_id:uuid}/cancel", operation_id="cancelCampaign",
          summary="Cancel a campaign", **needs(WRITE), status_code=200,
          responses=WRITE_ERRORS)  # fmt: skip
    async def cancel_campaign(
        self, db_session: DbSession, tenant: Tenant, campaign_id: FromPath[UUID]
    ) -> CampaignOut:
        """Stop for good: what was not sent never will be (recipients not released are
        cancelled, waiting messages withdrawn as `refused` `campaign-cancelled`). 409 once
        sent or cancelled."""
        await service.cancel_campaign(db_session, tenant, campaign_id)
        return await _out(db_session, campaign_id)

    @post("/{campaign_id:uuid}/test-sends", operation_id="sendCampaignTest",
          summary="Send a campaign to a seed list", **needs(WRITE),
          status_code=HTTP_202_ACCEPTED, responses=WRITE_ERRORS)  # fmt: skip
    async def send_test(
        self,
        db_session: DbSession,
        tenant: Tenant,
        state: State,
        campaign_id: FromPath[UUID],
        data: JSONBody[CampaignTestSendIn],
    ) -> CampaignOccurrenceOut:
        """Send one variant now to seed profiles (by id and/or a segment, 50 at most): an
        occurrence of kind `test`, its messages transactional (a proof is not held back by
        pressure, quiet hours or consent). Any state but cancelled."""
        occurrence = await service.send_test(db_session, tenant, state.settings, campaign_id, data)
        return CampaignOccurrenceOut.of(occurrence)

    @get("/{campaign_id:uuid}/progress", operation_id="getCampaignProgress",
         summary="Read a campaign's progress", **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def get_progress(
        self,
        db_session: DbSession,
        campaign_id: FromPath[UUID],
        occurrence_id: Annotated[
            UUID | None,
            QueryParameter(name="occurrenceId", description="Default: the latest occurrence."),
        ] = None,
    ) -> CampaignProgress:
        """Where its latest occurrence (or the one named) stands, live: targeted, excluded by
        reason, holdout, waiting, queued, deferred, sent, failed, cancelled, engagement, and
        per variant (with the winner's scores)."""
        return await service.get_progress(db_session, campaign_id, occurrence_id)

    @get("/{campaign_id:uuid}/occurrences", operation_id="listCampaignOccurrences",
         summary="List a campaign's occurrences", **needs(READ),
         responses=READ_ERRORS)  # fmt: skip
    async def list_occurrences(
        self, db_session: DbSession, page: Paging, campaign_id: FromPath[UUID]
    ) -> CampaignOccurrencePage:
        """Each send of the campaign (test sends too), oldest first, with its counters."""
        items, cursor = await service.list_occurrences(db_session, campaign_id, page)
        return CampaignOccurrencePage(CampaignOccurrenceOut.many(items), cursor)

    @get("/{campaign_id:uuid}/occurrences/{occurrence_id:uuid}",
         operation_id="getCampaignOccurrence", summary="Read an occurrence", **needs(READ),
         responses=READ_ERRORS)  # fmt: skip
    async def get_occurrence(
        self, db_session: DbSession, campaign_id: FromPath[UUID], occurrence_id: FromPath[UUID]
    ) -> CampaignOccurrenceOut:
        """One send of the campaign: status, planned and real times, counters, winner."""
        return CampaignOccurrenceOut.of(
            await service.get_occurrence(db_session, campaign_id, occurrence_id)
        )

    @get("/{campaign_id:uuid}/occurrences/{occurrence_id:uuid}/recipients",
         operation_id="listCampaignRecipients", summary="List an occurrence's recipients",
         **needs(READ), responses=READ_ERRORS)  # fmt: skip
    async def list_recipients(
        self,
        db_session: DbSession,
        page: Paging,
        campaign_id: FromPath[UUID],
        occurrence_id: FromPath[UUID],
        recipient_state: Annotated[
            RecipientState | None,
            QueryParameter(name="state", description="Only recipients in this state."),
        ] = None,
        variant: Annotated[
            str | None, QueryParameter(description="Only recipients of this variant.")
        ] = None,
    ) -> CampaignRecipientPage:
        """The occurrence's audience snapshot (keyset pages by profile id): each profile's
        variant and state — holdout and excluded ones included — and its message."""
        items, cursor = await service.list_recipients(
            db_session, campaign_id, occurrence_id, page, state=recipient_state, variant=variant
        )
        return CampaignRecipientPage(CampaignRecipientOut.many(items), cursor)
