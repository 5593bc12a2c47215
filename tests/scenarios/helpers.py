"""Shared pieces of the scenario tests: graphs, templates made through the content API, profiles
with consents, the journeys' state read back, and the clock moved forward by running the wake-up
at a later moment."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import select

from backend.core.db import utcnow
from backend.core.tenancy import TenantId
from backend.profiles import service as profile_service
from backend.profiles.schemas import ProfileCreate
from backend.scenarios import engine
from backend.scenarios.models import Journey, JourneyStep
from tests.factories import World, run_jobs, session_of


def url(world: World, path: str) -> str:
    return f"/v1/brands/{world.brand_a.id}{path}"


async def post(client: httpx.AsyncClient, world: World, path: str, body: Any) -> httpx.Response:
    response = await client.post(url(world, path), json=body, headers=world.admin_a.headers)
    assert response.status_code in (200, 201, 202), response.text
    return response


async def open_the_gate(client: httpx.AsyncClient, world: World) -> None:
    """No quiet hours and no caps: what a test sends is not deferred by the hour it runs at."""
    response = await client.patch(
        url(world, "/pressure-policy"),
        json={
            "perDay": None,
            "perWeek": None,
            "perMonth": None,
            "quietHoursStart": None,
            "quietHoursEnd": None,
        },
        headers=world.admin_a.headers,
    )
    assert response.status_code == 200, response.text


async def template(
    client: httpx.AsyncClient, world: World, key: str, channel: str = "email", text: str = ""
) -> str:
    variants: dict[str, Any]
    if channel == "email":
        variants = {
            "en": {
                "subject": f"{key} for {{{{ first_name | default('you') }}}}",
                "body": f"<p>{text or key} {{{{ first_name | default('') }}}}</p>",
            }
        }
    elif channel == "sms":
        variants = {"en": {"text": f"{text or key}: hello {{{{ first_name | default('') }}}}"}}
    else:
        variants = {"en": {"title": key, "body": text or key}}
    body = {
        "key": key,
        "name": key,
        "channel": channel,
        "defaultLocale": "en",
        "variants": variants,
    }
    template_id: str = (await post(client, world, "/templates", body)).json()["id"]
    return template_id


async def person(
    app: Litestar,
    world: World,
    *,
    email: str | None = None,
    phone: str | None = None,
    channels: tuple[str, ...] = ("email", "sms"),
    **fields: Any,
) -> UUID:
    consents = [{"state": "granted", "source": "test", "channel": c} for c in channels]
    async with session_of(app, world.brand_a.id) as session:
        profile, _ = await profile_service.create_profile(
            session,
            TenantId(world.brand_a.id),
            msgspec.convert(
                {"email": email, "phone": phone, "consents": consents, **fields},
                ProfileCreate,
                from_attributes=False,
            ),
        )
        await session.commit()
    return profile.id


def entry(next_node: str, **trigger: Any) -> dict[str, Any]:
    reentry = trigger.pop("reentry", {"policy": "never"})
    extra = trigger.pop("extra", {})
    return {
        "kind": "entry",
        "id": "start",
        "trigger": trigger or {"kind": "api"},
        "reentry": reentry,
        "next": next_node,
        **extra,
    }


EXIT = {"kind": "exit", "id": "done"}


async def scenario(
    client: httpx.AsyncClient, world: World, nodes: list[dict[str, Any]], *, activate: bool = True
) -> str:
    created = await post(client, world, "/scenarios", {"name": "Test", "graph": {"nodes": nodes}})
    scenario_id: str = created.json()["id"]
    if activate:
        await post(client, world, f"/scenarios/{scenario_id}/activate", None)
    return scenario_id


async def enter(
    client: httpx.AsyncClient,
    world: World,
    scenario_id: str,
    profile_id: UUID,
    key: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"profileId": str(profile_id), "data": data or {}}
    if key:
        body["key"] = key
    answer: dict[str, Any] = (
        await post(client, world, f"/scenarios/{scenario_id}/entries", body)
    ).json()
    return answer


async def journeys(app: Litestar, world: World, scenario_id: str | UUID) -> list[Journey]:
    async with session_of(app, world.brand_a.id) as session:
        rows = await session.scalars(
            select(Journey)
            .where(Journey.scenario_id == UUID(str(scenario_id)))
            .order_by(Journey.id)
        )
        return list(rows.all())


async def steps(app: Litestar, world: World, journey_id: UUID) -> list[tuple[str, str | None]]:
    async with session_of(app, world.brand_a.id) as session:
        rows = await session.scalars(
            select(JourneyStep)
            .where(JourneyStep.journey_id == journey_id)
            .order_by(JourneyStep.seq)
        )
        return [(s.node_id, s.outcome) for s in rows.all()]


async def advance_clock(app: Litestar, world: World, by: dt.timedelta) -> int:
    """Run the brand's due journeys as if ``by`` had passed (the wake-up at a later moment),
    then the jobs that follows; how many journeys were claimed."""
    total = 0
    while True:
        async with session_of(app, world.brand_a.id) as session:
            claimed = await engine.advance(
                session, TenantId(world.brand_a.id), app.state.settings, until=utcnow() + by
            )
            await session.commit()
        total += claimed
        if claimed < engine.BATCH_SIZE:
            break
    await run_jobs(app, rounds=20)
    return total


async def until(probe: Callable[[], Awaitable[bool]], what: str, seconds: float = 60) -> None:
    """Wait on the condition (a cap only keeps a broken run from hanging)."""
    deadline = time.monotonic() + seconds
    while not await probe():
        assert time.monotonic() < deadline, f"{what} never happened"
        await asyncio.sleep(0.05)
