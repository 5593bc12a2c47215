"""The one registry of domain signals: how a domain tells the others that something happened.

A domain that emits declares its typed :class:`Signal` next to the code that sends it (e.g.
``backend.profiles.service.PROFILE_MERGED``); the domains that react expose ``connect(signals)``,
and ``backend.wiring.connect_domains`` calls them all once per process (the app, the worker, the
scheduler, the CLI). Receivers run in order, awaited, in the emitter's transaction.

Sending from a registry that was never wired raises :class:`SignalsNotWired`: a process that only
imported a service must not run it with the other domains' receivers silently missing.
docs/ARCHITECTURE.md lists the signals, who sends them and who receives them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec

P = ParamSpec("P")


class SignalsNotWired(RuntimeError):
    """A signal was sent before ``backend.wiring.connect_domains`` wired the registry."""


class Signal(Generic[P]):
    """A named signal whose receivers take the arguments ``P`` (and return an awaitable)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Signal({self.name!r})"


class Signals:
    """The receivers of every signal, connected once, then sent to in order."""

    def __init__(self) -> None:
        self._receivers: dict[Signal[Any], list[Callable[..., Awaitable[None]]]] = {}
        self._wired = False

    @property
    def wired(self) -> bool:
        return self._wired

    def connect(self, signal: Signal[P], receiver: Callable[P, Awaitable[None]]) -> None:
        """Add ``receiver`` to the receivers of ``signal`` (after those already connected)."""
        if self._wired:
            raise RuntimeError(f"the signals are wired already; {signal.name} takes no receiver")
        self._receivers.setdefault(signal, []).append(receiver)

    def mark_wired(self) -> None:
        """Every domain connected: sending is allowed from now on, connecting no longer."""
        self._wired = True

    def receivers(self, signal: Signal[Any]) -> tuple[Callable[..., Awaitable[None]], ...]:
        return tuple(self._receivers.get(signal, ()))

    async def send(self, signal: Signal[P], *args: P.args, **kwargs: P.kwargs) -> None:
        """Await each receiver of ``signal`` in the order they were connected."""
        if not self._wired:
            raise SignalsNotWired(
                f"{signal.name} sent before the domains were wired: call "
                "backend.wiring.connect_domains(signals) when the process starts"
            )
        for receiver in self._receivers.get(signal, ()):
            await receiver(*args, **kwargs)


# The process's registry: emitters send through it, ``connect_domains`` wires it.
signals = Signals()
