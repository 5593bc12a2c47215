"""What a campaign must satisfy: its shape when saved (splits, test settings, schedule fields,
the templates, segments, sender identities and topic it names), and, when scheduled, that it
will send something — an audience that is not empty, a schedule that is not in the past, an
RRULE that fires, content that renders for a sample of the audience. Each refusal is a 422 with
a stable type and the field at fault."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaigns.models import (
    AbTestMode,
    Campaign,
    CampaignVariant,
    ScheduleKind,
    WinnerMetric,
)
from backend.campaigns.schedule import Recurrence, at_wall, checked_zone, wall_time, zone
from backend.content import service as content_service
from backend.core.errors import InvalidInput, NotFound
from backend.core.pagination import PageRequest
from backend.messaging.accounts import service as accounts_service
from backend.messaging.models import MessageChannel
from backend.profiles import consents as profile_consents
from backend.segments import service as segments_service

SAMPLE = 3  # audience profiles each variant is rendered for when scheduled


class InvalidSplit(InvalidInput):
    slug, title = "invalid-split", "Invalid variant split"


class EmptyAudience(InvalidInput):
    slug, title = "empty-audience", "The audience is empty"


class ScheduleInPast(InvalidInput):
    slug, title = "schedule-in-past", "The schedule is in the past"


class RuleNeverFires(InvalidInput):
    slug, title = "rrule-never-fires", "The RRULE never fires"


class NotRenderable(InvalidInput):
    slug, title = "campaign-not-renderable", "The content does not render"


def _error(field: str, pointer: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"field": field, "pointer": pointer, "message": message, **extra}


# Shape (no database) ---------------------------------------------------------------------------


def check_shape(campaign: Campaign, variants: Sequence[CampaignVariant]) -> None:
    """Splits, test settings and schedule fields agree with each other (422 otherwise)."""
    _check_split(campaign, variants)
    _check_schedule_fields(campaign)
    if campaign.fallback_channel is not None and campaign.fallback_channel is campaign.channel:
        raise InvalidInput(
            "the fallback channel is the campaign's channel",
            errors=[_error("channel", "/fallback/channel", "choose another channel")],
        )


def _check_split(campaign: Campaign, variants: Sequence[CampaignVariant]) -> None:
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        raise InvalidSplit(
            "variant keys must differ", errors=[_error("key", "/variants", "a key is repeated")]
        )
    total = sum(v.weight for v in variants)
    if total != 100:
        over = "over" if total > 100 else "under"
        raise InvalidSplit(
            f"the variants' weights add up to {total} %, {over} 100 %",
            errors=[_error("weight", "/variants", f"weights add up to {total}, not 100")],
        )
    if campaign.test_mode is AbTestMode.WINNER:
        missing = [
            name
            for name, value in (
                ("testPercent", campaign.test_percent),
                ("winnerMetric", campaign.winner_metric),
                ("decideAfterMinutes", campaign.decide_after_minutes),
            )
            if value is None
        ]
        if missing:
            raise InvalidSplit(
                f"a winner test needs {', '.join(missing)}",
                errors=[_error(n, f"/test/{n}", "required for a winner test") for n in missing],
            )
        if len(variants) < 2:
            raise InvalidSplit(
                "a winner test needs two variants at least",
                errors=[_error("variants", "/variants", "add a variant")],
            )
        share = (campaign.test_percent or 0) + campaign.holdout_percent
        if share > 100:
            raise InvalidSplit(
                f"the test cell and the holdout add up to {share} %, over 100 %",
                errors=[_error("testPercent", "/test/testPercent", "over 100 % with the holdout")],
            )
    if campaign.winner_metric is not WinnerMetric.CONVERSIONS and campaign.goal_event:
        raise InvalidSplit(
            "a goal event is only read for the conversions metric",
            errors=[_error("goalEvent", "/test/goalEvent", "set winnerMetric to conversions")],
        )


def _check_schedule_fields(campaign: Campaign) -> None:
    kind = campaign.schedule_kind
    needed = {
        ScheduleKind.AT: ("sendAt", campaign.send_at),
        ScheduleKind.LOCAL: ("localTime", campaign.local_time),
        ScheduleKind.RECURRING: ("rrule", campaign.rrule),
    }.get(kind)
    if needed is not None and needed[1] is None:
        raise InvalidInput(
            f"a `{kind.value}` schedule needs `{needed[0]}`",
            errors=[_error(needed[0], f"/schedule/{needed[0]}", "required")],
        )
    if campaign.local_time is not None:
        wall_time(campaign.local_time)
    if campaign.time_zone is not None:
        checked_zone(campaign.time_zone, "/schedule/timeZone")
    if campaign.per_recipient_time_zone and kind is not ScheduleKind.RECURRING:
        raise InvalidInput(
            "`perRecipientTimeZone` is for recurring schedules (use the `local` kind once)",
            errors=[_error("perRecipientTimeZone", "/schedule/perRecipientTimeZone", "recurring")],
        )
    per_recipient = kind is ScheduleKind.LOCAL or campaign.per_recipient_time_zone
    if campaign.send_time_optimization and per_recipient:
        raise InvalidInput(
            "send-time optimisation picks each recipient's time: not with a local-time schedule",
            errors=[_error("sendTimeOptimization", "/sendTimeOptimization", "choose one")],
        )
    if campaign.rrule is not None:
        starts = campaign.starts_at or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        Recurrence.parse(campaign.rrule, starts, zone(campaign.time_zone, "UTC"))


# References ------------------------------------------------------------------------------------


async def check_references(
    session: AsyncSession, campaign: Campaign, variants: Sequence[CampaignVariant]
) -> None:
    """The segments, templates (of the right channel), versions, sender identities and topic
    named exist in the brand (422 naming the field otherwise)."""
    for name, ids in (
        ("include", campaign.include_segment_ids),
        ("exclude", campaign.exclude_segment_ids),
    ):
        for index, segment_id in enumerate(ids):
            try:
                await segments_service.get_segment(session, UUID(segment_id))
            except NotFound:
                raise InvalidInput(
                    f"no segment {segment_id}",
                    errors=[_error(name, f"/audience/{name}/{index}", "no such segment")],
                ) from None
    await _check_template(session, campaign.template_id, campaign.channel, "/templateId")
    if campaign.fallback_channel is not None and campaign.fallback_template_id is not None:
        await _check_template(
            session,
            campaign.fallback_template_id,
            campaign.fallback_channel,
            "/fallback/templateId",
        )
    for index, variant in enumerate(variants):
        channel = variant.channel or campaign.channel
        template_id = variant.template_id or campaign.template_id
        where = f"/variants/{index}"
        await _check_template(session, template_id, channel, f"{where}/templateId")
        if variant.template_version is not None:
            try:
                await content_service.get_version(session, template_id, variant.template_version)
            except NotFound:
                raise InvalidInput(
                    f"the template has no version {variant.template_version}",
                    errors=[_error("templateVersion", f"{where}/templateVersion", "no such one")],
                ) from None
        if variant.subject is not None and channel is not MessageChannel.EMAIL:
            raise InvalidInput(
                "a subject is an email's",
                errors=[_error("subject", f"{where}/subject", "only for the email channel")],
            )
        if variant.sender_identity_id is not None:
            try:
                await accounts_service.get_identity(session, variant.sender_identity_id)
            except NotFound:
                raise InvalidInput(
                    "no such sender identity",
                    errors=[_error("senderIdentityId", f"{where}/senderIdentityId", "unknown")],
                ) from None
    if campaign.topic is not None and campaign.topic not in await _topics(session):
        raise InvalidInput(
            f"no consent topic {campaign.topic!r}",
            errors=[_error("topic", "/topic", "no such consent topic")],
        )


async def _check_template(
    session: AsyncSession, template_id: UUID, channel: MessageChannel, pointer: str
) -> None:
    try:
        template = await content_service.get_template(session, template_id)
    except NotFound:
        raise InvalidInput(
            "no such template", errors=[_error("templateId", pointer, "no such template")]
        ) from None
    if template.archived_at is not None:
        raise InvalidInput(
            "the template was deleted", errors=[_error("templateId", pointer, "archived")]
        )
    if template.channel.value != channel.value:
        raise InvalidInput(
            f"the template is for {template.channel.value}, not {channel.value}",
            errors=[_error("templateId", pointer, f"a {channel.value} template is needed")],
        )


async def _topics(session: AsyncSession) -> set[str]:
    topics: set[str] = set()
    page: PageRequest | None = PageRequest(limit=200)
    while page is not None:
        items, cursor = await profile_consents.list_topics(session, page)
        topics.update(t.key for t in items)
        page = PageRequest(limit=200, after=items[-1].id) if cursor and items else None
    return topics


# When scheduled ----------------------------------------------------------------------------------


async def audience_sample(session: AsyncSession, campaign: Campaign) -> list[UUID]:
    """The first profiles of the audience (422 when it has none)."""
    sample = await segments_service.audience(
        session,
        [UUID(i) for i in campaign.include_segment_ids],
        [UUID(i) for i in campaign.exclude_segment_ids],
        limit=SAMPLE,
        only_included=True,
    )
    if not sample:
        raise EmptyAudience(
            "no profile is in the audience: its segments are empty, or all excluded",
            errors=[_error("include", "/audience/include", "these segments have no member")],
        )
    return [profile_id for profile_id, _ in sample]


def check_future(moment: dt.datetime, now: dt.datetime, pointer: str, field: str) -> None:
    if moment <= now:
        raise ScheduleInPast(
            f"{moment.isoformat()} is in the past (now {now.isoformat()})",
            errors=[_error(field, pointer, "in the past")],
        )


def check_local_future(campaign: Campaign, brand_zone: str, now: dt.datetime) -> None:
    """A local-time send whose wall time has passed in the brand's zone is in the past."""
    assert campaign.local_time is not None
    moment = at_wall(wall_time(campaign.local_time), zone(None, brand_zone))
    check_future(moment, now, "/schedule/localTime", "localTime")


def never_fires(campaign: Campaign) -> RuleNeverFires:
    return RuleNeverFires(
        f"the RRULE {campaign.rrule!r} has no date after now",
        errors=[_error("rrule", "/schedule/rrule", "it never fires again")],
    )


def not_renderable(index: int, key: str, profile_id: UUID, detail: str | None) -> NotRenderable:
    reason = (detail or "render refused").partition(":")[0]
    return NotRenderable(
        f"variant '{key}' does not render for profile {profile_id}: {detail}",
        errors=[
            _error(
                "templateId",
                f"/variants/{index}/templateId",
                detail or "render refused",
                profileId=str(profile_id),
                reason=reason,
            )
        ],
    )
