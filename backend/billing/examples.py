"""OpenAPI examples of the billing domain."""

from __future__ import annotations

from typing import Any

AGENCY = "01938f4e-1a2b-7c3d-8e4f-5a6b7c8d9e0f"
BRAND = "01938f4f-2b3c-7d4e-8f50-6172839405a6"
OTHER_BRAND = "01938f50-3c4d-7e5f-8061-728394a5b6c7"
ACCOUNT = "01938f71-4d5e-7f60-8172-8394a5b6c7d8"
PLAN_ID = "01938f72-5e6f-7081-8293-94a5b6c7d8e9"

_ENTITLEMENTS = {
    "brands": 5,
    "profiles": 250000,
    "messagesEmail": 500000,
    "messagesSms": 20000,
    "messagesPush": None,
    "abTests": True,
    "liveContent": True,
    "apiRateTier": "high",
}
_PLAN = {
    "id": PLAN_ID,
    "plan": "levier_growth_monthly",
    "name": "Growth",
    "currency": "eur",
    "unitAmount": 49900,
    "interval": "month",
    "trialDays": 14,
    "isDefault": False,
    "entitlements": _ENTITLEMENTS,
}


def _usage(metric: str, used: int, limit: int | None) -> dict[str, Any]:
    return {
        "metric": metric,
        "used": used,
        "limit": limit,
        "remaining": None if limit is None else max(limit - used, 0),
        "percent": None if not limit else round(100 * used / limit, 1),
    }


_BILLING = {
    "agencyId": AGENCY,
    "brandId": None,
    "accountId": ACCOUNT,
    "mode": "agency",
    "configured": True,
    "missingSettings": [],
    "state": "active",
    "status": "active",
    "plan": "levier_growth_monthly",
    "planName": "Growth",
    "trialEnd": "2026-11-16T09:00:00Z",
    "currentPeriodEnd": "2026-12-16T09:00:00Z",
    "cancelAtPeriodEnd": False,
    "pastDueSince": None,
    "graceUntil": None,
    "sendsHeld": False,
    "readOnly": False,
    "stripeCustomerId": "cus_R2d2C3po4Bb8",
    "entitlements": _ENTITLEMENTS,
    "periodStart": "2026-12-01T00:00:00Z",
    "usage": [
        _usage("brands", 2, 5),
        _usage("profiles", 121432, 250000),
        _usage("messages_email", 412000, 500000),
        _usage("messages_sms", 3120, 20000),
        _usage("messages_push", 88210, None),
    ],
    "warnings": [
        {
            "metric": "messages_email",
            "threshold": 80,
            "used": 400117,
            "limit": 500000,
            "createdAt": "2026-12-02T14:05:00Z",
        }
    ],
    "coveredBrandIds": [BRAND],
    "brands": [
        {
            "brandId": BRAND,
            "mode": "agency",
            "accountId": None,
            "status": "none",
            "plan": None,
        },
        {
            "brandId": OTHER_BRAND,
            "mode": "customer",
            "accountId": "01938f73-6f70-7192-83a4-a5b6c7d8e9fa",
            "status": "trialing",
            "plan": "levier_starter_monthly",
        },
    ],
}
_INVOICE = {
    "id": "in_1QbC2dEfGhIjKlMn",
    "number": "A1B2C3D4-0007",
    "status": "paid",
    "currency": "eur",
    "total": 58420,
    "amountDue": 58420,
    "amountPaid": 58420,
    "created": "2026-11-16T09:00:04Z",
    "periodStart": "2026-10-16T09:00:00Z",
    "periodEnd": "2026-11-16T09:00:00Z",
    "hostedInvoiceUrl": "https://invoice.stripe.com/i/acct_1Abc/test_YWNjdF8x",
    "invoicePdf": "https://pay.stripe.com/invoice/acct_1Abc/test_YWNjdF8x/pdf",
    "customerId": "cus_R2d2C3po4Bb8",
}
_METERED = {
    "metric": "messages_email",
    "ledger": 412100,
    "metered": 412000,
    "reported": 411650,
    "pending": 350,
    "unbilled": 0,
}

EXAMPLES: dict[str, Any] = {
    "BillingOut": _BILLING,
    "PlanOut": _PLAN,
    "CheckoutCreate": {
        "plan": "levier_growth_monthly",
        "successUrl": "https://app.agency.example/billing?checkout=done",
        "cancelUrl": "https://app.agency.example/billing",
    },
    "CheckoutSessionOut": {
        "id": "cs_test_a1B2c3D4e5F6g7H8",
        "url": "https://checkout.stripe.com/c/pay/cs_test_a1B2c3D4e5F6g7H8",
        "expiresAt": "2026-12-04T09:00:00Z",
    },
    "PortalCreate": {"returnUrl": "https://app.agency.example/billing"},
    "PortalSessionOut": {
        "id": "bps_1QbC2dEfGhIjKlMn",
        "url": "https://billing.stripe.com/p/session/test_YWNjdF8xUWJD",
    },
    "BrandBillingUpdate": {"mode": "customer"},
    "InvoiceOut": _INVOICE,
    "UsageReportOut": {
        "periodStart": "2026-12-01T00:00:00Z",
        "periodEnd": "2027-01-01T00:00:00Z",
        "brands": [{"brandId": BRAND, "metrics": [_METERED]}],
        "profiles": [{"day": "2026-12-01T00:00:00Z", "value": 121432, "status": "reported"}],
    },
    "StripeWebhookAccepted": {"id": "evt_1QbC2dEfGhIjKlMn", "duplicate": False},
}
