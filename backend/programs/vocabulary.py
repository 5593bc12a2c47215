"""The fixed vocabularies of programs: lifecycle stages, moments of truth, and the KPI metrics
with the units each is measured in.

Moments of truth are the points of a customer's journey where a brand's message matters most
(seeds 000, 001 and 004): a program declares the ones it serves, the coverage map shows which have
none. Slugs are stable (stored on programs, named by API clients); labels and descriptions are
for people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from babel.numbers import list_currencies


class LifecycleStage(StrEnum):
    """The customer lifecycle (seeds 000/001): attract → engage → convert → grow → retain →
    win back."""

    ATTRACT = "attract"  # become known: sign-up, referral, new neighbours
    ENGAGE = "engage"  # build the relationship before or between purchases
    CONVERT = "convert"  # turn intent into a purchase
    GROW = "grow"  # more purchases, larger baskets, advocacy
    RETAIN = "retain"  # keep the customer: loyalty, service, satisfaction
    WIN_BACK = "win_back"  # bring back the inactive and the unsubscribed


class MomentOfTruth(StrEnum):
    SIGNUP = "signup"
    FIRST_PURCHASE = "first_purchase"
    SECOND_PURCHASE = "second_purchase"
    CART_ABANDONED = "cart_abandoned"
    PRODUCT_INTEREST = "product_interest"
    ORDER_PLACED = "order_placed"
    POST_PURCHASE = "post_purchase"
    BIRTHDAY_ANNIVERSARY = "birthday_anniversary"
    CALENDAR_EVENT = "calendar_event"
    REGULAR_TOUCHPOINT = "regular_touchpoint"
    PROMOTIONAL_OFFER = "promotional_offer"
    LOYALTY_TIER_CHANGE = "loyalty_tier_change"
    LOYALTY_ENROLMENT = "loyalty_enrolment"
    INACTIVITY = "inactivity"
    CHURN_RISK = "churn_risk"
    UNSUBSCRIBED = "unsubscribed"
    NEW_NEIGHBOUR = "new_neighbour"
    ADVOCACY = "advocacy"
    EXCLUSIVE_EVENT = "exclusive_event"


@dataclass(frozen=True)
class Described:
    label: str
    description: str


STAGES: dict[LifecycleStage, Described] = {
    LifecycleStage.ATTRACT: Described(
        "Attract", "Become known to new people: sign-ups, referrals, new neighbours."
    ),
    LifecycleStage.ENGAGE: Described(
        "Engage", "Build the relationship before and between purchases."
    ),
    LifecycleStage.CONVERT: Described("Convert", "Turn interest into a purchase."),
    LifecycleStage.GROW: Described(
        "Grow", "More purchases, larger baskets, customers who recommend the brand."
    ),
    LifecycleStage.RETAIN: Described(
        "Retain", "Keep customers: loyalty, service, satisfaction, their special days."
    ),
    LifecycleStage.WIN_BACK: Described(
        "Win back",
        "Bring back inactive customers (20-50% of a base) and those who unsubscribed.",
    ),
}

MOMENTS: dict[MomentOfTruth, Described] = {
    MomentOfTruth.SIGNUP: Described(
        "Sign-up / first contact",
        "A person becomes known: signs up, opts in, creates an account.",
    ),
    MomentOfTruth.FIRST_PURCHASE: Described(
        "First purchase", "A known person has not bought yet, or just bought for the first time."
    ),
    MomentOfTruth.SECOND_PURCHASE: Described(
        "Second purchase", "A one-time buyer is due to come back (the hardest purchase to win)."
    ),
    MomentOfTruth.CART_ABANDONED: Described(
        "Cart abandoned", "A cart was filled and left without an order."
    ),
    MomentOfTruth.PRODUCT_INTEREST: Described(
        "Product interest",
        "Browsing shows intent: products viewed, back in stock, a price drop.",
    ),
    MomentOfTruth.ORDER_PLACED: Described(
        "Order placed", "An order was just placed: confirm it (transactional)."
    ),
    MomentOfTruth.POST_PURCHASE: Described(
        "After the purchase", "Days after an order: thank, ask for a review, suggest what fits."
    ),
    MomentOfTruth.BIRTHDAY_ANNIVERSARY: Described(
        "Birthday / anniversary",
        "A predictable personal date: birthday, relationship or contract anniversary.",
    ),
    MomentOfTruth.CALENDAR_EVENT: Described(
        "Calendar event",
        "A date of the brand's calendar: seasons, holidays, sales, the year's end.",
    ),
    MomentOfTruth.REGULAR_TOUCHPOINT: Described(
        "Regular touchpoint", "A recurring contact with the base: the newsletter."
    ),
    MomentOfTruth.PROMOTIONAL_OFFER: Described(
        "Promotional offer", "A commercial operation: an offer, a discount, a sale."
    ),
    MomentOfTruth.LOYALTY_TIER_CHANGE: Described(
        "Loyalty tier change", "Points or spend reach (or fall below) a tier."
    ),
    MomentOfTruth.LOYALTY_ENROLMENT: Described(
        "Loyalty enrolment", "The customer gets a loyalty card, or adds it to a mobile wallet."
    ),
    MomentOfTruth.INACTIVITY: Described(
        "Inactivity", "No order, open or click for a long time: a dormant contact."
    ),
    MomentOfTruth.CHURN_RISK: Described(
        "Churn risk",
        "A good customer slows down: fewer visits, an RFM segment lower than last time.",
    ),
    MomentOfTruth.UNSUBSCRIBED: Described(
        "Unsubscribed", "A channel's consent was withdrawn or lapsed."
    ),
    MomentOfTruth.NEW_NEIGHBOUR: Described(
        "New neighbour", "A person moved near a store, or a store opened near them."
    ),
    MomentOfTruth.ADVOCACY: Described(
        "Advocacy", "A satisfied customer may recommend the brand: referral, review."
    ),
    MomentOfTruth.EXCLUSIVE_EVENT: Described(
        "Exclusive event", "An invitation: a private sale, a store opening, a VIP evening."
    ),
}


# KPIs ------------------------------------------------------------------------------------------


class KpiMetric(StrEnum):
    # Rates (a share of recipients or customers).
    DELIVERY_RATE = "delivery_rate"
    OPEN_RATE = "open_rate"
    CLICK_RATE = "click_rate"
    UNSUBSCRIBE_RATE = "unsubscribe_rate"
    BOUNCE_RATE = "bounce_rate"
    COMPLAINT_RATE = "complaint_rate"
    CONVERSION_RATE = "conversion_rate"
    COUPON_REDEMPTION_RATE = "coupon_redemption_rate"
    CART_RECOVERY_RATE = "cart_recovery_rate"
    REVISIT_RATE = "revisit_rate"
    REPEAT_PURCHASE_RATE = "repeat_purchase_rate"
    REACTIVATION_RATE = "reactivation_rate"
    RETENTION_RATE = "retention_rate"
    CHURN_RATE = "churn_rate"
    CONTACT_ENRICHMENT_RATE = "contact_enrichment_rate"
    RESUBSCRIPTION_RATE = "resubscription_rate"
    SURVEY_RESPONSE_RATE = "survey_response_rate"
    SATISFACTION_RATE = "satisfaction_rate"
    CONFIRMATION_RATE = "confirmation_rate"
    REVIEW_RATE = "review_rate"
    REFERRAL_RATE = "referral_rate"
    REGISTRATION_RATE = "registration_rate"
    # Counts.
    CONVERSIONS = "conversions"
    ORDERS = "orders"
    NEW_PROFILES = "new_profiles"
    CONTACTS_RECOVERED = "contacts_recovered"
    REVIEWS = "reviews"
    REFERRALS = "referrals"
    WALLET_CARDS_ADDED = "wallet_cards_added"
    EVENT_REGISTRATIONS = "event_registrations"
    # Money.
    REVENUE = "revenue"
    AVERAGE_ORDER_VALUE = "average_order_value"
    REVENUE_PER_RECIPIENT = "revenue_per_recipient"
    # Returns and changes (may be negative).
    ROI = "roi"
    UPLIFT = "uplift"
    # Durations.
    DAYS_TO_SECOND_PURCHASE = "days_to_second_purchase"
    # Scores.
    NPS = "nps"
    AVERAGE_RATING = "average_rating"


class MetricKind(StrEnum):
    RATE = "rate"
    COUNT = "count"
    MONEY = "money"
    CHANGE = "change"
    DURATION = "duration"
    SCORE = "score"


_KINDS: dict[MetricKind, tuple[KpiMetric, ...]] = {
    MetricKind.RATE: (
        KpiMetric.DELIVERY_RATE,
        KpiMetric.OPEN_RATE,
        KpiMetric.CLICK_RATE,
        KpiMetric.UNSUBSCRIBE_RATE,
        KpiMetric.BOUNCE_RATE,
        KpiMetric.COMPLAINT_RATE,
        KpiMetric.CONVERSION_RATE,
        KpiMetric.COUPON_REDEMPTION_RATE,
        KpiMetric.CART_RECOVERY_RATE,
        KpiMetric.REVISIT_RATE,
        KpiMetric.REPEAT_PURCHASE_RATE,
        KpiMetric.REACTIVATION_RATE,
        KpiMetric.RETENTION_RATE,
        KpiMetric.CHURN_RATE,
        KpiMetric.CONTACT_ENRICHMENT_RATE,
        KpiMetric.RESUBSCRIPTION_RATE,
        KpiMetric.SURVEY_RESPONSE_RATE,
        KpiMetric.SATISFACTION_RATE,
        KpiMetric.CONFIRMATION_RATE,
        KpiMetric.REVIEW_RATE,
        KpiMetric.REFERRAL_RATE,
        KpiMetric.REGISTRATION_RATE,
    ),
    MetricKind.COUNT: (
        KpiMetric.CONVERSIONS,
        KpiMetric.ORDERS,
        KpiMetric.NEW_PROFILES,
        KpiMetric.CONTACTS_RECOVERED,
        KpiMetric.REVIEWS,
        KpiMetric.REFERRALS,
        KpiMetric.WALLET_CARDS_ADDED,
        KpiMetric.EVENT_REGISTRATIONS,
    ),
    MetricKind.MONEY: (
        KpiMetric.REVENUE,
        KpiMetric.AVERAGE_ORDER_VALUE,
        KpiMetric.REVENUE_PER_RECIPIENT,
    ),
    MetricKind.CHANGE: (KpiMetric.ROI, KpiMetric.UPLIFT),
    MetricKind.DURATION: (KpiMetric.DAYS_TO_SECOND_PURCHASE,),
    MetricKind.SCORE: (KpiMetric.NPS, KpiMetric.AVERAGE_RATING),
}
METRIC_KIND: dict[KpiMetric, MetricKind] = {
    metric: kind for kind, metrics in _KINDS.items() for metric in metrics
}
# The range of a score metric, in points.
SCORE_RANGE: dict[KpiMetric, tuple[float, float]] = {
    KpiMetric.NPS: (-100, 100),
    KpiMetric.AVERAGE_RATING: (0, 5),
}
# ISO 4217 codes (Babel's CLDR data): a money target is in one currency.
CURRENCIES = frozenset(list_currencies())


def kpi_problem(metric: KpiMetric, target: float, unit: str) -> str | None:
    """Why ``target`` in ``unit`` does not measure ``metric`` (None when it does).

    Rates are in `percent` (0-100) or `ratio` (0-1); counts in `count` (whole numbers); money
    in an ISO 4217 currency (`EUR`), 0 or more; returns and changes (`roi`, `uplift`) in
    `percent` (from -100) or `ratio` (from -1); durations in `days` (more than 0); scores in
    `points` within the score's range (NPS -100 to 100, average rating 0 to 5).
    """
    if not math.isfinite(target):
        return "target must be a finite number"
    kind = METRIC_KIND[metric]
    if kind is MetricKind.RATE:
        bounds = {"percent": (0.0, 100.0), "ratio": (0.0, 1.0)}
        if unit not in bounds:
            return f"{metric.value} is a rate: its unit is percent or ratio"
        low, high = bounds[unit]
        if not low <= target <= high:
            return f"a rate in {unit} is between {low:g} and {high:g}"
    elif kind is MetricKind.COUNT:
        if unit != "count":
            return f"{metric.value} is a count: its unit is count"
        if target < 0 or not float(target).is_integer():
            return "a count is a whole number, 0 or more"
    elif kind is MetricKind.MONEY:
        if unit not in CURRENCIES:
            return f"{metric.value} is an amount: its unit is an ISO 4217 currency such as EUR"
        if target < 0:
            return "an amount is 0 or more"
    elif kind is MetricKind.CHANGE:
        floors = {"percent": -100.0, "ratio": -1.0}
        if unit not in floors:
            return f"{metric.value} is a change: its unit is percent or ratio"
        if target < floors[unit]:
            return f"a change in {unit} is {floors[unit]:g} or more"
    elif kind is MetricKind.DURATION:
        if unit != "days":
            return f"{metric.value} is a duration: its unit is days"
        if target <= 0:
            return "a duration is more than 0 days"
    else:
        if unit != "points":
            return f"{metric.value} is a score: its unit is points"
        low, high = SCORE_RANGE[metric]
        if not low <= target <= high:
            return f"{metric.value} is between {low:g} and {high:g} points"
    return None
