"""Following long work as it goes: a stream of its state, from now until it is finished.

:func:`changes` yields the current state of some work (an import, an export, a campaign's send),
then each change, and completes once the work is finished. It **polls** the owning service at a
modest interval (``LEVIER_LIVE_POLL_SECONDS``, 1 s by default), each read in a unit of work of
its own, rather than waiting on Redis pub/sub, because:

- the truth is the committed row: long work already commits its checkpoint with each batch
  (imports per batch, exports per 1 MiB piece), so a read sees exactly what is durable — no
  message published after a commit that a crash could lose, none published before a rollback;
- it works the same with any number of API processes, a worker in another process or pod
  (Redis broker) and the embedded worker's threads (SQLite, no Redis): nothing to publish,
  nothing to subscribe to, no in-process fallback to keep equivalent;
- a subscriber that connects late, reconnects or misses a beat reads the state again; nothing
  is replayed or lost;
- its cost is bounded and visible: one primary-key read per subscription per interval, and
  connections hold at most ``LEVIER_GRAPHQL_WS_MAX_SUBSCRIPTIONS`` each.

Changes closer together than the interval are seen as one (a subscriber sees the state, not
every step); that suits progress, whose batches take seconds. Work that needs sub-second
pushes to many watchers would add a notification beside the poll, not instead of it.

:class:`Progress` is the shape every long work reports: done out of total, the rate so far and
the estimated end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_POLL_SECONDS = 1.0


async def changes(
    read: Callable[[], Awaitable[T]],
    *,
    finished: Callable[[T], bool],
    interval: float = DEFAULT_POLL_SECONDS,
    key: Callable[[T], Hashable] | None = None,
) -> AsyncIterator[T]:
    """The state ``read`` returns now, then each time it differs (by ``key``, else equality),
    until ``finished`` holds for it (that last state is yielded too). ``read`` runs once per
    ``interval``; an exception it raises ends the stream with it (a brand out of reach, an
    object gone)."""
    seen: object = _NOTHING
    while True:
        state = await _whole(read())
        marker = key(state) if key is not None else state
        if marker != seen:
            seen = marker
            yield state
        if finished(state):
            return
        await asyncio.sleep(interval)


_NOTHING = object()


async def _whole(read: Awaitable[T]) -> T:
    """``read`` run to its end even when the stream is cancelled meanwhile (its subscriber gone):
    a read cut short mid-query leaves its database connection to be thrown away (and logged);
    finished, its unit of work closes cleanly and the result is dropped."""
    task = asyncio.ensure_future(read)
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # seen: an orphaned read's failure is no "never retrieved" warning


@dataclass(frozen=True)
class Progress:
    """How far some long work got: ``done`` out of ``total`` (None when not known), since
    ``started_at``; ``finished_at`` once it ended (succeeded or not); ``observed_at``: when
    this was read."""

    done: int
    total: int | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    observed_at: dt.datetime

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def rate_per_second(self) -> float | None:
        """Units done per second since the work started (None before it did)."""
        if self.started_at is None:
            return None
        elapsed = ((self.finished_at or self.observed_at) - self.started_at).total_seconds()
        return self.done / elapsed if elapsed > 0 else None

    @property
    def estimated_end_at(self) -> dt.datetime | None:
        """When the work ends at its rate so far: its end once finished; None while the total
        or the rate is not known."""
        if self.finished_at is not None:
            return self.finished_at
        rate = self.rate_per_second
        if self.total is None or not rate:
            return None
        left = max(self.total - self.done, 0)
        return self.observed_at + dt.timedelta(seconds=left / rate)
