"""Billing: plans and entitlements, Stripe subscriptions, metered usage, enforcement."""
