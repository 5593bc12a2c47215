"""The context a template sees for one profile, read through the other domains' services, and
only the parts the versions use (their ``names``), each part loaded for all the profiles of a
batch at once: a batch printing first names costs one query, one looping over orders three,
whatever the number of profiles."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.content.compile import PROFILE_FIELDS
from backend.content.render import Bag
from backend.profiles import consents as profile_consents
from backend.profiles import orders as profile_orders
from backend.profiles.linked import service as profile_linked
from backend.profiles.linked.service import RowView
from backend.profiles.models import ConsentChange, Profile
from backend.rfm import service as rfm_service
from backend.rfm.models import RfmKind
from backend.rfm.service import ProfileScore
from backend.segments import service as segment_service
from backend.segments.models import Segment

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


@dataclass
class ContextParts:
    """The parts of the context that need queries, loaded for every profile of a batch at once
    (one query or two per part, whatever the number of profiles); a profile absent from a part
    was not asked for it."""

    consents: dict[UUID, list[ConsentChange]] = field(default_factory=dict)
    orders: dict[UUID, list[profile_orders.OrderView]] = field(default_factory=dict)
    linked: dict[UUID, dict[str, list[RowView]]] = field(default_factory=dict)
    rfm: dict[UUID, dict[RfmKind, ProfileScore]] = field(default_factory=dict)
    segments: dict[UUID, list[Segment]] = field(default_factory=dict)


def _wanting(wanted: Mapping[UUID, Collection[str]], *names: str) -> list[UUID]:
    return [profile_id for profile_id, used in wanted.items() if any(n in used for n in names)]


async def load_parts(session: AsyncSession, wanted: Mapping[UUID, Collection[str]]) -> ContextParts:
    """For each profile, the parts the names its versions use need (``wanted``: profile id →
    names): each part read once for all the profiles that need it."""
    parts = ContextParts()
    if ids := _wanting(wanted, "consents"):
        parts.consents = await profile_consents.current_of_many(session, ids)
    if ids := _wanting(wanted, "orders"):
        parts.orders = await profile_orders.recent_orders_of_many(session, ids, RECENT_ORDERS)
    if ids := _wanting(wanted, "linked"):
        parts.linked = await profile_linked.rows_by_table_of_many(session, ids)
    if ids := _wanting(wanted, "rfm"):
        parts.rfm = await rfm_service.current_scores_of_many(session, ids)
    if ids := _wanting(wanted, "segments", "segment_names"):
        parts.segments = await segment_service.segments_of_many(session, ids)
    return parts


def _score(item: ProfileScore) -> dict[str, Any]:
    score = item.score
    return {
        "r": score.r,
        "f": score.f,
        "m": score.m,
        "segment": score.segment,
        "recency_days": score.recency_days,
        "frequency": score.frequency,
        "monetary": score.monetary,
    }


def profile_context(
    parts: ContextParts, profile: Profile, names: Collection[str]
) -> dict[str, Any]:
    """The profile's part of the context, from parts loaded by :func:`load_parts`."""
    values = profile_values(profile)
    context: dict[str, Any] = {name: values[name] for name in PROFILE_FIELDS if name in values}
    context["profile"] = Bag("profile", values)
    context["attributes"] = Bag("attributes", _present(profile.attributes or {}))
    context["profile"]["attributes"] = context["attributes"]
    if "consents" in names:
        channels = Bag("consents", {})
        topics = Bag("consents.topics", {})
        for change in parts.consents.get(profile.id, ()):
            if change.topic:
                topics[change.topic] = change.state.value
            elif change.channel:
                channels[change.channel.value] = change.state.value
        channels["topics"] = topics
        context["consents"] = channels
    if "orders" in names:
        context["orders"] = [Bag("order", _order(v)) for v in parts.orders.get(profile.id, ())]
    if "linked" in names:
        tables = parts.linked.get(profile.id, {})
        context["linked"] = Bag(
            "linked",
            {
                key: [Bag(key, _present({"key": r.row.key, **r.row.values})) for r in rows]
                for key, rows in tables.items()
            },
        )
    if "rfm" in names:
        scores = parts.rfm.get(profile.id, {})
        context["rfm"] = Bag(
            "rfm",
            {kind.value: Bag(f"rfm.{kind.value}", _score(item)) for kind, item in scores.items()},
        )
    if "segments" in names or "segment_names" in names:
        segments = parts.segments.get(profile.id, ())
        context["segments"] = [s.key for s in segments]
        context["segment_names"] = [s.name for s in segments]
    return context
