"""Helpers of the campaign tests: a brand ready to send (a template, a pressure policy without
caps nor quiet hours, consenting profiles in a static segment), campaigns made and scheduled
through REST, and the tasks of the fan-out run one by one where a test wants each step."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from litestar import Litestar
from sqlalchemy import select

from backend.campaigns.assignment import Split, point
from backend.campaigns.models import CampaignRecipient, RecipientState
from backend.config import Settings
from backend.core.jobs import TASKS, TaskContext
from backend.core.tenancy import TenantId
from backend.messaging import service as messaging_service
from backend.messaging.models import Message
from backend.messaging.providers.models import CapturedMessage
from backend.messaging.schemas import PressurePolicyUpdate
from backend.profiles import service as profile_service
from backend.profiles.models import Channel, ConsentState
from backend.profiles.schemas import ConsentChangeIn, ProfileCreate
from backend.segments import membership
from backend.segments import service as segments_service
from backend.segments.models import SegmentKind
from backend.segments.schemas import MembersUpload, SegmentCreate
from tests.factories import World, make_world, session_of

EMAIL = {
    "key": "news",
    "name": "News",
    "channel": "email",
    "defaultLocale": "en",
    "variants": {
        "en": {
            "subject": "News for {{ first_name | default('you') }}",
            "body": '<p>Hello {{ first_name | default("there") }}</p>'
            '<a href="https://shop.test/news">Read</a>',
        }
    },
}
GRANTED = [ConsentChangeIn(state=ConsentState.GRANTED, source="test", channel=Channel.EMAIL)]
HUMAN = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"
PIXEL = re.compile(r"/t/o/([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Brand:
    """A world whose brand A is ready to send a campaign."""

    world: World
    template_id: str
    segment_id: str
    profiles: list[UUID]

    @property
    def id(self) -> UUID:
        return self.world.brand_a.id

    @property
    def headers(self) -> dict[str, str]:
        return self.world.admin_a.headers

    def url(self, path: str) -> str:
        return f"/v1/brands/{self.id}{path}"


async def make_profiles(
    app: Litestar,
    brand_id: UUID,
    count: int,
    *,
    prefix: str = "p",
    start: int = 0,
    consents: list[ConsentChangeIn] = GRANTED,
    phones: str | None = None,
    **fields: Any,
) -> list[UUID]:
    """Consenting profiles ``<prefix><n>@example.com`` (and phones ``<phones><nn>``)."""
    async with session_of(app, brand_id) as session:
        ids = []
        for n in range(start, start + count):
            profile, _ = await profile_service.create_profile(
                session,
                TenantId(brand_id),
                ProfileCreate(
                    email=f"{prefix}{n}@example.com",
                    first_name=f"{prefix.upper()}{n}",
                    phone=f"{phones}{n:02d}" if phones else None,
                    consents=consents,
                    **fields,
                ),
            )
            ids.append(profile.id)
        await session.commit()
    return ids


async def static_segment(app: Litestar, brand_id: UUID, key: str, members: list[UUID]) -> str:
    async with session_of(app, brand_id) as session:
        segment = await segments_service.create_segment(
            session,
            TenantId(brand_id),
            SegmentCreate(key=key, name=key.title(), kind=SegmentKind.STATIC),
        )
        if members:
            await membership.upload_members(
                session,
                TenantId(brand_id),
                segment.id,
                MembersUpload(profile_ids=members),
                replace=False,
            )
        await session.commit()
    return str(segment.id)


async def ready_brand(app: Litestar, client: httpx.AsyncClient, members: int = 6) -> Brand:
    """A world with an email template, no pressure caps nor quiet hours (the tests run at any
    hour), and ``members`` consenting profiles in the static segment ``members``."""
    world = await make_world(app)
    brand_id = world.brand_a.id
    async with session_of(app, brand_id) as session:
        await messaging_service.update_policy(
            session,
            TenantId(brand_id),
            PressurePolicyUpdate(
                per_day=None,
                per_week=None,
                per_month=None,
                quiet_hours_start=None,
                quiet_hours_end=None,
            ),
        )
        await session.commit()
    created = await client.post(
        f"/v1/brands/{brand_id}/templates", json=EMAIL, headers=world.admin_a.headers
    )
    assert created.status_code == 201, created.text
    profiles = await make_profiles(app, brand_id, members)
    segment_id = await static_segment(app, brand_id, "members", profiles)
    return Brand(world, created.json()["id"], segment_id, profiles)


def campaign_body(brand: Brand, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Newsletter",
        "audience": {"include": [brand.segment_id]},
        "channel": "email",
        "templateId": brand.template_id,
    }
    return body | overrides


async def create(client: httpx.AsyncClient, brand: Brand, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        brand.url("/campaigns"), json=campaign_body(brand, **overrides), headers=brand.headers
    )
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


async def schedule(client: httpx.AsyncClient, brand: Brand, campaign_id: str) -> dict[str, Any]:
    response = await client.post(
        brand.url(f"/campaigns/{campaign_id}/schedule"), headers=brand.headers
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def progress(client: httpx.AsyncClient, brand: Brand, campaign_id: str) -> dict[str, Any]:
    response = await client.get(
        brand.url(f"/campaigns/{campaign_id}/progress"), headers=brand.world.viewer_a.headers
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def until(probe: Callable[[], Awaitable[bool]], what: str, seconds: float = 60) -> None:
    """Wait on the condition (the cap only keeps a broken run from hanging)."""
    deadline = time.monotonic() + seconds
    while not await probe():
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.05)


async def run_task(
    app: Litestar, settings: Settings, brand_id: UUID, name: str, **kwargs: Any
) -> None:
    """One run of a task, as a worker runs it (its session committed after it)."""
    async with session_of(app, brand_id) as session:
        context = TaskContext(session, TenantId(brand_id), settings, message_id="")
        await TASKS[name].fn(context, **kwargs)
        await session.commit()


async def deliver(app: Litestar, settings: Settings, brand_id: UUID) -> None:
    """Batch deliveries until none claims anything."""
    while True:
        async with session_of(app, brand_id) as session:
            before = await _sent_or_done(session)
        await run_task(app, settings, brand_id, "messaging.deliver_batch")
        async with session_of(app, brand_id) as session:
            if await _sent_or_done(session) == before:
                return


async def _sent_or_done(session: Any) -> int:
    statuses = (await session.scalars(select(Message.status))).all()
    return sum(1 for s in statuses if str(s) not in ("queued", "sending"))


async def captured_to(app: Litestar, brand_id: UUID) -> dict[str, int]:
    """How many captured emails each address received."""
    async with session_of(app, brand_id) as session:
        rows = (await session.scalars(select(CapturedMessage))).all()
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.recipient] = counts.get(row.recipient, 0) + 1
    return counts


async def recipients(app: Litestar, brand_id: UUID) -> list[CampaignRecipient]:
    async with session_of(app, brand_id) as session:
        return list((await session.scalars(select(CampaignRecipient))).all())


def later(minutes: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


async def covering(
    app: Litestar,
    brand: Brand,
    campaign_id: str,
    split: Split,
    wanted: set[tuple[RecipientState, str | None]],
    *,
    at_least: int,
    prefix: str = "p",
    **fields: Any,
) -> list[UUID]:
    """Profiles (``<prefix><n>@example.com``) added to the brand's ``members`` segment until
    every part of the split in ``wanted`` has one (and ``at_least`` were made): a profile's part
    is a hash of the campaign and its random id, so a small audience could miss one."""
    made: list[UUID] = []
    seen: set[tuple[RecipientState, str | None]] = set()
    while len(made) < at_least or not wanted <= seen:
        assert len(made) < 200, f"no profile fell in {wanted - seen}"
        (profile_id,) = await make_profiles(
            app, brand.id, 1, prefix=prefix, start=len(made), **fields
        )
        made.append(profile_id)
        seen.add(split.assign(point(UUID(campaign_id), profile_id)))
    async with session_of(app, brand.id) as session:
        await membership.upload_members(
            session,
            TenantId(brand.id),
            UUID(brand.segment_id),
            MembersUpload(profile_ids=made),
            replace=False,
        )
        await session.commit()
    return made
