"""The progress stream: the state now, each change once, the end included; a failed read ends
it; a read under way when its subscriber leaves still finishes. And what progress reports."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from backend.core.live import Progress, changes

T0 = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def test_the_stream_yields_each_change_once_and_ends_with_the_work() -> None:
    states = iter([0, 0, 3, 3, 3, 7, 10])

    async def read() -> int:
        return next(states)

    seen = [s async for s in changes(read, finished=lambda s: s == 10, interval=0)]
    assert seen == [0, 3, 7, 10]


async def test_a_failed_read_ends_the_stream_with_its_error() -> None:
    reads = 0

    async def read() -> int:
        nonlocal reads
        reads += 1
        if reads == 3:
            raise LookupError("gone")
        return reads

    seen: list[int] = []

    async def follow() -> None:
        async for state in changes(read, finished=lambda _: False, interval=0):
            seen.append(state)

    with pytest.raises(LookupError, match="gone"):
        await follow()
    assert seen == [1, 2]


async def test_a_read_under_way_finishes_when_its_subscriber_leaves() -> None:
    started, release, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def read() -> int:
        started.set()
        await release.wait()
        finished.set()  # e.g. its unit of work committed and closed
        return 1

    async def follow() -> None:
        async for _ in changes(read, finished=lambda _: False, interval=0):
            pass

    follower = asyncio.create_task(follow())
    await started.wait()
    follower.cancel()
    with pytest.raises(asyncio.CancelledError):
        await follower
    release.set()
    await finished.wait()


@pytest.mark.parametrize(
    ("progress", "rate", "end"),
    [
        # 300 of 1,000 in 60 s: 5 a second, 140 s to go.
        (Progress(300, 1000, T0, None, at(60)), 5.0, at(200)),
        # Not started: no rate, no end.
        (Progress(0, 1000, None, None, T0), None, None),
        # Started, total unknown: a rate, no end.
        (Progress(50, None, T0, None, at(10)), 5.0, None),
        # Finished: its end, whatever the total said.
        (Progress(990, 1000, T0, at(99), at(3600)), 10.0, at(99)),
    ],
)
def test_progress_reports_its_rate_and_estimated_end(
    progress: Progress, rate: float | None, end: dt.datetime | None
) -> None:
    assert progress.rate_per_second == rate
    assert progress.estimated_end_at == end
    assert progress.finished is (progress.finished_at is not None)
