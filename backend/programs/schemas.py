"""What the REST API reads and writes for programs, their templates and the coverage map."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import msgspec

from backend.core.schemas import Schema, whole
from backend.programs.models import OBJECTIVE_MAX, Program, ProgramStatus
from backend.programs.vocabulary import (
    MOMENTS,
    STAGES,
    KpiMetric,
    LifecycleStage,
    MomentOfTruth,
    kpi_problem,
)

if TYPE_CHECKING:
    from backend.programs.catalog import ProgramTemplate

MAX_KPIS = 20
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Welcome"])]
Objective = Annotated[str, msgspec.Meta(min_length=1, max_length=OBJECTIVE_MAX)]
KpiName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Unit = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=16,
        description="`percent` or `ratio` (rates, changes), `count`, an ISO 4217 currency "
        "(amounts), `days`, `points` (scores).",
        examples=["percent"],
    ),
]
TemplateKey = Annotated[
    str, msgspec.Meta(pattern=whole(r"[a-z][a-z0-9_]{0,63}"), max_length=64, examples=["welcome"])
]
Moments = Annotated[
    list[MomentOfTruth],
    msgspec.Meta(
        max_length=len(MomentOfTruth),
        description="The moments of truth the program serves (each once).",
    ),
]


class ProgramKpi(Schema):
    """A KPI the program aims at: a `metric` of the vocabulary, its `target` in `unit`."""

    name: str
    metric: KpiMetric
    target: float
    unit: str


class ProgramKpiIn(Schema):
    """A KPI: `metric` from the vocabulary, `target` in a `unit` that measures it (rates in
    `percent` 0-100 or `ratio` 0-1, counts in `count`, amounts in a currency such as `EUR`,
    `roi` and `uplift` in `percent` or `ratio`, durations in `days`, scores in `points`)."""

    name: KpiName
    metric: KpiMetric
    target: float
    unit: Unit

    def __post_init__(self) -> None:
        problem = kpi_problem(self.metric, self.target, self.unit)
        if problem is not None:
            raise ValueError(problem)


Kpis = Annotated[list[ProgramKpiIn], msgspec.Meta(max_length=MAX_KPIS)]


class ProgramCreate(Schema, kw_only=True):
    """A program in `draft`: its objective at one lifecycle `stage`, KPIs, an optional owner
    (a user who may reach the brand), dates (`endDate` on or after `startDate`; either open),
    the moments of truth it serves and an optional audience (a segment of the brand)."""

    name: Name
    objective: Objective
    stage: LifecycleStage
    kpis: Kpis = []
    owner_id: UUID | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    moments_of_truth: Moments = []
    audience_segment_id: UUID | None = None


class ProgramUpdate(Schema):
    """Fields to change (status changes through `activate`, `pause` and `end`)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    objective: Objective | msgspec.UnsetType = msgspec.UNSET
    stage: LifecycleStage | msgspec.UnsetType = msgspec.UNSET
    kpis: Kpis | msgspec.UnsetType = msgspec.UNSET
    owner_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    start_date: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    end_date: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    moments_of_truth: Moments | msgspec.UnsetType = msgspec.UNSET
    audience_segment_id: UUID | msgspec.UnsetType | None = msgspec.UNSET


class ProgramOut(Schema):
    """A program. `archivedAt` is set once it was deleted while campaigns or scenarios still
    named it: hidden from lists and from the coverage map, changed no more."""

    id: UUID
    name: str
    objective: str
    stage: LifecycleStage
    kpis: list[ProgramKpi]
    owner_id: UUID | None
    start_date: dt.date | None
    end_date: dt.date | None
    status: ProgramStatus
    status_changed_at: dt.datetime | None
    moments_of_truth: list[MomentOfTruth]
    template_key: str | None
    audience_segment_id: UUID | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    # What the program groups (counts of campaigns and scenarios) joins here once those domains
    # exist: fields filled by a classmethod from the row and their counts per program id.


class ProgramPage(Schema):
    items: list[ProgramOut]
    next_cursor: str | None


# Templates -------------------------------------------------------------------------------------


class ProgramTemplateOut(Schema):
    """A ready program: its stage, objective, suggested KPIs and moments of truth, a suggested
    audience rule (segment rule language) and, where it fits, the skeleton of the campaign or
    scenario that serves it. `programCount`: the brand's live programs made from it."""

    key: str
    name: str
    stage: LifecycleStage
    objective: str
    kpis: list[ProgramKpi]
    moments_of_truth: list[MomentOfTruth]
    audience_rule: dict[str, Any]
    skeleton: dict[str, Any] | None
    program_count: int

    @classmethod
    def of_template(cls, template: ProgramTemplate, program_count: int) -> ProgramTemplateOut:
        return cls(
            key=template.key,
            name=template.name,
            stage=template.stage,
            objective=template.objective,
            kpis=msgspec.convert(list(template.kpis), list[ProgramKpi]),
            moments_of_truth=list(template.moments_of_truth),
            audience_rule=dict(template.audience_rule),
            skeleton=None if template.skeleton is None else dict(template.skeleton),
            program_count=program_count,
        )


class ProgramTemplateList(Schema):
    """The whole catalog (a fixed list: not paged)."""

    items: list[ProgramTemplateOut]


class ProgramOverrides(Schema):
    """Fields of the new program that differ from the template's (as in a create)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    objective: Objective | msgspec.UnsetType = msgspec.UNSET
    stage: LifecycleStage | msgspec.UnsetType = msgspec.UNSET
    kpis: Kpis | msgspec.UnsetType = msgspec.UNSET
    owner_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    start_date: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    end_date: dt.date | msgspec.UnsetType | None = msgspec.UNSET
    moments_of_truth: Moments | msgspec.UnsetType = msgspec.UNSET
    audience_segment_id: UUID | msgspec.UnsetType | None = msgspec.UNSET


class ProgramInstantiate(Schema, kw_only=True):
    """A program made from the template `templateKey`, with `overrides`. With `createAudience`
    a rule segment is defined from the template's suggested audience rule (key
    `program_<templateKey>`, suffixed when taken) and recorded as the program's audience."""

    template_key: TemplateKey
    overrides: ProgramOverrides = msgspec.field(default_factory=ProgramOverrides)
    create_audience: bool = False


# Coverage --------------------------------------------------------------------------------------


class CoveringProgram(Schema):
    id: UUID
    name: str
    template_key: str | None


class SuggestedProgramTemplate(Schema):
    key: str
    name: str


class StageCoverage(Schema):
    """One lifecycle stage: the active programs at it, or (a gap) the templates that would
    fill it."""

    stage: LifecycleStage
    label: str
    description: str
    covered: bool
    programs: list[CoveringProgram]
    suggested_templates: list[SuggestedProgramTemplate]


class MomentCoverage(Schema):
    """One moment of truth: the active programs serving it, or (a gap) the templates that
    would."""

    moment: MomentOfTruth
    label: str
    description: str
    covered: bool
    programs: list[CoveringProgram]
    suggested_templates: list[SuggestedProgramTemplate]


class ProgramCoverageOut(Schema):
    """Which lifecycle stages and moments of truth the brand's active programs cover on
    `asOf` (the brand's date today), and which are gaps (`gaps` counts them)."""

    as_of: dt.date
    gaps: int
    stages: list[StageCoverage]
    moments: list[MomentCoverage]

    @classmethod
    def of_programs(
        cls,
        as_of: dt.date,
        programs: Iterable[Program],
        templates: Iterable[ProgramTemplate],
    ) -> ProgramCoverageOut:
        programs, templates = list(programs), list(templates)

        def covering(matches: Any) -> list[CoveringProgram]:
            return [CoveringProgram(p.id, p.name, p.template_key) for p in programs if matches(p)]

        def filling(fits: Any) -> list[SuggestedProgramTemplate]:
            return [SuggestedProgramTemplate(t.key, t.name) for t in templates if fits(t)]

        stages = []
        for stage, described in STAGES.items():
            found = covering(lambda p, s=stage: p.stage == s)
            stages.append(
                StageCoverage(
                    stage=stage,
                    label=described.label,
                    description=described.description,
                    covered=bool(found),
                    programs=found,
                    suggested_templates=[] if found else filling(lambda t, s=stage: t.stage is s),
                )
            )
        moments = []
        for moment, described in MOMENTS.items():
            found = covering(lambda p, m=moment: m.value in p.moments_of_truth)
            moments.append(
                MomentCoverage(
                    moment=moment,
                    label=described.label,
                    description=described.description,
                    covered=bool(found),
                    programs=found,
                    suggested_templates=(
                        [] if found else filling(lambda t, m=moment: m in t.moments_of_truth)
                    ),
                )
            )
        gaps = sum(not s.covered for s in stages) + sum(not m.covered for m in moments)
        return cls(as_of=as_of, gaps=gaps, stages=stages, moments=moments)
