"""Why one message could not be rendered: the ledger records ``reason`` (a stable slug) and
``detail`` (for a person) and sends nothing for that message."""

from __future__ import annotations

from enum import StrEnum


class RefusalReason(StrEnum):
    MISSING_VALUE = "missing-value"  # a variable printed without a default had no value
    COUPON_POOL_EMPTY = "coupon-pool-empty"  # a pool the template uses has no code left
    RENDER_BUDGET = "render-budget"  # the render ran out of time or output size
    TEMPLATE_NOT_FOUND = "template-not-found"  # no such template, or none published
    TEMPLATE_ARCHIVED = "template-archived"  # the template was deleted (archived) since
    TEMPLATE_CHANNEL = "template-channel"  # the template's content does not fit its channel
    PROFILE_NOT_FOUND = "profile-not-found"  # the profile is gone (deleted or erased)
    RENDER_ERROR = "render-error"  # the template failed otherwise (a helper given a bad value)


class RenderRefused(Exception):
    """One render failed for a reason the sender records; other messages are unaffected."""

    def __init__(self, reason: RefusalReason | str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = str(reason)
        self.detail = detail
