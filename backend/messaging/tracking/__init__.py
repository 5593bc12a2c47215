"""Tracking and feedback: signed per-message tokens (open pixel, click redirect, RFC 8058
unsubscribe and the preference page, push opens), provider callbacks applied to the ledger,
engagement events and outbound webhooks, and the development outbox page."""
