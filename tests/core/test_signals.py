"""The signal registry: wired once per process, and refusing to send before that."""

from __future__ import annotations

import pytest

from backend.core.signals import Signal, Signals, SignalsNotWired
from backend.events import service as events_service
from backend.messaging import notify
from backend.profiles import service as profiles_service
from backend.wiring import connect_domains


async def test_a_registry_never_wired_refuses_to_send() -> None:
    with pytest.raises(SignalsNotWired, match="profile_deleted"):
        await Signals().send(profiles_service.PROFILE_DELETED, None, None, None)  # type: ignore[arg-type]


async def test_receivers_run_in_the_order_they_were_connected() -> None:
    seen: list[str] = []
    ping: Signal[[str]] = Signal("ping")

    async def first(value: str) -> None:
        seen.append(f"first:{value}")

    async def second(value: str) -> None:
        seen.append(f"second:{value}")

    registry = Signals()
    registry.connect(ping, first)
    registry.connect(ping, second)
    registry.mark_wired()
    await registry.send(ping, "x")
    assert seen == ["first:x", "second:x"]
    with pytest.raises(RuntimeError, match="wired already"):
        registry.connect(ping, first)


def test_wiring_connects_every_domain_once() -> None:
    registry = connect_domains(Signals())
    assert connect_domains(registry) is registry  # a second entry point changes nothing
    merged = [r.__module__ for r in registry.receivers(profiles_service.PROFILE_MERGED)]
    assert merged == [
        "backend.events.service",
        "backend.profiles.linked.service",
        "backend.rfm.service",
        "backend.triggers.service",
        "backend.segments.membership",
        "backend.messaging.service",
        "backend.campaigns.service",
        "backend.messaging.devices.service",
        "backend.scenarios.sources",
    ]
    changed = [r.__module__ for r in registry.receivers(profiles_service.PROFILE_CHANGED)]
    assert changed == [
        "backend.segments.sources",
        "backend.triggers.sources",
        "backend.webhooks.sources",
    ]
    assert registry.receivers(profiles_service.PROFILE_ERASED)
    accepted = [r.__module__ for r in registry.receivers(events_service.EVENTS_ACCEPTED)]
    assert accepted[-1] == "backend.scenarios.sources"  # after the triggers the events raise
    told = [r.__module__ for r in registry.receivers(notify.MESSAGES_TOLD)]
    assert told == ["backend.scenarios.sources"]
