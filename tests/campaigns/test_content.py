"""What each recipient is sent and when: a variant's pinned template version is the one
rendered (not the one published since), an unpinned variant gets the version published when
the occurrence starts; with send-time optimisation each recipient is due at the moment the
optimiser (``backend.campaigns.send_time``, its contract) chose within the window."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import types
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaigns import fanout
from backend.campaigns.assignment import Split
from backend.campaigns.models import RecipientState
from backend.config import Settings
from backend.core.db import utcnow
from backend.core.tenancy import TenantId
from backend.messaging.models import Message
from backend.messaging.providers.models import CapturedMessage
from backend.profiles import service as profile_service
from backend.profiles.models import Channel, ConsentState
from backend.profiles.schemas import ConsentChangeIn, ProfileCreate
from tests.campaigns.helpers import (
    Brand,
    captured_to,
    covering,
    create,
    deliver,
    progress,
    ready_brand,
    recipients,
    run_task,
    schedule,
    static_segment,
)
from tests.factories import session_of


async def _run(app: Litestar, settings: Settings, brand: Brand, campaign: dict[str, Any]) -> UUID:
    async with session_of(app, brand.id) as session:
        occurrence = await fanout.start(
            session,
            TenantId(brand.id),
            UUID(campaign["id"]),
            dt.datetime.fromisoformat(campaign["nextRunAt"]),
        )
        await session.commit()
    assert occurrence is not None
    await run_task(app, settings, brand.id, fanout.SNAPSHOT_TASK, occurrence_id=str(occurrence))
    await run_task(app, settings, brand.id, fanout.RELEASE_TASK, occurrence_id=str(occurrence))
    return occurrence


async def test_a_pinned_version_is_sent_and_an_unpinned_one_is_the_published_one(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=0)
    newer = {"variants": {"en": {"subject": "Second edition", "body": "<p>v2</p>"}}}
    saved = await client.post(
        brand.url(f"/templates/{brand.template_id}/versions"), json=newer, headers=brand.headers
    )
    assert saved.status_code == 201, saved.text
    created = await create(
        client,
        brand,
        variants=[{"key": "old", "weight": 50, "templateVersion": 1}, {"key": "new", "weight": 50}],
    )
    split = Split(holdout=0.0, test=None, weights=[("old", 50), ("new", 50)])
    parts = {(RecipientState.WAITING, "old"), (RecipientState.WAITING, "new")}
    await covering(app, brand, created["id"], split, parts, at_least=2)
    await _run(app, settings, brand, await schedule(client, brand, created["id"]))
    await deliver(app, settings, brand.id)
    async with session_of(app, brand.id) as session:
        sent = (await session.execute(select(Message.source_key, Message.template_version))).all()
        subjects = {
            row.payload["subject"] for row in (await session.scalars(select(CapturedMessage))).all()
        }
    versions = {key.rsplit(":", 1)[1]: version for key, version in sent}
    assert versions == {"old": 1, "new": 2}
    assert "Second edition" in subjects
    assert any(s.startswith("News for") for s in subjects)


async def test_send_time_optimisation_makes_each_recipient_due_at_its_chosen_moment(
    app: Litestar,
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The optimiser is another module's (built beside this one): its contract stands in here,
    answering one hour later for each profile in turn, and records the window it was given."""
    asked: list[tuple[list[UUID], Any]] = []

    @dataclasses.dataclass(frozen=True)
    class SendWindow:
        start: dt.datetime
        end: dt.datetime

    async def optimal_send_times(
        session: AsyncSession, tenant: TenantId, profile_ids: Sequence[UUID], window: SendWindow
    ) -> dict[UUID, dt.datetime]:
        asked.append((sorted(profile_ids), window))
        return {
            p: window.start + dt.timedelta(hours=n + 1) for n, p in enumerate(sorted(profile_ids))
        }

    contract = types.ModuleType("backend.campaigns.send_time")
    contract.SendWindow = SendWindow  # type: ignore[attr-defined]
    contract.optimal_send_times = optimal_send_times  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "backend.campaigns.send_time", contract)

    brand = await ready_brand(app, client, members=3)
    before = utcnow()
    created = await create(client, brand, sendTimeOptimization=True, optimizationWindowHours=12)
    occurrence = await _run(app, settings, brand, await schedule(client, brand, created["id"]))
    ((profiles, window),) = asked
    assert profiles == sorted(brand.profiles)
    assert before <= window.start <= utcnow()
    assert window.end - window.start == dt.timedelta(hours=12)
    due = {r.profile_id: r.due_at for r in await recipients(app, brand.id)}
    assert due == {p: window.start + dt.timedelta(hours=n + 1) for n, p in enumerate(profiles)}
    # None is due yet: nothing released, the release planned for the first chosen moment.
    async with session_of(app, brand.id) as session:
        assert (await session.scalars(select(Message))).all() == []
        released = await fanout.release(
            session, TenantId(brand.id), occurrence, now=window.start + dt.timedelta(hours=2)
        )
        await session.commit()
    assert released == 2


SMS = {
    "key": "sms_news",
    "name": "SMS news",
    "channel": "sms",
    "defaultLocale": "en",
    "variants": {"en": {"text": "News for {{ first_name | default('you') }}"}},
}
BOTH = [
    ConsentChangeIn(state=ConsentState.GRANTED, source="test", channel=Channel.EMAIL),
    ConsentChangeIn(state=ConsentState.GRANTED, source="test", channel=Channel.SMS),
]


async def test_channel_and_send_time_variants_and_a_fallback_channel(
    app: Litestar, client: httpx.AsyncClient, settings: Settings
) -> None:
    brand = await ready_brand(app, client, members=0)
    sms = await client.post(brand.url("/templates"), json=SMS, headers=brand.headers)
    assert sms.status_code == 201, sms.text
    created = await create(
        client,
        brand,
        variants=[
            {"key": "mail", "weight": 34},
            {"key": "text", "weight": 33, "channel": "sms", "templateId": sms.json()["id"]},
            {"key": "later", "weight": 33, "sendDelayMinutes": 30},
        ],
    )
    split = Split(holdout=0.0, test=None, weights=[("mail", 34), ("text", 33), ("later", 33)])
    parts = {(RecipientState.WAITING, v) for v in ("mail", "text", "later")}
    people = await covering(
        app, brand, created["id"], split, parts, at_least=6, prefix="m", consents=BOTH,
        phones="+324700000",
    )  # fmt: skip
    async with session_of(app, brand.id) as session:
        # Reachable by SMS only: the email variant falls back.
        texter, _ = await profile_service.create_profile(
            session, TenantId(brand.id), ProfileCreate(phone="+32470000999", consents=BOTH)
        )
        await session.commit()
    occurrence = await _run(app, settings, brand, await schedule(client, brand, created["id"]))
    rows = {r.profile_id: r for r in await recipients(app, brand.id)}
    variants = {p: rows[p].variant for p in people}
    for profile_id, variant in variants.items():
        row = rows[profile_id]
        if variant == "later":  # due half an hour after the occurrence's moment, not released
            assert row.message_id is None
            assert row.due_at is not None
            assert row.due_at - utcnow() > dt.timedelta(minutes=29)
        else:
            assert row.message_id is not None
    await deliver(app, settings, brand.id)
    async with session_of(app, brand.id) as session:
        sent = {
            row.recipient: str(row.channel)
            for row in (await session.scalars(select(CapturedMessage))).all()
        }
    expected = {
        (f"m{people.index(p)}@example.com" if v == "mail" else f"+324700000{people.index(p):02d}")
        for p, v in variants.items()
        if v != "later"
    }
    assert set(sent) == expected
    assert {c for r, c in sent.items() if r.startswith("+")} <= {"sms"}
    # Later: at its time, the rest.
    async with session_of(app, brand.id) as session:
        await fanout.release(
            session, TenantId(brand.id), occurrence, now=utcnow() + dt.timedelta(minutes=31)
        )
        await session.commit()
    await deliver(app, settings, brand.id)
    assert len(await captured_to(app, brand.id)) == len(people)

    # The fallback: a profile without an email gets the fallback channel's template.
    lonely = await static_segment(app, brand.id, "texters", [texter.id])
    fallback = await create(
        client,
        brand,
        audience={"include": [lonely]},
        fallback={"channel": "sms", "templateId": sms.json()["id"]},
    )
    await _run(app, settings, brand, await schedule(client, brand, fallback["id"]))
    await deliver(app, settings, brand.id)
    assert (await captured_to(app, brand.id))["+32470000999"] == 1
    state = await progress(client, brand, fallback["id"])
    assert (state["sent"], state["fallbacks"], state["excluded"]) == (1, 1, {})
