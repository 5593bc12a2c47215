"""Abandoned carts: a check falls due ``delay`` after the cart's last update (scheduler due work);
it raises the trigger once, and nothing when the cart was updated since or closed in time."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import pytest
from litestar import Litestar
from sqlalchemy import func, select

from backend.core.due_work import DueTask
from backend.core.errors import InvalidInput
from backend.core.tenancy import TenantId
from backend.triggers import service
from backend.triggers.models import TriggerKind
from tests.factories import make_world, run_jobs, session_of
from tests.triggers.helpers import at, define_trigger, make_profile, occurrences
from workers.scheduler import Scheduler


async def update_cart(app: Litestar, brand: UUID, profile: UUID, cart: str, when: str) -> None:
    async with session_of(app, brand) as session:
        await service.cart_updated(
            session, TenantId(brand), profile_id=profile, cart_id=cart, updated_at=at(when)
        )
        await session.commit()


async def close_cart(app: Litestar, brand: UUID, profile: UUID, cart: str) -> None:
    async with session_of(app, brand) as session:
        await service.cart_closed(session, TenantId(brand), profile_id=profile, cart_id=cart)
        await session.commit()


async def pending_checks(app: Litestar) -> int:
    async with session_of(app) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(DueTask)
            .where(DueTask.task_name == service.ABANDONED_CART_TASK, DueTask.enqueued_at.is_(None))
        )
    return int(count or 0)


async def tick(app: Litestar, when: str) -> None:
    """One scheduler round at ``when``, then the worker runs what it handed over."""
    await Scheduler(app.state.session_factory, app.state.relay).tick(at(when))
    await run_jobs(app)


@pytest.mark.worker
async def test_abandoned_cart_is_raised_once_after_the_delay(app: Litestar) -> None:
    async with app.lifespan():
        world = await make_world(app)
        brand = world.brand_a.id
        profile = await make_profile(app, brand, email="cart@example.test")
        await define_trigger(
            app,
            brand,
            "cart_left",
            TriggerKind.ABANDONED_CART,
            "2027-01-01T00:00:00",
            delay_minutes=60,
        )
        await update_cart(app, brand, profile, "cart-1", "2027-01-05T10:00:00")
        # Updated again within the hour: the first check is replaced.
        await update_cart(app, brand, profile, "cart-1", "2027-01-05T10:30:00")
        # An out-of-order older update changes nothing.
        await update_cart(app, brand, profile, "cart-1", "2027-01-05T10:10:00")
        assert await pending_checks(app) == 1
        await tick(app, "2027-01-05T11:15:00")
        assert await occurrences(app, brand) == []
        await tick(app, "2027-01-05T11:30:00")
        await tick(app, "2027-01-05T12:30:00")  # a later round (or a restart) raises nothing new
        raised = await occurrences(app, brand, "cart_left")
        assert [(o.profile_id, o.occurred_at, o.dedupe_key) for o in raised] == [
            (profile, at("2027-01-05T11:30:00"), "cart-1:2027-01-05T10:30:00+00:00")
        ]
        # The same check delivered twice raises nothing more.
        async with session_of(app, brand) as session:
            again = await service.check_abandoned_cart(
                session,
                TenantId(brand),
                definition_id=await _definition_id(app, brand),
                cart_id="cart-1",
                cart_updated_at=at("2027-01-05T10:30:00"),
            )
            await session.commit()
        assert again is None
        assert len(await occurrences(app, brand)) == 1


async def _definition_id(app: Litestar, brand: UUID) -> UUID:
    async with session_of(app, brand) as session:
        from backend.triggers.models import TriggerDefinition

        found = await session.scalar(select(TriggerDefinition.id))
    assert found is not None
    return found


@pytest.mark.worker
async def test_a_cart_closed_in_time_raises_nothing(app: Litestar) -> None:
    async with app.lifespan():
        world = await make_world(app)
        brand = world.brand_a.id
        profile = await make_profile(app, brand, email="bought@example.test")
        await define_trigger(
            app,
            brand,
            "cart_left",
            TriggerKind.ABANDONED_CART,
            "2027-01-01T00:00:00",
            delay_minutes=30,
        )
        await update_cart(app, brand, profile, "cart-2", "2027-01-05T10:00:00")
        assert await pending_checks(app) == 1
        await close_cart(app, brand, profile, "cart-2")  # ordered at 10:20
        assert await pending_checks(app) == 0
        await tick(app, "2027-01-05T11:00:00")
        assert await occurrences(app, brand) == []
        # A check already handed over before the close finds the cart gone.
        async with session_of(app, brand) as session:
            late = await service.check_abandoned_cart(
                session,
                TenantId(brand),
                definition_id=await _definition_id(app, brand),
                cart_id="cart-2",
                cart_updated_at=at("2027-01-05T10:00:00"),
            )
        assert late is None
        # A new cart later is timed again.
        await update_cart(app, brand, profile, "cart-2", "2027-01-06T10:00:00")
        await tick(app, "2027-01-06T10:31:00")
        assert [o.occurred_at for o in await occurrences(app, brand)] == [at("2027-01-06T10:30:00")]


async def test_cart_updates_need_an_aware_time(app: Litestar) -> None:
    world = await make_world(app)
    brand = world.brand_a.id
    profile = await make_profile(app, brand, email="naive@example.test")
    async with session_of(app, brand) as session:
        with pytest.raises(InvalidInput) as refused:
            await service.cart_updated(
                session,
                TenantId(brand),
                profile_id=profile,
                cart_id="c",
                updated_at=dt.datetime(2027, 1, 1),
            )
    assert [e["field"] for e in refused.value.errors or []] == ["updatedAt"]
