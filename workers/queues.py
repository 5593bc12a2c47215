"""The broker's queues as an operator sees them: depths, the oldest waiting message, and the dead
letters (messages whose retries ran out), listed, re-driven or purged.

dramatiq's Redis broker keeps, per queue ``q`` under the namespace ``ns``: the ids waiting in the
list ``ns:q``, every message not yet acknowledged in the hash ``ns:q.msgs`` (so fetched ones are
there and not in the list), delayed messages (retries, delayed sends) in ``ns:q.DQ`` and
``ns:q.DQ.msgs``, and dead letters in the sorted set ``ns:q.XQ`` (scored by when they died) with
their bodies in ``ns:q.XQ.msgs``. Dead letters are kept ``dead_message_ttl`` (7 days), then
dropped by the broker's maintenance. The in-process broker keeps the same in memory.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name, q_name, xq_name

# Options a message collects on its way to the dead letters, dropped when it is sent again: it
# starts over with a full count of retries.
_SPENT_OPTIONS = ("retries", "traceback", "requeue_timestamp", "eta", "redis_message_id")

# Atomic: only the caller that removed the dead letter queues it again (two operators re-driving
# at once send it once).
_REDRIVE = """
if redis.call("zrem", KEYS[1], ARGV[1]) == 1 then
    redis.call("hdel", KEYS[2], ARGV[1])
    redis.call("hset", KEYS[3], ARGV[2], ARGV[3])
    redis.call("rpush", KEYS[4], ARGV[2])
    return 1
end
return 0
"""


@dataclass(frozen=True)
class QueueStats:
    queue: str
    ready: int
    delayed: int
    in_flight: int
    dead: int
    oldest_ready_age_seconds: float


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str  # the outbox row's id for jobs sent through the outbox
    actor: str
    died_at: dt.datetime
    retries: int
    error: str | None  # the last line of the last traceback
    tenant_id: str | None
    broker_key: str  # the broker's own id of the message (Redis)

    def as_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "id": self.message_id,
            "task": self.actor,
            "diedAt": self.died_at.isoformat(),
            "retries": self.retries,
            "error": self.error,
            "brandId": self.tenant_id,
        }


def _age_seconds(message_timestamp_ms: int, now_ms: float) -> float:
    return max(now_ms - message_timestamp_ms, 0) / 1000


def _queues(broker: dramatiq.Broker, queue: str | None) -> list[str]:
    declared = sorted(q_name(name) for name in broker.get_declared_queues())
    if queue is None:
        return sorted(set(declared))
    if queue not in declared:
        raise KeyError(f"unknown queue {queue!r}; queues: {', '.join(sorted(set(declared)))}")
    return [queue]


def _key(broker: RedisBroker, name: str) -> str:
    return f"{broker.namespace}:{name}"


def queue_stats(broker: dramatiq.Broker) -> list[QueueStats]:
    """Per declared queue: messages ready, delayed, in flight and dead; the next one's age."""
    now_ms = time.time() * 1000
    if isinstance(broker, RedisBroker):
        return [_redis_stats(broker, queue, now_ms) for queue in _queues(broker, None)]
    if isinstance(broker, StubBroker):
        return [_stub_stats(broker, queue, now_ms) for queue in _queues(broker, None)]
    return []


def _redis_stats(broker: RedisBroker, queue: str, now_ms: float) -> QueueStats:
    client = broker.client
    pipe = client.pipeline(transaction=False)
    pipe.llen(_key(broker, queue))
    pipe.hlen(_key(broker, f"{queue}.msgs"))
    pipe.hlen(_key(broker, f"{dq_name(queue)}.msgs"))
    pipe.zcard(_key(broker, xq_name(queue)))
    pipe.lindex(_key(broker, queue), 0)
    ready, unacked, delayed, dead, head = pipe.execute()
    age = 0.0
    if head is not None:
        body = client.hget(_key(broker, f"{queue}.msgs"), head)
        if body is not None:
            age = _age_seconds(_decode(body).message_timestamp, now_ms)
    return QueueStats(queue, ready, delayed, max(unacked - ready, 0), dead, age)


def _stub_stats(broker: StubBroker, queue: str, now_ms: float) -> QueueStats:
    waiting = broker.queues[queue]
    delayed = broker.queues[dq_name(queue)]
    with waiting.mutex:
        ready = len(waiting.queue)
        head = waiting.queue[0] if waiting.queue else None
        in_flight = max(waiting.unfinished_tasks - ready, 0)
    age = (
        0.0
        if head is None
        else _age_seconds(dramatiq.Message.decode(head).message_timestamp, now_ms)
    )
    dead = len(broker.dead_letters_by_queue[queue]) + len(
        broker.dead_letters_by_queue[dq_name(queue)]
    )
    return QueueStats(queue, ready, delayed.unfinished_tasks, in_flight, dead, age)


# Dead letters ----------------------------------------------------------------------------------


def _decode(body: Any) -> dramatiq.Message[Any]:
    return dramatiq.Message.decode(bytes(body))


def _last_line(traceback: object) -> str | None:
    if not isinstance(traceback, str) or not traceback.strip():
        return None
    return traceback.strip().splitlines()[-1][:2000]


def _dead_letter(
    queue: str, key: str, message: dramatiq.Message[Any], died_ms: float
) -> DeadLetter:
    tenant = message.kwargs.get("tenant_id")
    return DeadLetter(
        queue=queue,
        message_id=message.message_id,
        actor=message.actor_name,
        died_at=dt.datetime.fromtimestamp(died_ms / 1000, dt.UTC),
        retries=int(message.options.get("retries", 0)),
        error=_last_line(message.options.get("traceback")),
        tenant_id=tenant if isinstance(tenant, str) else None,
        broker_key=key,
    )


def dead_letters(
    broker: dramatiq.Broker, queue: str | None = None, limit: int | None = 100
) -> list[DeadLetter]:
    """Dead letters of a queue (every queue by default), the latest first."""
    found: list[DeadLetter] = []
    for name in _queues(broker, queue):
        found.extend(_dead_of(broker, name, limit))
    found.sort(key=lambda letter: letter.died_at, reverse=True)
    return found if limit is None else found[:limit]


def _dead_of(broker: dramatiq.Broker, queue: str, limit: int | None) -> list[DeadLetter]:
    if isinstance(broker, RedisBroker):
        end = -1 if limit is None else limit - 1
        scored = cast(
            "list[tuple[bytes, float]]",
            broker.client.zrevrange(_key(broker, xq_name(queue)), 0, end, withscores=True),
        )
        if not scored:
            return []
        keys = [key for key, _ in scored]
        bodies = broker.client.hmget(_key(broker, f"{xq_name(queue)}.msgs"), keys)
        return [
            _dead_letter(queue, bytes(key).decode(), _decode(body), score)
            for (key, score), body in zip(scored, bodies, strict=True)
            if body is not None
        ]
    if isinstance(broker, StubBroker):
        letters = [
            *broker.dead_letters_by_queue[queue],
            *broker.dead_letters_by_queue[dq_name(queue)],
        ]
        now_ms = time.time() * 1000
        return [_dead_letter(queue, proxy.message_id, proxy._message, now_ms) for proxy in letters]
    return []


def _chosen(letters: Iterable[DeadLetter], message_ids: Iterable[str] | None) -> list[DeadLetter]:
    wanted = set(message_ids) if message_ids else None
    return [letter for letter in letters if wanted is None or letter.message_id in wanted]


def _fresh(message: dramatiq.Message[Any], queue: str) -> dramatiq.Message[Any]:
    options = {k: v for k, v in message.options.items() if k not in _SPENT_OPTIONS}
    return dramatiq.Message(
        queue_name=queue,
        actor_name=message.actor_name,
        args=message.args,
        kwargs=message.kwargs,
        options=options,
        message_id=message.message_id,
    )


def redrive_dead(
    broker: dramatiq.Broker, queue: str | None = None, message_ids: Iterable[str] | None = None
) -> int:
    """Send dead letters back to their queue with a full count of retries (those named by
    ``message_ids``, or all of the queue / of every queue); return how many went."""
    sent = 0
    for name in _queues(broker, queue):
        letters = _chosen(_dead_of(broker, name, None), message_ids)
        if isinstance(broker, RedisBroker):
            script = broker.client.register_script(_REDRIVE)
            for letter in letters:
                body = broker.client.hget(_key(broker, f"{xq_name(name)}.msgs"), letter.broker_key)
                if body is None:
                    continue  # re-driven or purged meanwhile
                fresh = _fresh(_decode(body), name)
                key = str(uuid4())
                fresh = fresh.copy(options={"redis_message_id": key})
                keys = [
                    _key(broker, xq_name(name)),
                    _key(broker, f"{xq_name(name)}.msgs"),
                    _key(broker, f"{name}.msgs"),
                    _key(broker, name),
                ]
                sent += int(script(keys=keys, args=[letter.broker_key, key, fresh.encode()]))
        elif isinstance(broker, StubBroker):
            sent += _stub_take(broker, name, letters, requeue=True)
    return sent


def purge_dead(
    broker: dramatiq.Broker, queue: str | None = None, message_ids: Iterable[str] | None = None
) -> int:
    """Drop dead letters (those named, or all of the queue / of every queue); return how many."""
    purged = 0
    for name in _queues(broker, queue):
        letters = _chosen(_dead_of(broker, name, None), message_ids)
        if not letters:
            continue
        if isinstance(broker, RedisBroker):
            keys = [letter.broker_key for letter in letters]
            pipe = broker.client.pipeline(transaction=True)
            pipe.zrem(_key(broker, xq_name(name)), *keys)
            pipe.hdel(_key(broker, f"{xq_name(name)}.msgs"), *keys)
            removed, _ = pipe.execute()
            purged += int(removed)
        elif isinstance(broker, StubBroker):
            purged += _stub_take(broker, name, letters, requeue=False)
    return purged


def _stub_take(broker: StubBroker, queue: str, letters: list[DeadLetter], *, requeue: bool) -> int:
    wanted = {letter.message_id for letter in letters}
    taken = 0
    for name in (queue, dq_name(queue)):
        kept = []
        for proxy in broker.dead_letters_by_queue[name]:
            if proxy.message_id in wanted:
                taken += 1
                if requeue:
                    broker.enqueue(_fresh(proxy._message, queue))
            else:
                kept.append(proxy)
        # In place: the consumers hold this very list.
        broker.dead_letters_by_queue[name][:] = kept
    return taken
