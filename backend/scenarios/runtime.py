"""The step executor: advances a batch of journeys as far as each can go now, in the caller's
transaction, then writes the batch back set-based.

A journey always stands at a node with an open step (its ``seq``); advancing runs that node:
either the journey parks there (a wait, a message's outcome awaited) or the step closes with an
outcome and the next node's step opens, and so on until every journey of the batch is parked or
finished. Nodes of one kind run together for the whole batch (a condition is one statement for
all the profiles at that node, the sends are recorded one after the other and queued once).

Exactly once: the journeys are claimed with ``FOR UPDATE SKIP LOCKED`` by the task, and every
write of a step — its row (the idempotency key ``journey:seq``), the journey's new place, the
message in the ledger (source key: the step key), the webhook delivery, the profile update —
commits in one transaction. A worker killed mid-batch commits nothing: the journeys are claimed
again as they were, and the same steps run once.

The executor takes the moment (``now``: a simulation moves its own clock) and the effects (a dry
run records instead of acting): :class:`backend.scenarios.effects.Effects`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core import due_work
from backend.core.errors import LevierError
from backend.core.tenancy import TenantId
from backend.profiles import service as profiles_service
from backend.profiles.models import Profile
from backend.scenarios import graph as g
from backend.scenarios import repository, timing
from backend.scenarios.effects import Effects, SendRequest
from backend.scenarios.models import Journey, JourneyState, ScenarioVersion
from backend.segments import service as segments_service
from backend.tenancy import service as tenancy_service

log = structlog.get_logger("levier.scenarios")

WAKE_TASK = "scenarios.wake"
# A journey put at a node whose run has not started (entered, moved by a live edit): its
# ``due_at`` only says when to claim it, not when a wait there ends.
ARRIVED = "arrived"
# Journeys parked until the same second share one wake-up of the brand.
WAKE_RESOLUTION = dt.timedelta(seconds=1)


def step_key(journey_id: UUID, seq: int) -> str:
    """A step's idempotency key."""
    return f"{journey_id}:{seq}"


def journey_of_step_key(key: str) -> UUID | None:
    head = key.split(":", 1)[0]
    try:
        return UUID(head)
    except ValueError:
        return None


def split_bucket(scenario_id: UUID, node_id: str, profile_id: UUID) -> int:
    """A profile's place (0 to 9999) in a split: the same for every journey of the profile through
    that node, independent from one split to another."""
    digest = hashlib.sha256(f"{scenario_id}:{node_id}:{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def choose_branch(node: g.SplitNode, bucket: int) -> int:
    edge = 0
    for index, branch in enumerate(node.branches):
        edge += branch.percent * 100
        if bucket < edge:
            return index
    return len(node.branches) - 1


def matches(wanted: dict[str, Any], properties: dict[str, Any]) -> bool:
    """Every wanted property present with an equal value (true is not 1)."""
    for name, value in wanted.items():
        if name not in properties:
            return False
        actual = properties[name]
        if isinstance(value, bool) or isinstance(actual, bool):
            if not (isinstance(value, bool) and isinstance(actual, bool) and value == actual):
                return False
        elif value != actual:
            return False
    return True


@dataclass
class Step:
    """A step of the batch: new (inserted at the end) or opened by an earlier batch (closed at
    the end when it got its outcome)."""

    journey_id: UUID
    seq: int
    version_id: UUID
    node_id: str
    kind: str
    started_at: dt.datetime
    stored: bool
    outcome: str | None = None
    message_id: UUID | None = None
    detail: dict[str, Any] | None = None
    finished_at: dt.datetime | None = None


@dataclass
class Run:
    """A journey being advanced (its row, detached) and its open step."""

    journey: Journey
    graph: g.Graph
    step: Step | None = None

    @property
    def node(self) -> g.Node | None:
        return self.graph.nodes.get(self.journey.node_id)


@dataclass
class Advanced:
    """What a batch did: journeys parked, finished, and the steps run."""

    parked: list[UUID] = field(default_factory=list)
    finished: list[UUID] = field(default_factory=list)
    steps: int = 0


@dataclass(frozen=True)
class Outcome:
    """What a node did for one journey: park there (``park``), or close with ``outcome`` and go
    to ``next`` (None: the journey ends with ``end``)."""

    outcome: str | None = None
    next: str | None = None
    park: bool = False
    end: JourneyState | None = None
    message_id: UUID | None = None
    detail: dict[str, Any] | None = None


class Executor:
    """Advances journeys of one brand at ``now`` through ``effects``."""

    def __init__(
        self,
        session: AsyncSession,
        tenant: TenantId,
        settings: Settings,
        *,
        now: dt.datetime,
        effects: Effects,
    ) -> None:
        self.session = session
        self.tenant = tenant
        self.settings = settings
        self.now = now
        self.effects = effects
        self._profiles: dict[UUID, Profile] = {}
        self._brand_zone: str | None = None
        self._brand_zone_read = False

    # The batch ------------------------------------------------------------------------------

    async def advance(
        self, journeys: Sequence[Journey], versions: dict[UUID, ScenarioVersion]
    ) -> Advanced:
        """Run the journeys as far as each goes now; write everything back (not committed)."""
        graphs = {v.id: g.parse(v.graph) for v in versions.values()}
        runs = [Run(j, graphs[j.version_id]) for j in journeys if j.version_id in graphs]
        steps: list[Step] = []
        done = Advanced()
        for run in runs:
            if run.journey.wait_outcome == ARRIVED:  # its node has not run yet
                run.journey.wait_outcome = None
                run.journey.due_at = None
            run.step = self._open_step(run, stored=run.journey.seq > 0)
        pending = runs
        while pending:
            pending = await self._round(pending, steps, done)
        await self._write(runs, steps, done)
        done.steps = len([s for s in steps if s.outcome is not None])
        return done

    def _open_step(self, run: Run, *, stored: bool) -> Step:
        journey = run.journey
        if not stored:
            journey.seq += 1
        kind = run.graph.kind_of(journey.node_id) if journey.node_id in run.graph.nodes else "gone"
        return Step(
            journey.id,
            journey.seq,
            journey.version_id,
            journey.node_id,
            kind,
            self.now,
            stored=stored,
        )

    async def _round(self, runs: list[Run], steps: list[Step], done: Advanced) -> list[Run]:
        """Run each journey's current node (by kind, for the whole batch); those that moved on."""
        by_kind: dict[type[Any], list[Run]] = defaultdict(list)
        for run in runs:
            by_kind[type(run.node)].append(run)
        outcomes: dict[UUID, Outcome] = {}
        for kind, group in by_kind.items():
            handler = _HANDLERS.get(kind)
            if handler is None:  # its node is not in its version (cannot happen once checked)
                for run in group:
                    outcomes[run.journey.id] = Outcome("exited", end=JourneyState.EXITED)
                continue
            outcomes.update(await handler(self, group))
        moving: list[Run] = []
        for run in runs:
            if self._apply(run, outcomes[run.journey.id], steps, done):
                moving.append(run)
        return moving

    def _apply(self, run: Run, outcome: Outcome, steps: list[Step], done: Advanced) -> bool:
        """Record what the node did; True when the journey moved to a next node."""
        journey, step = run.journey, run.step
        assert step is not None
        if outcome.message_id is not None:
            step.message_id = outcome.message_id
        if outcome.park:
            if not step.stored or outcome.message_id is not None:
                steps.append(step)
            journey.state = JourneyState.WAITING
            done.parked.append(journey.id)
            return False
        step.outcome = outcome.outcome
        step.detail = outcome.detail
        step.finished_at = self.now
        steps.append(step)
        journey.due_at = None
        journey.wait_event = None
        journey.wait_message_id = None
        journey.wait_outcome = None
        if outcome.next is None:
            journey.state = outcome.end or JourneyState.COMPLETED
            journey.finished_at = self.now
            done.finished.append(journey.id)
            return False
        journey.node_id = outcome.next
        journey.state = JourneyState.READY
        run.step = self._open_step(run, stored=False)
        return True

    async def _write(self, runs: list[Run], steps: list[Step], done: Advanced) -> None:
        tenant = self.tenant
        await repository.insert_steps(
            self.session,
            [
                {
                    "tenant_id": tenant,
                    "journey_id": s.journey_id,
                    "seq": s.seq,
                    "version_id": s.version_id,
                    "node_id": s.node_id,
                    "kind": s.kind,
                    "outcome": s.outcome,
                    "message_id": s.message_id,
                    "detail": s.detail,
                    "deferred": False,
                    "started_at": s.started_at,
                    "finished_at": s.finished_at,
                }
                for s in steps
                if not s.stored
            ],
        )
        await repository.close_steps(
            self.session,
            [
                {
                    "b_tenant_id": tenant,
                    "b_journey_id": s.journey_id,
                    "b_seq": s.seq,
                    "outcome": s.outcome,
                    "finished_at": s.finished_at,
                    "message_id": s.message_id,
                    "detail": s.detail,
                }
                for s in steps
                if s.stored
            ],
        )
        await repository.write_journeys(
            self.session,
            [
                {"b_tenant_id": tenant, "b_id": r.journey.id, "updated_at": self.now}
                | {name: getattr(r.journey, name) for name in repository.JOURNEY_FIELDS}
                | {"version_id": r.journey.version_id}
                for r in runs
            ],
        )
        await repository.release_entries(self.session, done.finished)
        wake_at = {
            _wake_slot(r.journey.due_at)
            for r in runs
            if r.journey.state is JourneyState.WAITING and r.journey.due_at is not None
        }
        for at in sorted(wake_at):
            await schedule_wake(self.session, tenant, at)
        await self.effects.flush()

    # Reads ----------------------------------------------------------------------------------

    async def _zone(self, profile_id: UUID) -> Any:
        profile = self._profiles.get(profile_id)
        if not self._brand_zone_read:
            self._brand_zone = (
                await tenancy_service.get_brand(self.session, self.tenant)
            ).time_zone
            self._brand_zone_read = True
        return timing.zone_of(profile.time_zone if profile else None, self._brand_zone)

    async def _load_profiles(self, runs: Sequence[Run]) -> None:
        wanted = [r.journey.profile_id for r in runs if r.journey.profile_id not in self._profiles]
        if wanted:
            self._profiles.update(await profiles_service.profiles_by_ids(self.session, wanted))

    # Nodes ----------------------------------------------------------------------------------

    async def _entry(self, runs: list[Run]) -> dict[UUID, Outcome]:
        return {r.journey.id: Outcome("entered", next=r.graph.entry.next) for r in runs}

    async def _exit(self, runs: list[Run]) -> dict[UUID, Outcome]:
        return {r.journey.id: Outcome("completed", end=JourneyState.COMPLETED) for r in runs}

    async def _goal(self, runs: list[Run]) -> dict[UUID, Outcome]:
        return {r.journey.id: Outcome("converted", end=JourneyState.CONVERTED) for r in runs}

    async def _wait(self, runs: list[Run]) -> dict[UUID, Outcome]:
        await self._load_profiles([r for r in runs if r.journey.due_at is None])
        result: dict[UUID, Outcome] = {}
        for run in runs:
            journey, node = run.journey, run.node
            assert isinstance(node, g.WaitNode)
            if journey.due_at is None:
                journey.due_at = await self._wait_end(journey, node)
            if journey.due_at <= self.now:
                result[journey.id] = Outcome("passed", next=node.next)
            else:
                result[journey.id] = Outcome(park=True)
        return result

    async def _wait_end(self, journey: Journey, node: g.WaitNode) -> dt.datetime:
        zone = await self._zone(journey.profile_id)
        if node.duration is not None:
            return timing.after(self.now, node.duration, zone)
        if node.until_time is not None:
            at = g.parse_time(node.until_time)
            assert at is not None
            return timing.next_time_of_day(self.now, at, zone)
        assert node.until_date is not None
        profile = self._profiles.get(journey.profile_id)
        day = _date_of(profile, node.until_date.field, zone)
        if day is None:  # no date known: nothing to wait for
            return self.now
        at = g.parse_time(node.until_date.time)
        assert at is not None
        return timing.until_date(
            self.now,
            day,
            node.until_date.offset_days,
            at,
            zone,
            yearly=node.until_date.field == "birth_date",
        )

    async def _wait_event(self, runs: list[Run]) -> dict[UUID, Outcome]:
        await self._load_profiles([r for r in runs if r.journey.due_at is None])
        result: dict[UUID, Outcome] = {}
        for run in runs:
            journey, node = run.journey, run.node
            assert isinstance(node, g.WaitEventNode)
            if journey.wait_outcome == "happened":
                result[journey.id] = Outcome("happened", next=node.happened)
                continue
            if journey.due_at is None:
                zone = await self._zone(journey.profile_id)
                journey.due_at = timing.after(self.now, node.timeout, zone)
                journey.wait_event = node.event_name
            if journey.due_at <= self.now:
                result[journey.id] = Outcome("timed_out", next=node.timed_out)
            else:
                result[journey.id] = Outcome(park=True)
        return result

    async def _condition(self, runs: list[Run]) -> dict[UUID, Outcome]:
        by_node: dict[tuple[UUID, str], list[Run]] = defaultdict(list)
        for run in runs:
            by_node[(run.journey.version_id, run.journey.node_id)].append(run)
        result: dict[UUID, Outcome] = {}
        for group in by_node.values():
            node = group[0].node
            assert isinstance(node, g.ConditionNode)
            try:
                holding = await segments_service.matching_profiles(
                    self.session,
                    self.tenant,
                    node.rule,
                    [r.journey.profile_id for r in group],
                    now=self.now,
                )
            except LevierError as exc:  # its rule no longer fits the brand's schema
                for run in group:
                    result[run.journey.id] = Outcome(
                        "no", next=node.no, detail={"error": exc.detail or str(exc)}
                    )
                continue
            for run in group:
                yes = run.journey.profile_id in holding
                result[run.journey.id] = Outcome(
                    "yes" if yes else "no", next=node.yes if yes else node.no
                )
        return result

    async def _split(self, runs: list[Run]) -> dict[UUID, Outcome]:
        result: dict[UUID, Outcome] = {}
        for run in runs:
            node = run.node
            assert isinstance(node, g.SplitNode)
            bucket = split_bucket(run.journey.scenario_id, node.id, run.journey.profile_id)
            index = choose_branch(node, bucket)
            branch = node.branches[index]
            result[run.journey.id] = Outcome(
                f"branch:{branch.label or index}", next=branch.next, detail={"branch": index}
            )
        return result

    async def _send(self, runs: list[Run]) -> dict[UUID, Outcome]:
        result: dict[UUID, Outcome] = {}
        asking: list[Run] = []
        for run in runs:
            journey, node = run.journey, run.node
            assert isinstance(node, g.SendNode)
            if journey.wait_message_id is None:
                asking.append(run)
            elif journey.wait_outcome is not None:
                result[journey.id] = Outcome(
                    journey.wait_outcome, next=node.next, message_id=journey.wait_message_id
                )
            else:
                result[journey.id] = Outcome(park=True)
        requests = []
        for run in asking:
            assert isinstance(run.node, g.SendNode)
            assert run.step is not None
            requests.append(
                SendRequest(
                    run.journey.id,
                    run.journey.profile_id,
                    run.node,
                    step_key(run.journey.id, run.step.seq),
                    dict(run.journey.data or {}),
                )
            )
        for run, sent in zip(asking, await self.effects.send(requests), strict=True):
            node = run.node
            assert isinstance(node, g.SendNode)
            if sent.outcome is not None:
                detail = {"reason": sent.detail} if sent.detail else None
                result[run.journey.id] = Outcome(
                    sent.outcome, next=node.next, message_id=sent.message_id, detail=detail
                )
            else:
                run.journey.wait_message_id = sent.message_id
                run.journey.due_at = None
                result[run.journey.id] = Outcome(park=True, message_id=sent.message_id)
        return result

    async def _one_by_one(self, runs: list[Run]) -> dict[UUID, Outcome]:
        """Updates and webhooks: each in a savepoint, so one that fails (an attribute no longer
        defined, an endpoint deleted) records its failure and the batch goes on."""
        result: dict[UUID, Outcome] = {}
        for run in runs:
            node, journey = run.node, run.journey
            assert isinstance(node, g.UpdateNode | g.WebhookNode)
            assert run.step is not None
            try:
                async with self.session.begin_nested():
                    if isinstance(node, g.UpdateNode):
                        done = await self.effects.update(journey.profile_id, node)
                    else:
                        key = step_key(journey.id, run.step.seq)
                        done = await self.effects.webhook(journey.id, journey.profile_id, node, key)
                outcome = Outcome(done.outcome, next=node.next, detail=done.detail)
            except LevierError as exc:
                outcome = Outcome(
                    "failed", next=node.next, detail={"error": exc.detail or str(exc)}
                )
            result[journey.id] = outcome
        return result


def _date_of(profile: Profile | None, name: str, zone: Any) -> dt.date | None:
    if profile is None:
        return None
    value = profile.birth_date if name == "birth_date" else (profile.attributes or {}).get(name)
    if isinstance(value, dt.datetime):
        return value.astimezone(zone).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is not None:
            return parsed.astimezone(zone).date()
        return parsed.date()
    return None


_HANDLERS: dict[type[Any], Any] = {
    g.EntryNode: Executor._entry,
    g.ExitNode: Executor._exit,
    g.GoalNode: Executor._goal,
    g.WaitNode: Executor._wait,
    g.WaitEventNode: Executor._wait_event,
    g.ConditionNode: Executor._condition,
    g.SplitNode: Executor._split,
    g.SendNode: Executor._send,
    g.UpdateNode: Executor._one_by_one,
    g.WebhookNode: Executor._one_by_one,
}


def _wake_slot(at: dt.datetime) -> dt.datetime:
    """The second (rounded up) a parked journey is woken at."""
    seconds = at.timestamp()
    whole = int(seconds) + (0 if seconds == int(seconds) else 1)
    return dt.datetime.fromtimestamp(whole, dt.UTC)


async def schedule_wake(session: AsyncSession, tenant: TenantId, at: dt.datetime) -> None:
    """Due work: wake the brand's journeys due at ``at`` (one row per brand and second)."""
    slot = _wake_slot(at)
    await due_work.schedule(
        session,
        WAKE_TASK,
        slot,
        tenant=tenant,
        dedupe_key=f"{WAKE_TASK}:{tenant}:{int(slot.timestamp())}",
    )
