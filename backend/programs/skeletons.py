"""The shapes of a program template's skeleton: the campaign or the scenario that serves the
program, kept as data for the campaigns and scenarios domains to instantiate. Checked when the
catalog loads (msgspec), shown by the API in full (every default spelled out).

Shapes (JSON, camelCase):

- ``{"kind": "campaign", "channel": "email"|"sms"|"push", "topic": <consent topic key>|null,
  "transactional": false, "schedule": {"kind": "once"} | {"kind": "recurring", "rrule":
  <RFC 5545 RRULE>, "localTime": "HH:MM"}}`` — one send, or a recurring one (the brand's time
  zone).
- ``{"kind": "scenario", "trigger": <trigger>, "steps": [<step>, …], "exitOn": [<event name>,
  …]}`` — a journey started per profile by ``trigger`` and left as soon as the profile does
  one of ``exitOn``. Triggers: ``{"kind": "event", "event": name}``, ``{"kind":
  "date_attribute", "field": "birthDate", "offsetDays": -7, "yearly": true}``, ``{"kind":
  "inactivity", "days": n}``, ``{"kind": "abandoned_cart", "delayMinutes": n}``, ``{"kind":
  "segment_entered"}`` (the program's audience), ``{"kind": "rfm_segment_dropped", "rfmKind":
  "purchase"}``. Steps (``type``): ``send`` (``channel``, ``content``: a suggested template key,
  ``transactional``, ``fallback`` channel), ``wait`` (``days``, ``hours``), ``condition``
  (``if``: a rule in the segment language, ``then`` and ``else``: steps), ``split``
  (``branches``: ``{name, weight, steps}``, weights summing to 100), ``update`` (``field``,
  ``value``: a profile field or attribute to set), ``exit``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
from dateutil.rrule import rrulestr

# Skeleton shapes ------------------------------------------------------------------------------

SkeletonChannel = Literal["email", "sms", "push"]
_LOCAL_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


class _Shape(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    pass


class Schedule(_Shape):
    kind: Literal["once", "recurring"]
    rrule: str | None = None
    local_time: str | None = None

    def __post_init__(self) -> None:
        if (self.kind == "recurring") != (self.rrule is not None):
            raise ValueError("a recurring schedule has an rrule, a one-off none")
        if self.rrule is not None:
            rrulestr(self.rrule)  # raises ValueError when it is not an RRULE
        if self.local_time is not None and not _LOCAL_TIME.fullmatch(self.local_time):
            raise ValueError("localTime is HH:MM")


class CampaignSkeleton(_Shape, tag="campaign", tag_field="kind"):
    channel: SkeletonChannel
    schedule: Schedule
    topic: str | None = None
    transactional: bool = False


class EventTrigger(_Shape, tag="event", tag_field="kind"):
    event: str


class DateTrigger(_Shape, tag="date_attribute", tag_field="kind"):
    field: str
    offset_days: int = 0
    yearly: bool = True


class InactivityTrigger(_Shape, tag="inactivity", tag_field="kind"):
    days: int


class AbandonedCartTrigger(_Shape, tag="abandoned_cart", tag_field="kind"):
    delay_minutes: int


class AudienceEnteredTrigger(_Shape, tag="segment_entered", tag_field="kind"):
    pass


class RfmDroppedTrigger(_Shape, tag="rfm_segment_dropped", tag_field="kind"):
    rfm_kind: Literal["purchase", "engagement"] = "purchase"


Trigger = (
    EventTrigger
    | DateTrigger
    | InactivityTrigger
    | AbandonedCartTrigger
    | AudienceEnteredTrigger
    | RfmDroppedTrigger
)


class SendStep(_Shape, tag="send", tag_field="type"):
    channel: SkeletonChannel
    content: str
    transactional: bool = False
    fallback: SkeletonChannel | None = None

    def __post_init__(self) -> None:
        if not KEY.fullmatch(self.content):
            raise ValueError("content is a template key")


class WaitStep(_Shape, tag="wait", tag_field="type"):
    days: int = 0
    hours: int = 0

    def __post_init__(self) -> None:
        if self.days < 0 or self.hours < 0 or self.days + self.hours == 0:
            raise ValueError("a wait lasts some days or hours")


class ConditionStep(_Shape, tag="condition", tag_field="type"):
    if_: dict[str, Any] = msgspec.field(name="if")
    then: list[Step]
    else_: list[Step] = msgspec.field(name="else", default_factory=list)


class SplitBranch(_Shape):
    name: str
    weight: int
    steps: list[Step]


class SplitStep(_Shape, tag="split", tag_field="type"):
    branches: list[SplitBranch]

    def __post_init__(self) -> None:
        if len(self.branches) < 2 or sum(b.weight for b in self.branches) != 100:
            raise ValueError("a split has two branches or more, their weights summing to 100")


class UpdateStep(_Shape, tag="update", tag_field="type"):
    field: str
    value: str | int | float | bool | None


class ExitStep(_Shape, tag="exit", tag_field="type"):
    pass


Step = SendStep | WaitStep | ConditionStep | SplitStep | UpdateStep | ExitStep


class ScenarioSkeleton(_Shape, tag="scenario", tag_field="kind"):
    trigger: Trigger
    steps: list[Step]
    exit_on: list[str] = []


Skeleton = CampaignSkeleton | ScenarioSkeleton


def conditions_of(steps: list[Step]) -> list[dict[str, Any]]:
    """The rules of every condition step, at any depth (each must parse as a segment rule)."""
    found: list[dict[str, Any]] = []
    for step in steps:
        if isinstance(step, ConditionStep):
            found.append(step.if_)
            found.extend(conditions_of(step.then) + conditions_of(step.else_))
        elif isinstance(step, SplitStep):
            for branch in step.branches:
                found.extend(conditions_of(branch.steps))
    return found
