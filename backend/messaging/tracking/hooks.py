"""Provider callbacks: ``POST /v1/hooks/messaging/{account_id}``. The account names the
provider and holds the credentials that verify the signature (the provider's own scheme, through
``providers.registry.verify_feedback``); each verified report is applied by
:func:`~backend.messaging.tracking.feedback.record_feedback`. A refused signature stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.core.errors import NotFound, Unauthenticated
from backend.messaging.accounts import service as accounts_service
from backend.messaging.providers import registry
from backend.messaging.providers.base import FeedbackRefused
from backend.messaging.tracking.feedback import record_feedback


class CallbackRefused(Unauthenticated):
    """The callback's signature, timestamp or token does not verify."""

    slug, title = "callback-refused", "Callback refused"


@dataclass(frozen=True, slots=True)
class Received:
    reports: int  # verified reports in the callback
    applied: int  # reports that changed something (the others: repeats, or not our messages)


async def receive(
    session: AsyncSession,
    settings: Settings,
    account_id: UUID,
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
) -> Received:
    """Verify one callback with the account's credentials and apply its reports."""
    try:
        kind, credentials = await accounts_service.feedback_account(session, settings, account_id)
    except NotFound:
        raise NotFound("no hook here") from None
    try:
        reports = await registry.verify_feedback(
            kind,
            credentials,
            url=url,
            headers=headers,
            body=body,
            replay=registry.replay_guard(session, settings),
        )
    except FeedbackRefused as exc:
        raise CallbackRefused(str(exc)) from None
    applied = 0
    for report in reports:
        applied += await record_feedback(session, report, account_id=account_id)
    return Received(reports=len(reports), applied=applied)
