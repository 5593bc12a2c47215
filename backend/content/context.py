"""The context a template sees for one profile, read through the other domains' services, and
only the parts the version uses (its ``names``): a template printing a first name costs one
query, one looping over orders three."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.content.compile import PROFILE_FIELDS
from backend.content.render import Bag
from backend.profiles import consents as profile_consents
from backend.profiles import orders as profile_orders
from backend.profiles.linked import service as profile_linked
from backend.profiles.models import Profile
from backend.rfm import service as rfm_service
from backend.segments import service as segment_service

RECENT_ORDERS = 10


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value  # StrEnum members print as their value
    return value


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values without the empty ones: a missing first name is missing, never printed blank."""
    return {k: _plain(v) for k, v in values.items() if v is not None and v != ""}


def profile_values(profile: Profile) -> dict[str, Any]:
    values = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    values["id"] = str(profile.id)
    return _present(values)


def _order(view: profile_orders.OrderView) -> dict[str, Any]:
    order = view.order
    return _present(
        {
            "order_id": order.order_id,
            "occurred_at": order.occurred_at,
            "amount": order.amount,
            "currency": order.currency,
            "store": order.store,
            "channel": order.channel,
            "lines": [
                _present(
                    {
                        "product": line.product,
                        "category": line.category,
                        "quantity": line.quantity,
                        "price": line.price,
                    }
                )
                for line in view.lines
            ],
        }
    )


async def profile_context(
    session: AsyncSession, profile: Profile, names: Collection[str]
) -> dict[str, Any]:
    """The profile's part of the context: only the parts ``names`` uses are loaded."""
    values = profile_values(profile)
    context: dict[str, Any] = {name: values[name] for name in PROFILE_FIELDS if name in values}
    context["profile"] = Bag("profile", values)
    context["attributes"] = Bag("attributes", _present(profile.attributes or {}))
    context["profile"]["attributes"] = context["attributes"]
    if "consents" in names:
        changes = (await profile_consents.current_of_many(session, [profile.id]))[profile.id]
        channels = Bag("consents", {})
        topics = Bag("consents.topics", {})
        for change in changes:
            if change.topic:
                topics[change.topic] = change.state.value
            elif change.channel:
                channels[change.channel.value] = change.state.value
        channels["topics"] = topics
        context["consents"] = channels
    if "orders" in names:
        recent = await profile_orders.recent_orders(session, profile.id, RECENT_ORDERS)
        context["orders"] = [Bag("order", _order(view)) for view in recent]
    if "linked" in names:
        tables = await profile_linked.rows_by_table(session, profile.id)
        context["linked"] = Bag(
            "linked",
            {
                key: [Bag(key, _present({"key": r.row.key, **r.row.values})) for r in rows]
                for key, rows in tables.items()
            },
        )
    if "rfm" in names:
        scores = await rfm_service.profile_scores(session, profile.id)
        context["rfm"] = Bag(
            "rfm",
            {
                kind.value: Bag(
                    f"rfm.{kind.value}",
                    {
                        "r": item.score.r,
                        "f": item.score.f,
                        "m": item.score.m,
                        "segment": item.score.segment,
                        "recency_days": item.score.recency_days,
                        "frequency": item.score.frequency,
                        "monetary": item.score.monetary,
                    },
                )
                for kind, item in scores.current.items()
            },
        )
    if "segments" in names or "segment_names" in names:
        segments = await segment_service.segments_of(session, profile.id)
        context["segments"] = [s.key for s in segments]
        context["segment_names"] = [s.name for s in segments]
    return context
