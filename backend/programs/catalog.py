"""The program templates the platform ships: the 23 programs of seed 004, as data.

Each template has a stable ``key`` (stored on the programs made from it), a name, its lifecycle
stage, an objective, suggested KPIs, the moments of truth it serves, a **suggested audience
rule** in the segment rule language, and where it fits a **skeleton** of what serves it: a
campaign or a scenario, kept as data for the campaigns and scenarios domains to instantiate.

Audience rules name only what every brand has — standard profile fields (``createdAt``,
``birthDate``, ``preferredStore``), orders, events by name (the commerce events
``order_completed`` and ``cart_updated``, the engagement events messaging records such as
``email_opened``, and a few a brand sends: ``product_viewed``, ``review_submitted``,
``survey_answered``), consents by channel, contactability and RFM scores — never a brand's own
attributes, linked tables or topics, so each parses in any brand.

Skeleton shapes are in :mod:`backend.programs.skeletons`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from backend.programs.schemas import ProgramKpiIn
from backend.programs.skeletons import KEY, Skeleton
from backend.programs.vocabulary import LifecycleStage, MomentOfTruth


@dataclass(frozen=True)
class ProgramTemplate:
    key: str
    name: str
    stage: LifecycleStage
    objective: str
    kpis: tuple[Mapping[str, Any], ...]
    moments_of_truth: tuple[MomentOfTruth, ...]
    audience_rule: Mapping[str, Any]
    skeleton: Mapping[str, Any] | None

    @property
    def parsed_skeleton(self) -> Skeleton | None:
        if self.skeleton is None:
            return None
        parsed: Skeleton = msgspec.convert(self.skeleton, Skeleton)
        return parsed


def _kpi(name: str, metric: str, target: float, unit: str = "percent") -> dict[str, Any]:
    return {"name": name, "metric": metric, "target": target, "unit": unit}


def _orders(op: str, value: Any, aggregate: str = "count", **spec: Any) -> dict[str, Any]:
    return {"orders": {"aggregate": aggregate, **spec}, "op": op, "value": value}


def _event(name: str, days: int | None = None, op: str = "gte", value: int = 1) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name}
    if days is not None:
        spec["windowDays"] = days
    return {"event": spec, "op": op, "value": value}


def _send(channel: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"type": "send", "channel": channel, "content": content, **extra}


def _wait(days: int) -> dict[str, Any]:
    return {"type": "wait", "days": days}


def _if(rule: dict[str, Any], then: list[Any], otherwise: list[Any] | None = None) -> Any:
    return {"type": "condition", "if": rule, "then": then, "else": otherwise or []}


EXIT = {"type": "exit"}
EMAIL_OK = {"contactable": "email"}
NO_ORDER = _orders("eq", 0)
M = MomentOfTruth
S = LifecycleStage

TEMPLATES: tuple[ProgramTemplate, ...] = (
    ProgramTemplate(
        key="welcome",
        name="Welcome",
        stage=S.ENGAGE,
        objective="Welcome each new sign-up: present the brand and its commitments, recover an "
        "email address when only a mobile is known, then lead to a first visit.",
        kpis=(
            _kpi("Welcome email opens", "open_rate", 45),
            _kpi("Emails recovered by SMS", "contact_enrichment_rate", 20),
            _kpi("First purchase within 30 days", "conversion_rate", 10),
        ),
        moments_of_truth=(M.SIGNUP,),
        audience_rule={
            "and": [
                {"field": "createdAt", "op": "within_last_days", "value": 30},
                {"or": [EMAIL_OK, {"contactable": "sms"}]},
            ]
        },
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "event", "event": "signed_up"},
            "steps": [
                _if(
                    EMAIL_OK,
                    [_send("email", "welcome")],
                    [_send("sms", "welcome_ask_email"), _wait(2), _send("email", "welcome")],
                ),
                _wait(3),
                _send("email", "welcome_first_visit"),
                _wait(7),
                _if(NO_ORDER, [_send("email", "welcome_reminder", fallback="sms")]),
                EXIT,
            ],
            "exitOn": [],
        },
    ),
    ProgramTemplate(
        key="signup_confirmation",
        name="Sign-up confirmation",
        stage=S.ATTRACT,
        objective="Confirm every sign-up (double opt-in) so the base holds real, consenting "
        "contacts.",
        kpis=(
            _kpi("Sign-ups confirmed", "confirmation_rate", 70),
            _kpi("Bounces", "bounce_rate", 2),
        ),
        moments_of_truth=(M.SIGNUP,),
        audience_rule={
            "and": [
                {"field": "createdAt", "op": "within_last_days", "value": 2},
                {"consent": {"channel": "email"}, "op": "none"},
            ]
        },
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "event", "event": "signed_up"},
            "steps": [
                _send("email", "signup_confirmation", transactional=True),
                _wait(2),
                _if(
                    {"consent": {"channel": "email"}, "op": "none"},
                    [_send("email", "signup_confirmation_reminder", transactional=True)],
                ),
                EXIT,
            ],
            "exitOn": [],
        },
    ),
    ProgramTemplate(
        key="first_purchase_nudge",
        name="1st purchase nudge",
        stage=S.CONVERT,
        objective="Turn sign-ups who have not bought yet into first-time customers, with an "
        "incentive.",
        kpis=(
            _kpi("First purchases", "conversion_rate", 8),
            _kpi("Welcome coupons used", "coupon_redemption_rate", 15),
        ),
        moments_of_truth=(M.FIRST_PURCHASE,),
        audience_rule={
            "and": [
                NO_ORDER,
                {"not": {"field": "createdAt", "op": "within_last_days", "value": 7}},
                EMAIL_OK,
            ]
        },
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "segment_entered"},
            "steps": [
                _send("email", "first_purchase_offer"),
                _wait(5),
                _if(NO_ORDER, [_send("sms", "first_purchase_reminder")]),
                EXIT,
            ],
            "exitOn": ["order_completed"],
        },
    ),
    ProgramTemplate(
        key="second_purchase_nudge",
        name="2nd purchase nudge",
        stage=S.GROW,
        objective="Bring one-time buyers back for the second purchase, the one that makes a "
        "customer.",
        kpis=(
            _kpi("Second purchases", "repeat_purchase_rate", 20),
            _kpi("Days to the second purchase", "days_to_second_purchase", 45, "days"),
        ),
        moments_of_truth=(M.SECOND_PURCHASE,),
        audience_rule={
            "and": [
                _orders("eq", 1),
                _orders("within_last_days", 60, "last_date"),
                {"not": _orders("within_last_days", 14, "last_date")},
            ]
        },
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "segment_entered"},
            "steps": [
                _send("email", "second_purchase_offer"),
                _wait(7),
                _if(_orders("eq", 1), [_send("sms", "second_purchase_reminder")]),
                EXIT,
            ],
            "exitOn": ["order_completed"],
        },
    ),
    ProgramTemplate(
        key="abandoned_cart",
        name="Abandoned cart",
        stage=S.CONVERT,
        objective="Remind shoppers of the cart they left, before the intent fades.",
        kpis=(
            _kpi("Carts recovered", "cart_recovery_rate", 10),
            _kpi("Reminder clicks", "click_rate", 8),
        ),
        moments_of_truth=(M.CART_ABANDONED,),
        audience_rule={
            "and": [
                _event("cart_updated", 3),
                {"not": _event("order_completed", 3)},
            ]
        },
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "abandoned_cart", "delayMinutes": 60},
            "steps": [
                _send("email", "cart_reminder", fallback="push"),
                _wait(1),
                {
                    "type": "split",
                    "branches": [
                        {
                            "name": "with_coupon",
                            "weight": 50,
                            "steps": [_send("email", "cart_last_call_coupon")],
                        },
                        {
                            "name": "without_coupon",
                            "weight": 50,
                            "steps": [_send("email", "cart_last_call")],
                        },
                    ],
                },
                EXIT,
            ],
            "exitOn": ["order_completed"],
        },
    ),
    ProgramTemplate(
        key="cross_sell",
        name="Up-sell / cross-sell",
        stage=S.GROW,
        objective="Suggest the products that complete or upgrade a recent purchase.",
        kpis=(
            _kpi("Recommendation purchases", "conversion_rate", 5),
            _kpi("Basket uplift", "uplift", 10),
        ),
        moments_of_truth=(M.POST_PURCHASE, M.PRODUCT_INTEREST),
        audience_rule={"and": [_orders("gte", 1, windowDays=30), EMAIL_OK]},
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "event", "event": "order_completed"},
            "steps": [_wait(10), _send("email", "cross_sell_recommendations"), EXIT],
            "exitOn": [],
        },
    ),
    ProgramTemplate(
        key="reactivation",
        name="Reactivation / re-engagement",
        stage=S.WIN_BACK,
        objective="Detect dormant contacts, re-engage them in steps, then set aside those who "
        "stay silent to protect deliverability.",
        kpis=(
            _kpi("Contacts reactivated", "reactivation_rate", 10),
            _kpi("Opens of the re-engagement emails", "open_rate", 15),
        ),
        moments_of_truth=(M.INACTIVITY,),
        audience_rule={
            "and": [
                {"not": {"field": "createdAt", "op": "within_last_days", "value": 180}},
                _orders("eq", 0, windowDays=180),
                _event("email_opened", 180, "eq", 0),
                _event("email_clicked", 180, "eq", 0),
            ]
        },
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "inactivity", "days": 180},
            "steps": [
                _send("email", "we_miss_you"),
                _wait(7),
                _if(_event("email_opened", 7), [EXIT]),
                _send("email", "reactivation_offer"),
                _wait(14),
                _if(
                    _event("email_opened", 21, "eq", 0),
                    [{"type": "update", "field": "engagement_status", "value": "inactive"}],
                ),
                EXIT,
            ],
            "exitOn": ["order_completed", "email_clicked"],
        },
    ),
    ProgramTemplate(
        key="resubscription",
        name="Re-subscription",
        stage=S.WIN_BACK,
        objective="Invite customers who unsubscribed from email, yet still buy, to subscribe "
        "again, through a channel they still accept.",
        kpis=(_kpi("Email subscriptions won back", "resubscription_rate", 5),),
        moments_of_truth=(M.UNSUBSCRIBED,),
        audience_rule={
            "and": [
                {"consent": {"channel": "email"}, "op": "unsubscribed"},
                {"contactable": "sms"},
                _orders("gte", 1, windowDays=365),
            ]
        },
        skeleton={
            "kind": "campaign",
            "channel": "sms",
            "topic": None,
            "transactional": False,
            "schedule": {"kind": "once"},
        },
    ),
    ProgramTemplate(
        key="newsletter",
        name="Newsletter",
        stage=S.ENGAGE,
        objective="Keep a regular contact with subscribers: news, content, selections.",
        kpis=(
            _kpi("Opens", "open_rate", 25),
            _kpi("Clicks", "click_rate", 3),
            _kpi("Unsubscribes (at most)", "unsubscribe_rate", 0.3),
        ),
        moments_of_truth=(M.REGULAR_TOUCHPOINT,),
        audience_rule={"and": [{"consent": {"channel": "email"}, "op": "granted"}, EMAIL_OK]},
        skeleton={
            "kind": "campaign",
            "channel": "email",
            "topic": "newsletter",
            "transactional": False,
            "schedule": {
                "kind": "recurring",
                "rrule": "FREQ=WEEKLY;BYDAY=TU",
                "localTime": "10:00",
            },
        },
    ),
    ProgramTemplate(
        key="order_confirmation",
        name="Order confirmation",
        stage=S.CONVERT,
        objective="Confirm every order at once with its details (transactional: sent whatever "
        "the marketing consent).",
        kpis=(_kpi("Delivered", "delivery_rate", 99), _kpi("Opens", "open_rate", 70)),
        moments_of_truth=(M.ORDER_PLACED,),
        audience_rule=_orders("gte", 1, windowDays=1),
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "event", "event": "order_completed"},
            "steps": [_send("email", "order_confirmation", transactional=True), EXIT],
            "exitOn": [],
        },
    ),
    ProgramTemplate(
        key="post_purchase_thanks",
        name="Post-purchase thanks",
        stage=S.RETAIN,
        objective="Thank customers after an order and tell them what comes next.",
        kpis=(_kpi("Opens", "open_rate", 50), _kpi("Next purchase", "repeat_purchase_rate", 15)),
        moments_of_truth=(M.POST_PURCHASE,),
        audience_rule=_orders("gte", 1, windowDays=7),
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "event", "event": "order_completed"},
            "steps": [_wait(2), _send("email", "thank_you"), EXIT],
            "exitOn": [],
        },
    ),
    ProgramTemplate(
        key="promotion",
        name="Promotion",
        stage=S.CONVERT,
        objective="Announce a commercial operation (an offer, a discount, a sale) to the "
        "customers it fits.",
        kpis=(
            _kpi("Purchases", "conversion_rate", 3),
            _kpi("Coupons used", "coupon_redemption_rate", 10),
        ),
        moments_of_truth=(M.PROMOTIONAL_OFFER,),
        audience_rule={
            "and": [
                EMAIL_OK,
                {"consent": {"channel": "email"}, "op": "granted"},
                _orders("gte", 1, windowDays=365),
            ]
        },
        skeleton={
            "kind": "campaign",
            "channel": "email",
            "topic": None,
            "transactional": False,
            "schedule": {"kind": "once"},
        },
    ),
    ProgramTemplate(
        key="product_alert",
        name="Product alert (back in stock / price drop)",
        stage=S.CONVERT,
        objective="Tell people who showed interest in a product that it is back in stock or "
        "cheaper.",
        kpis=(_kpi("Clicks", "click_rate", 15), _kpi("Purchases", "conversion_rate", 8)),
        moments_of_truth=(M.PRODUCT_INTEREST,),
        audience_rule=_event("product_viewed", 30),
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "event", "event": "product_alert_due"},
            "steps": [
                _send("email", "product_alert", fallback="push"),
                _wait(2),
                _if(_orders("eq", 0, windowDays=2), [_send("push", "product_alert_reminder")]),
                EXIT,
            ],
            "exitOn": ["order_completed"],
        },
    ),
    ProgramTemplate(
        key="calendar",
        name="Calendar-based",
        stage=S.RETAIN,
        objective="Greet customers on their own dates (birthday, anniversary) and on the "
        "brand's calendar (seasons, holidays).",
        kpis=(_kpi("Opens", "open_rate", 40), _kpi("Gifts used", "coupon_redemption_rate", 20)),
        moments_of_truth=(M.BIRTHDAY_ANNIVERSARY, M.CALENDAR_EVENT),
        audience_rule={"field": "birthDate", "op": "birthday_in_days", "value": 7},
        skeleton={
            "kind": "scenario",
            "trigger": {
                "kind": "date_attribute",
                "field": "birthDate",
                "offsetDays": -7,
                "yearly": True,
            },
            "steps": [
                _send("email", "birthday_gift", fallback="sms"),
                _wait(7),
                _send("sms", "happy_birthday"),
                EXIT,
            ],
            "exitOn": [],
        },
    ),
    ProgramTemplate(
        key="loyalty_tier",
        name="Points or spend tier",
        stage=S.RETAIN,
        objective="Tell customers where they stand in the loyalty programme and what the next "
        "tier brings.",
        kpis=(
            _kpi("Customers kept", "retention_rate", 70),
            _kpi("Repeat purchases", "repeat_purchase_rate", 30),
        ),
        moments_of_truth=(M.LOYALTY_TIER_CHANGE,),
        audience_rule=_orders("gte", 500, "sum", windowDays=365),
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "segment_entered"},
            "steps": [_send("email", "tier_reached", fallback="push"), EXIT],
            "exitOn": [],
        },
    ),
    ProgramTemplate(
        key="year_end_gift",
        name="Year-end gift or rebate",
        stage=S.RETAIN,
        objective="Thank the best customers of the year with a gift or a rebate on what they "
        "spent.",
        kpis=(
            _kpi("Gifts used", "coupon_redemption_rate", 35),
            _kpi("Store revisits", "revisit_rate", 40),
        ),
        moments_of_truth=(M.CALENDAR_EVENT, M.LOYALTY_TIER_CHANGE),
        audience_rule={
            "and": [
                {"rfm": {"kind": "purchase", "score": "m"}, "op": "gte", "value": 4},
                _orders("gte", 1, windowDays=365),
            ]
        },
        skeleton={
            "kind": "campaign",
            "channel": "email",
            "topic": None,
            "transactional": False,
            "schedule": {
                "kind": "recurring",
                "rrule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=1",
                "localTime": "09:00",
            },
        },
    ),
    ProgramTemplate(
        key="wallet_card",
        name="Dematerialisation (wallet card)",
        stage=S.RETAIN,
        objective="Move the loyalty card into the customer's phone wallet, always at hand in "
        "store.",
        kpis=(
            _kpi("Cards added to a wallet", "conversion_rate", 25),
            _kpi("Store revisits", "revisit_rate", 35),
        ),
        moments_of_truth=(M.LOYALTY_ENROLMENT,),
        audience_rule={
            "and": [
                _orders("gte", 2, windowDays=365),
                {"or": [{"contactable": "sms"}, {"contactable": "push"}, EMAIL_OK]},
            ]
        },
        skeleton={
            "kind": "campaign",
            "channel": "sms",
            "topic": None,
            "transactional": False,
            "schedule": {"kind": "once"},
        },
    ),
    ProgramTemplate(
        key="customer_reviews",
        name="Customer reviews",
        stage=S.GROW,
        objective="Ask recent buyers for a review: social proof for the next ones.",
        kpis=(
            _kpi("Reviews written", "review_rate", 5),
            _kpi("Average rating", "average_rating", 4.2, "points"),
        ),
        moments_of_truth=(M.POST_PURCHASE, M.ADVOCACY),
        audience_rule={
            "and": [
                _orders("within_last_days", 14, "last_date"),
                {"not": _orders("within_last_days", 3, "last_date")},
                _event("review_submitted", 90, "eq", 0),
            ]
        },
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "event", "event": "order_completed"},
            "steps": [
                _wait(7),
                _send("email", "review_request"),
                _wait(5),
                _if(_event("review_submitted", 12, "eq", 0), [_send("email", "review_reminder")]),
                EXIT,
            ],
            "exitOn": ["review_submitted"],
        },
    ),
    ProgramTemplate(
        key="satisfaction_survey",
        name="Satisfaction survey",
        stage=S.RETAIN,
        objective="Measure satisfaction after a purchase and act on the answers.",
        kpis=(
            _kpi("Answers", "survey_response_rate", 15),
            _kpi("Net promoter score", "nps", 40, "points"),
        ),
        moments_of_truth=(M.POST_PURCHASE,),
        audience_rule={
            "and": [_orders("gte", 1, windowDays=30), _event("survey_answered", 180, "eq", 0)]
        },
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "event", "event": "order_completed"},
            "steps": [_wait(3), _send("email", "satisfaction_survey"), EXIT],
            "exitOn": ["survey_answered"],
        },
    ),
    ProgramTemplate(
        key="new_neighbours",
        name="New neighbours",
        stage=S.ATTRACT,
        objective="Welcome people who moved near a store, or near whom a store opened, with a "
        "discovery offer.",
        kpis=(
            _kpi("First purchases", "conversion_rate", 5),
            _kpi("Discovery offers used", "coupon_redemption_rate", 10),
        ),
        moments_of_truth=(M.NEW_NEIGHBOUR,),
        audience_rule={
            "and": [
                {"field": "createdAt", "op": "within_last_days", "value": 30},
                {"field": "preferredStore", "op": "exists"},
                NO_ORDER,
            ]
        },
        skeleton={
            "kind": "campaign",
            "channel": "email",
            "topic": None,
            "transactional": False,
            "schedule": {"kind": "once"},
        },
    ),
    ProgramTemplate(
        key="referral",
        name="Referral",
        stage=S.ATTRACT,
        objective="Ask satisfied customers to bring their friends, with a reward for both.",
        kpis=(
            _kpi("Customers who refer", "referral_rate", 3),
            _kpi("Referred friends who buy", "conversion_rate", 20),
        ),
        moments_of_truth=(M.ADVOCACY,),
        audience_rule={
            "and": [
                {
                    "rfm": {"kind": "purchase", "segment": True},
                    "op": "in",
                    "value": ["Champions", "Loyal"],
                },
                EMAIL_OK,
            ]
        },
        skeleton={
            "kind": "campaign",
            "channel": "email",
            "topic": None,
            "transactional": False,
            "schedule": {"kind": "once"},
        },
    ),
    ProgramTemplate(
        key="invitations",
        name="Invitations",
        stage=S.ENGAGE,
        objective="Invite engaged customers to a private sale, a store opening or a VIP evening.",
        kpis=(_kpi("Clicks", "click_rate", 10), _kpi("Registrations", "registration_rate", 15)),
        moments_of_truth=(M.EXCLUSIVE_EVENT,),
        audience_rule={
            "and": [
                {
                    "or": [
                        {"rfm": {"kind": "engagement", "score": "r"}, "op": "gte", "value": 4},
                        _orders("gte", 2, windowDays=365),
                    ]
                },
                EMAIL_OK,
            ]
        },
        skeleton={
            "kind": "campaign",
            "channel": "email",
            "topic": None,
            "transactional": False,
            "schedule": {"kind": "once"},
        },
    ),
    ProgramTemplate(
        key="anti_churn",
        name="Anti-churn",
        stage=S.RETAIN,
        objective="Catch good customers who slow down (a lower RFM segment than last time) "
        "with a voucher or an exclusive offer before they leave.",
        kpis=(
            _kpi("Revisits", "revisit_rate", 40),
            _kpi("Vouchers used", "coupon_redemption_rate", 25),
        ),
        moments_of_truth=(M.CHURN_RISK,),
        audience_rule={"and": [_orders("gte", 2, windowDays=365), _orders("eq", 0, windowDays=90)]},
        skeleton={
            "kind": "scenario",
            "trigger": {"kind": "rfm_segment_dropped", "rfmKind": "purchase"},
            "steps": [
                _if(
                    EMAIL_OK,
                    [_send("email", "loyalty_voucher")],
                    [_send("sms", "loyalty_voucher_sms")],
                ),
                _wait(14),
                _if(_orders("eq", 0, windowDays=14), [_send("sms", "loyalty_voucher_reminder")]),
                EXIT,
            ],
            "exitOn": ["order_completed"],
        },
    ),
)


def _normalised(template: ProgramTemplate) -> ProgramTemplate:
    """The template with its skeleton as checked and complete (every default spelled out), the
    form the API shows."""
    skeleton = template.parsed_skeleton
    if skeleton is None:
        return template
    return replace(template, skeleton=msgspec.to_builtins(skeleton))


TEMPLATES = tuple(_normalised(template) for template in TEMPLATES)
BY_KEY: dict[str, ProgramTemplate] = {template.key: template for template in TEMPLATES}


def _check(templates: tuple[ProgramTemplate, ...]) -> None:
    """The catalog's own consistency, checked when it loads: unique keys, valid KPIs and
    skeletons, every stage and moment of truth served by some template (so a coverage gap
    always has a template to fill it)."""
    if len(BY_KEY) != len(templates):
        raise ValueError("two program templates share a key")
    for template in templates:
        if not KEY.fullmatch(template.key):
            raise ValueError(f"{template.key!r} is not a template key")
        msgspec.convert(list(template.kpis), list[ProgramKpiIn])
    stages = {t.stage for t in templates}
    moments = {m for t in templates for m in t.moments_of_truth}
    if stages != set(LifecycleStage) or moments != set(MomentOfTruth):
        raise ValueError("a lifecycle stage or moment of truth has no template")


_check(TEMPLATES)


def find(key: str) -> ProgramTemplate | None:
    return BY_KEY.get(key)


def serving(
    *, stage: LifecycleStage | None = None, moment: MomentOfTruth | None = None
) -> list[ProgramTemplate]:
    """The templates at ``stage`` and serving ``moment`` (each when given), in catalog order."""
    return [
        t
        for t in TEMPLATES
        if (stage is None or t.stage is stage) and (moment is None or moment in t.moments_of_truth)
    ]
