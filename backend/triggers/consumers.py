"""The consumer interface of trigger occurrences: the scenario engine implements
:class:`TriggerConsumer` and registers it; each new occurrence is handed to every registered
consumer by the ``triggers.publish`` task, after the transaction that raised it committed.

Delivery is at least once (the outbox may send a message twice): a consumer keys what it does on
the occurrence's id. Until a consumer is registered, occurrences are only stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.tenancy import TenantId
from backend.triggers.models import TriggerOccurrence


class TriggerConsumer(Protocol):
    """Receives new occurrences of one brand, in the session of the publishing task (the
    consumer's writes commit with it; an exception rolls them back and the task retries)."""

    async def on_occurrences(
        self, session: AsyncSession, tenant: TenantId, occurrences: Sequence[TriggerOccurrence]
    ) -> None: ...


_CONSUMERS: list[TriggerConsumer] = []


def register_consumer(consumer: TriggerConsumer) -> TriggerConsumer:
    """Add a consumer (once; registering it again changes nothing)."""
    if consumer not in _CONSUMERS:
        _CONSUMERS.append(consumer)
    return consumer


def unregister_consumer(consumer: TriggerConsumer) -> None:
    if consumer in _CONSUMERS:
        _CONSUMERS.remove(consumer)


def registered_consumers() -> list[TriggerConsumer]:
    return list(_CONSUMERS)
