"""The catalog as data: the 23 programs of seed 004 under stable keys, audience rules and
skeleton conditions that parse in any brand (they name nothing a brand defines), skeletons of
the documented shapes, every stage and moment of truth served, and the KPI rules."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from backend.programs import catalog, skeletons
from backend.programs.schemas import ProgramKpiIn
from backend.programs.vocabulary import (
    MOMENTS,
    STAGES,
    KpiMetric,
    LifecycleStage,
    MomentOfTruth,
    kpi_problem,
)
from backend.segments import rules
from backend.segments.nodes import RuleSchema

# Seed 004's list (DOMAIN.md), in its order, by the key each is stored under.
SEED_004 = {
    "welcome": "Welcome",
    "signup_confirmation": "Sign-up confirmation",
    "first_purchase_nudge": "1st purchase nudge",
    "second_purchase_nudge": "2nd purchase nudge",
    "abandoned_cart": "Abandoned cart",
    "cross_sell": "Up-sell / cross-sell",
    "reactivation": "Reactivation / re-engagement",
    "resubscription": "Re-subscription",
    "newsletter": "Newsletter",
    "order_confirmation": "Order confirmation",
    "post_purchase_thanks": "Post-purchase thanks",
    "promotion": "Promotion",
    "product_alert": "Product alert (back in stock / price drop)",
    "calendar": "Calendar-based",
    "loyalty_tier": "Points or spend tier",
    "year_end_gift": "Year-end gift or rebate",
    "wallet_card": "Dematerialisation (wallet card)",
    "customer_reviews": "Customer reviews",
    "satisfaction_survey": "Satisfaction survey",
    "new_neighbours": "New neighbours",
    "referral": "Referral",
    "invitations": "Invitations",
    "anti_churn": "Anti-churn",
}
KEYS = list(SEED_004)


def test_the_catalog_is_seed_004s_23_programs_under_stable_keys() -> None:
    assert len(catalog.TEMPLATES) == 23
    assert {t.key: t.name for t in catalog.TEMPLATES} == SEED_004
    assert [t.key for t in catalog.TEMPLATES] == KEYS


def test_every_stage_and_moment_of_truth_has_a_template_and_a_description() -> None:
    assert {t.stage for t in catalog.TEMPLATES} == set(LifecycleStage)
    assert {m for t in catalog.TEMPLATES for m in t.moments_of_truth} == set(MomentOfTruth)
    assert set(STAGES) == set(LifecycleStage)
    assert set(MOMENTS) == set(MomentOfTruth)


@pytest.mark.parametrize("key", KEYS)
def test_audience_rule_and_skeleton_conditions_parse_in_a_brand_that_defines_nothing(
    key: str,
) -> None:
    template = catalog.BY_KEY[key]
    empty = RuleSchema()  # no attributes, linked tables, topics or segments
    rules.parse(template.audience_rule, empty)
    skeleton = template.parsed_skeleton
    if isinstance(skeleton, skeletons.ScenarioSkeleton):
        for condition in skeletons.conditions_of(skeleton.steps):
            rules.parse(condition, empty)


@pytest.mark.parametrize("key", KEYS)
def test_skeletons_have_the_documented_shape(key: str) -> None:
    template = catalog.BY_KEY[key]
    skeleton = template.parsed_skeleton
    assert skeleton is not None, key  # every catalog program says what serves it
    assert msgspec.to_builtins(skeleton) == template.skeleton  # nothing dropped or defaulted
    assert msgspec.convert(list(template.kpis), list[ProgramKpiIn])


def test_the_newsletter_recurs_weekly() -> None:
    skeleton = catalog.BY_KEY["newsletter"].parsed_skeleton
    assert isinstance(skeleton, skeletons.CampaignSkeleton)
    assert skeleton.schedule.kind == "recurring"
    assert skeleton.schedule.rrule == "FREQ=WEEKLY;BYDAY=TU"


BAD_SKELETONS: list[tuple[str, dict[str, Any]]] = [
    ("unknown kind", {"kind": "journey"}),
    ("rrule that is not one",
     {"kind": "campaign", "channel": "email",
      "schedule": {"kind": "recurring", "rrule": "WEEKLY"}}),
    ("recurring without rrule",
     {"kind": "campaign", "channel": "email", "schedule": {"kind": "recurring"}}),
    ("bad local time",
     {"kind": "campaign", "channel": "email", "schedule": {"kind": "once", "localTime": "25:00"}}),
    ("unknown channel", {"kind": "campaign", "channel": "fax", "schedule": {"kind": "once"}}),
    ("unknown trigger", {"kind": "scenario", "trigger": {"kind": "moon"}, "steps": []}),
    ("empty wait", {"kind": "scenario", "trigger": {"kind": "segment_entered"},
                    "steps": [{"type": "wait"}]}),
    ("nested bad step", {"kind": "scenario", "trigger": {"kind": "segment_entered"},
                         "steps": [{"type": "condition", "if": {}, "then": [{"type": "jump"}]}]}),
    ("split not summing to 100",
     {"kind": "scenario", "trigger": {"kind": "segment_entered"},
      "steps": [{"type": "split", "branches": [{"name": "a", "weight": 60, "steps": []},
                                               {"name": "b", "weight": 60, "steps": []}]}]}),
    ("content not a key", {"kind": "scenario", "trigger": {"kind": "segment_entered"},
                           "steps": [{"type": "send", "channel": "sms", "content": "Hi!"}]}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "skeleton"), BAD_SKELETONS, ids=[c for c, _ in BAD_SKELETONS])
def test_a_skeleton_of_another_shape_is_refused(case: str, skeleton: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(skeleton, skeletons.Skeleton)


KPIS: list[tuple[KpiMetric, float, str, bool]] = [
    (KpiMetric.OPEN_RATE, 0, "percent", True),
    (KpiMetric.OPEN_RATE, 100, "percent", True),
    (KpiMetric.OPEN_RATE, 100.5, "percent", False),
    (KpiMetric.OPEN_RATE, 0.25, "ratio", True),
    (KpiMetric.OPEN_RATE, 25, "ratio", False),
    (KpiMetric.OPEN_RATE, 25, "count", False),
    (KpiMetric.OPEN_RATE, float("nan"), "percent", False),
    (KpiMetric.ORDERS, 120, "count", True),
    (KpiMetric.ORDERS, 12.5, "count", False),
    (KpiMetric.ORDERS, -1, "count", False),
    (KpiMetric.REVENUE, 25000, "EUR", True),
    (KpiMetric.REVENUE, 25000, "eur", False),
    (KpiMetric.REVENUE, 25000, "XYZ", False),
    (KpiMetric.REVENUE, -5, "EUR", False),
    (KpiMetric.ROI, -50, "percent", True),
    (KpiMetric.ROI, 300, "percent", True),
    (KpiMetric.ROI, -101, "percent", False),
    (KpiMetric.UPLIFT, 1.5, "ratio", True),
    (KpiMetric.DAYS_TO_SECOND_PURCHASE, 30, "days", True),
    (KpiMetric.DAYS_TO_SECOND_PURCHASE, 0, "days", False),
    (KpiMetric.NPS, -20, "points", True),
    (KpiMetric.NPS, 101, "points", False),
    (KpiMetric.AVERAGE_RATING, 4.5, "points", True),
    (KpiMetric.AVERAGE_RATING, 6, "points", False),
    (KpiMetric.AVERAGE_RATING, 4, "percent", False),
]


@pytest.mark.parametrize(("metric", "target", "unit", "valid"), KPIS)
def test_a_kpi_target_must_fit_its_metric_and_unit(
    metric: KpiMetric, target: float, unit: str, valid: bool
) -> None:
    assert (kpi_problem(metric, target, unit) is None) is valid
