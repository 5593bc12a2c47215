"""Identifiers: UUIDv7, strictly increasing within the process (also across threads), their
time the clock's unless ids are made faster than one a millisecond."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

from backend.core.ids import new_id


def test_ids_are_version_7_and_never_older_than_the_clock() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    assert isinstance(made, uuid.UUID)
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    # The clock's millisecond, or later when ids were made faster than one a millisecond.
    assert made.int >> 80 >= before


def test_ids_strictly_increase_even_from_several_threads() -> None:
    made: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(into: list[uuid.UUID]) -> None:
        into.extend(new_id() for _ in range(5000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ids in made:
        assert all(a < b for a, b in itertools.pairwise(ids))
    every = [i for ids in made for i in ids]
    assert len(set(every)) == len(every)
    # The random bits differ from one id to the next (not a counter).
    randoms = {i.int & ((1 << 62) - 1) for i in every}
    assert len(randoms) == len(every)
