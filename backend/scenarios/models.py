"""Scenarios: automated journeys. A scenario holds numbered versions of its graph (a draft being
edited, the live one taking entries, older ones finishing their profiles); each profile's run of
a version is a journey, whose steps are its history.

- ``scenario_entries`` keeps, per (scenario, profile), when the profile last entered and the
  journey it is on: the re-entry policy is decided by one conditional upsert on it.
- ``scenario_entry_keys`` holds the key of every trigger occurrence (or API entry) a scenario
  handled: a redelivered occurrence starts nothing.
- ``scenario_journeys`` is also the due work of waits: a parked journey has ``due_at`` and is
  claimed with ``FOR UPDATE SKIP LOCKED`` when it falls due.
- ``scenario_steps``: one row per node a journey reached, keyed ``(journey, seq)`` — the step's
  idempotency key; open (no outcome) while the journey waits there.

Rows of a profile reference it with ON DELETE CASCADE; ``program_id`` names a program without a
foreign key (programs are another domain's).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, Index, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, JSONType, TimestampMixin, string_enum
from backend.core.ids import new_id
from backend.core.tenancy import TenantMixin


class ScenarioStatus(StrEnum):
    DRAFT = "draft"  # never activated
    ACTIVE = "active"  # its live version takes entries; journeys progress
    PAUSED = "paused"  # no entry, no progress: journeys are held where they are
    ARCHIVED = "archived"  # no entry; journeys in flight finish (drain)


class VersionState(StrEnum):
    DRAFT = "draft"  # being edited
    LIVE = "live"  # takes entries
    FINISHING = "finishing"  # replaced; its journeys finish on it
    RETIRED = "retired"  # replaced, and none of its journeys remains in flight


class JourneyState(StrEnum):
    READY = "ready"  # has a step to run now
    WAITING = "waiting"  # parked at its node: a time, an event, a message's outcome
    COMPLETED = "completed"  # reached an exit
    CONVERTED = "converted"  # its goal happened
    EXITED = "exited"  # left early: its profile or node went away
    FAILED = "failed"  # a step failed for good


IN_FLIGHT = (JourneyState.READY, JourneyState.WAITING)


def _of_profile() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "profile_id"], ["profiles.tenant_id", "profiles.id"], ondelete="CASCADE"
    )


def _of_scenario() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "scenario_id"], ["scenarios.tenant_id", "scenarios.id"], ondelete="CASCADE"
    )


class Scenario(TenantMixin, TimestampMixin, Base):
    """An automated journey of the brand; its graphs are in its versions."""

    __tablename__ = "scenarios"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_scenarios_tenant_id_program_id", "tenant_id", "program_id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    # The program it serves (programs are wired by the integration: no foreign key here).
    program_id: Mapped[UUID | None]
    status: Mapped[ScenarioStatus] = mapped_column(
        string_enum(ScenarioStatus, "scenario_status"), default=ScenarioStatus.DRAFT
    )
    live_version: Mapped[int | None]  # the number of the version taking entries
    draft_version: Mapped[int | None]  # the number of the version being edited


class ScenarioVersion(TenantMixin, TimestampMixin, Base):
    """One numbered graph of a scenario, frozen once activated."""

    __tablename__ = "scenario_versions"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "scenario_id", "number"),
        Index(
            "ix_scenario_versions_tenant_id_state_entry_type", "tenant_id", "state", "entry_type"
        ),
        _of_scenario(),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    scenario_id: Mapped[UUID]
    number: Mapped[int]
    state: Mapped[VersionState] = mapped_column(
        string_enum(VersionState, "scenario_version_state"), default=VersionState.DRAFT
    )
    graph: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The trigger occurrence type its entry listens to (set when activated).
    entry_type: Mapped[str | None] = mapped_column(String(64))
    activated_at: Mapped[dt.datetime | None]
    retired_at: Mapped[dt.datetime | None]


class ScenarioEntry(TenantMixin, TimestampMixin, Base):
    """A profile's entries into a scenario: the re-entry policy's memory."""

    __tablename__ = "scenario_entries"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "scenario_id", "profile_id"),
        _of_scenario(),
        _of_profile(),
    )

    scenario_id: Mapped[UUID] = mapped_column(primary_key=True)
    profile_id: Mapped[UUID] = mapped_column(primary_key=True)
    last_entered_at: Mapped[dt.datetime]
    entries: Mapped[int] = mapped_column(default=1)
    journey_id: Mapped[UUID | None]  # the journey in flight, None once it ended


class ScenarioEntryKey(TenantMixin, TimestampMixin, Base):
    """An occurrence (or API entry) a scenario handled already, admitted or not."""

    __tablename__ = "scenario_entry_keys"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "scenario_id", "entry_key"), _of_scenario())

    scenario_id: Mapped[UUID] = mapped_column(primary_key=True)
    entry_key: Mapped[str] = mapped_column(String(300), primary_key=True)


class Journey(TenantMixin, TimestampMixin, Base):
    """One profile's run of one scenario version."""

    __tablename__ = "scenario_journeys"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_scenario_journeys_tenant_id_state_due_at", "tenant_id", "state", "due_at"),
        Index("ix_scenario_journeys_tenant_id_profile_id", "tenant_id", "profile_id"),
        Index(
            "ix_scenario_journeys_tenant_id_scenario_id_state", "tenant_id", "scenario_id", "state"
        ),
        Index(
            "ix_scenario_journeys_tenant_id_version_id_state", "tenant_id", "version_id", "state"
        ),
        Index(
            "ix_scenario_journeys_tenant_id_scenario_id_entry_key",
            "tenant_id",
            "scenario_id",
            "entry_key",
        ),
        _of_scenario(),
        _of_profile(),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    scenario_id: Mapped[UUID]
    version_id: Mapped[UUID]
    profile_id: Mapped[UUID]
    state: Mapped[JourneyState] = mapped_column(string_enum(JourneyState, "journey_state"))
    node_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]  # the number of its current (last) step
    entered_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime | None]  # when it is to be looked at again (None: on an outcome)
    wait_event: Mapped[str | None] = mapped_column(String(100))  # the event it waits for
    wait_message_id: Mapped[UUID | None]  # the message whose outcome it waits for
    wait_outcome: Mapped[str | None] = mapped_column(String(32))  # what ended the wait
    entry_key: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # the entry's data
    finished_at: Mapped[dt.datetime | None]

    @property
    def waiting_for_event(self) -> str | None:
        return self.wait_event if self.state is JourneyState.WAITING else None

    @property
    def waiting_for_message(self) -> UUID | None:
        return self.wait_message_id if self.state is JourneyState.WAITING else None


class JourneyStep(TenantMixin, TimestampMixin, Base):
    """A node a journey reached and what came of it (no outcome yet: the journey is there)."""

    __tablename__ = "scenario_steps"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "journey_id", "seq"),
        Index(
            "ix_scenario_steps_tenant_id_version_id_node_id", "tenant_id", "version_id", "node_id"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "journey_id"],
            ["scenario_journeys.tenant_id", "scenario_journeys.id"],
            ondelete="CASCADE",
        ),
    )

    journey_id: Mapped[UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[UUID]
    node_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[UUID | None]
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    deferred: Mapped[bool] = mapped_column(default=False)  # its message was deferred on the way
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]

    @property
    def key(self) -> str:
        """The step's idempotency key (a message's source key, a webhook's event)."""
        return f"{self.journey_id}:{self.seq}"
