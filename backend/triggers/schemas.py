"""What the REST API reads and writes for trigger definitions and occurrences."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.triggers.models import TriggerKind

Key = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z][a-z0-9_]{0,63}"), max_length=64, examples=["birthday"])
]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# Values an event property must equal for an `event` trigger to fire.
PropertyValue = str | int | float | bool


class TriggerSettings(Schema):
    """The settings of each kind; a field that does not belong to the kind is refused.

    - `event`: `eventName`, optionally `propertyEquals` (property name → value).
    - `date_attribute`: `dateField` (`birth_date` or a date/datetime profile attribute),
      `offsetDays` (-3650 to 3650), `localTime` (default 09:00, in the profile's time zone, else the
      brand's) and `yearly` (true: every year on the date's anniversary — a birthday; 29 February
      falls on 28 February in common years). A `datetime` attribute counts by its date in the
      profile's time zone and cannot recur yearly.
    - `inactivity`: `inactivityDays` (1 to 3650) after the profile's last order.
    - `abandoned_cart`: `delayMinutes` (1 to 43200) after the cart's last update.
    - `profile_change`: `changedField` (a profile field as the profiles API names it, such as
      `email` or `preferredStore`, or `attributes.<key>`), optionally `changedTo` (the new value
      it must have). A profile's creation counts as a change of every field it is given.
    """

    event_name: Annotated[str, msgspec.Meta(examples=["product_viewed"])] | None = None
    property_equals: dict[str, PropertyValue] | None = None
    date_field: Annotated[str, msgspec.Meta(examples=["birth_date"])] | None = None
    offset_days: int | None = None
    local_time: Annotated[dt.time, msgspec.Meta(examples=["09:00:00"])] | None = None
    yearly: bool | None = None
    inactivity_days: int | None = None
    delay_minutes: int | None = None
    changed_field: Annotated[str, msgspec.Meta(examples=["attributes.tier"])] | None = None
    changed_to: PropertyValue | None = None


class TriggerCreate(TriggerSettings, kw_only=True):
    """A trigger definition; its `key` is the `type` of the occurrences it raises."""

    key: Key
    label: Label
    kind: TriggerKind
    enabled: bool = True


class TriggerUpdate(Schema):
    """Fields to change; the key and kind are fixed. Settings given replace the stored ones of
    the same name (others are kept), and the whole is validated again."""

    label: Label | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    event_name: str | msgspec.UnsetType | None = msgspec.UNSET
    property_equals: dict[str, PropertyValue] | msgspec.UnsetType | None = msgspec.UNSET
    date_field: str | msgspec.UnsetType | None = msgspec.UNSET
    offset_days: int | msgspec.UnsetType | None = msgspec.UNSET
    local_time: dt.time | msgspec.UnsetType | None = msgspec.UNSET
    yearly: bool | msgspec.UnsetType | None = msgspec.UNSET
    inactivity_days: int | msgspec.UnsetType | None = msgspec.UNSET
    delay_minutes: int | msgspec.UnsetType | None = msgspec.UNSET
    changed_field: str | msgspec.UnsetType | None = msgspec.UNSET
    changed_to: PropertyValue | msgspec.UnsetType | None = msgspec.UNSET


class TriggerOut(TriggerSettings, kw_only=True):
    id: UUID
    key: str
    label: str
    kind: TriggerKind
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class TriggerPage(Schema):
    items: list[TriggerOut]
    next_cursor: str | None


class OccurrenceOut(Schema):
    """A trigger raised for a profile, once per (type, dedupe key)."""

    id: UUID
    profile_id: UUID
    type: str
    dedupe_key: str
    occurred_at: dt.datetime
    payload: dict[str, Any]
    created_at: dt.datetime


class OccurrencePage(Schema):
    items: list[OccurrenceOut]
    next_cursor: str | None
