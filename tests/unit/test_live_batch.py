"""Queued AMI events are applied together and written in one Redis transaction.

`RedisLiveState.handle_events` against the real local Redis (a key prefix per
test), compared with the same events handled one by one; `AmiBridge._consume`
with a recording stand-in for the live state, to check what it batches and
that a command queued between events keeps its place.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from agi.background import wait_for
from ami_bridge import service
from ami_bridge.live_state import RedisLiveState
from ami_bridge.service import AmiBridge
from app.live.store import LiveData, bridge_source, redis_source
from core.centres import parse_centres
from core.live import (
    AMI_KEY,
    CHANNELS_KEY,
    QUEUES_KEY,
    SEATS_KEY,
    ChannelState,
    QueueEntry,
    QueueState,
    SeatState,
    change_notice,
)
from core.settings import AmiSettings, NetworkSettings, RedisSettings, Settings, SiteSettings
from tests.unit.test_live_translate import DIRECTORY, NOW, transcript

# A call and its channels, start to end, and a few more: 180 events.
CALL = ("events_caller_joins.ami", "events_channels_call_answered.ami", "events_seat_answers.ami",
        "events_call_completes.ami", "events_channels_call_hung_up.ami", "events_caller_abandons.ami",
        "events_seat_paused.ami", "events_remote_seat.ami")


def events(*names: str) -> list[dict[str, Any]]:
    return [event for name in names for event in transcript(name)]


class Recorded:
    """The Redis transactions a live state ran: the commands of each."""

    def __init__(self, redis: Redis) -> None:
        self.transactions: list[list[tuple[Any, ...]]] = []
        self.fail = False
        pipeline = redis.pipeline

        def recording(*args: Any, **kwargs: Any) -> Any:
            pipe = pipeline(*args, **kwargs)
            execute = pipe.execute

            async def recorded_execute(*a: Any, **k: Any) -> Any:
                self.transactions.append([tuple(args) for args, _options in pipe.command_stack])
                if self.fail:
                    raise RedisConnectionError("Redis is down (test)")
                return await execute(*a, **k)

            pipe.execute = recorded_execute  # type: ignore[method-assign]
            return pipe

        redis.pipeline = recording  # type: ignore[method-assign]

    def publishes(self) -> list[tuple[Any, ...]]:
        return [c for t in self.transactions for c in t if c[0] == "PUBLISH"]


@pytest.fixture
async def two_prefixes(redis: Redis) -> AsyncIterator[tuple[str, str]]:
    prefixes = (f"test-{uuid.uuid4().hex}:", f"test-{uuid.uuid4().hex}:")
    yield prefixes
    for prefix in prefixes:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)


async def resynced(redis: Redis, prefix: str) -> tuple[RedisLiveState, Recorded]:
    client = Redis(connection_pool=redis.connection_pool)  # its own pipeline() to record
    live = RedisLiveState(client, prefix, DIRECTORY, clock=lambda: NOW + 10)
    await live.connected(NOW)
    await live.resync(transcript("queue_status_idle.ami"), "22.10.1",
                      channels=transcript("core_show_channels_idle.ami"))
    return live, Recorded(client)


async def stored(redis: Redis, prefix: str) -> dict[str, dict[Any, Any]]:
    return {key: await redis.hgetall(prefix + key) for key in (QUEUES_KEY, SEATS_KEY, CHANNELS_KEY, AMI_KEY)}


async def one_by_one_and_batched(redis: Redis, two_prefixes: tuple[str, str], handled: list[dict[str, Any]]
                                  ) -> tuple[RedisLiveState, RedisLiveState, Recorded]:
    """`handled` applied one by one under the first prefix; a second live state
    (and its recorder) under the other, for the same events as one batch."""
    one_by_one, _ = await resynced(redis, two_prefixes[0])
    for event in handled:
        await one_by_one.handle_event(event)
    batched, recorded = await resynced(redis, two_prefixes[1])
    return one_by_one, batched, recorded


async def test_when_queued_events_are_handled_together_then_one_transaction_stores_what_one_by_one_stored(
        redis: Redis, two_prefixes: tuple[str, str]) -> None:
    call = events(*CALL)
    one_by_one, one_by_one_redis = await resynced(redis, two_prefixes[0])
    for event in call:
        await one_by_one.handle_event(event)
    batched, batched_redis = await resynced(redis, two_prefixes[1])

    changes = await batched.handle_events(call)

    assert len(batched_redis.transactions) == 1
    assert len(one_by_one_redis.transactions) > 50  # one per event that changed something
    assert batched.model == one_by_one.model
    assert await stored(redis, two_prefixes[1]) == await stored(redis, two_prefixes[0])
    assert (batched.events_applied, batched.events_rejected) == (one_by_one.events_applied, 0)
    # one notice for the lot, naming each changed id once, and the same ids the
    # one-by-one writes named; one HSET per hash (and one for last_event_at), at
    # most one HDEL per hash
    published = [json.loads(p[2]) for p in batched_redis.publishes()]
    assert len(published) == 1
    assert published[0] == {"queue": sorted(changes.queues), "seat": sorted(changes.seats),
                            "channel": sorted(changes.channels)}

    def named(notices: list[dict[str, list[str]]]) -> set[tuple[str, str]]:
        return {(kind, i) for n in notices for kind, ids in n.items() for i in ids}
    assert named(published) == named([json.loads(p[2]) for p in one_by_one_redis.publishes()])
    written = [c[0] for c in batched_redis.transactions[0]]
    assert written.count("HSET") <= 3 + 1 and written.count("HDEL") <= 3


async def test_what_the_bridge_source_reads_in_memory_is_what_redis_holds_for_readers(
        redis: Redis, two_prefixes: tuple[str, str]) -> None:
    """The surge controller reads the bridge's model (`bridge_source`) instead
    of Redis (`read_live`): both must give it the same live state — before
    the first snapshot, after it, and after a call's events."""
    prefix = two_prefixes[0]
    client = Redis(connection_pool=redis.connection_pool)
    live = RedisLiveState(client, prefix, DIRECTORY, clock=lambda: NOW + 10)
    await live.connected(NOW)
    in_memory, in_redis = bridge_source(live), redis_source(redis, prefix)

    async def same() -> LiveData:
        memory, stored_data = await in_memory(), await in_redis()
        assert memory == stored_data
        return memory

    before = await same()
    assert before.ami["connected"] == "1" and not (before.queues or before.seats or before.channels)
    await live.resync(transcript("queue_status_idle.ami"), "22.10.1",
                      channels=transcript("core_show_channels_idle.ami"))
    idle = await same()
    assert idle.queues and idle.seats
    await live.handle_events(events(*CALL))
    busy = await same()
    assert busy != idle  # the events changed what both show
    await live.disconnected()
    assert (await same()).ami["connected"] == "0"


async def test_when_a_batch_holds_malformed_events_then_they_are_counted_and_skipped(
        redis: Redis, two_prefixes: tuple[str, str]) -> None:
    mixed = events("events_caller_joins.ami", "malformed_events.ami", "events_seat_answers.ami")
    one_by_one, batched, recorded = await one_by_one_and_batched(redis, two_prefixes, mixed)

    await batched.handle_events(mixed)

    assert one_by_one.events_rejected > 0
    assert (batched.events_applied, batched.events_rejected) == \
        (one_by_one.events_applied, one_by_one.events_rejected)
    assert batched.events_applied + batched.events_rejected == len(mixed)
    assert len(recorded.transactions) == 1
    assert batched.model == one_by_one.model
    # A Newexten there refreshed a channel's exten in memory only (no change of
    # its own): one by one left the older exten in Redis, the batch wrote the
    # channel after it.  Either way Redis holds the model once rewritten whole.
    one_by_one.dirty = True
    assert await one_by_one.flush()
    assert await stored(redis, two_prefixes[1]) == await stored(redis, two_prefixes[0])


async def test_when_a_batch_cannot_be_written_then_the_state_is_dirty_and_the_next_flush_writes_it(
        redis: Redis, two_prefixes: tuple[str, str]) -> None:
    call = events(*CALL)
    _, batched, recorded = await one_by_one_and_batched(redis, two_prefixes, call)
    recorded.fail = True

    await batched.handle_events(call[:40])
    assert batched.dirty
    await batched.handle_events(call[40:])  # dirty: tries a whole rewrite instead, fails again
    assert batched.dirty and len(recorded.transactions) == 2
    recorded.fail = False
    assert await batched.flush()

    assert not batched.dirty
    assert await stored(redis, two_prefixes[1]) == await stored(redis, two_prefixes[0])


async def test_when_no_resync_came_yet_then_a_batch_is_applied_but_not_written(
        redis: Redis, two_prefixes: tuple[str, str]) -> None:
    client = Redis(connection_pool=redis.connection_pool)
    live = RedisLiveState(client, two_prefixes[0], DIRECTORY, clock=lambda: NOW)
    recorded = Recorded(client)

    changes = await live.handle_events(events("events_caller_joins.ami"))

    assert changes and live.events_applied == len(events("events_caller_joins.ami"))
    assert recorded.transactions == []


def test_what_is_stored_is_the_json_of_every_field_as_before() -> None:
    """`to_json` skips `dataclasses.asdict` (its deep copy was a cost of every write): same text."""
    queue = QueueState("hotline-12345", "12345", "public", [
        QueueEntry("PJSIP/a-1", "1.1", 1, "13800138000", NOW), QueueEntry("PJSIP/b-2", "1.2", 2, "", NOW + 1.5),
    ], completed=3, abandoned=1, holdtime_s=12, peer_unanswered=2)
    seat = SeatState("1001", "12345", "PJSIP/1001", "paused", True, ["hotline-12345", "q2"], "张三 13800138000",
                     NOW, "午休", NOW - 60)
    channel = ChannelState("1.1", "1.0", "PJSIP/a-1", "Up", "13800138000", "", "hotline-inbound", "12345",
                           "bridge-1", "12345", NOW)
    for state in (queue, QueueState("q", "", "other"), seat, SeatState("1002", "12345", "PJSIP/1002"), channel):
        assert state.to_json() == json.dumps(asdict(state), ensure_ascii=False)
        assert type(state).from_json(state.to_json()) == state


# ------------------------------------------------------------ the consumer

class LiveCalls:
    """Stands in for `RedisLiveState`: records what the consumer asks of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.done = asyncio.Event()

    async def handle_events(self, batch: list[Mapping[str, Any]]) -> None:
        self.calls.append(("events", [e["n"] for e in batch]))
        if batch[-1]["n"] == "last":
            self.done.set()

    async def disconnected(self) -> None:
        self.calls.append(("disconnected",))

    async def flush(self) -> None:
        self.calls.append(("flush",))


@pytest.fixture
async def bridge() -> AsyncIterator[AmiBridge]:
    settings = Settings(
        site=SiteSettings(centres=parse_centres("12345:1001-1002;110:2001"), seat_mode="simulated"),
        network=NetworkSettings(bind_host="127.0.0.1"),
        ami=AmiSettings(port=1, user="hotline"),
        redis=RedisSettings(url="redis://127.0.0.1:6379/0", prefix=f"test-{uuid.uuid4().hex}:"),
    )
    made = AmiBridge(settings, "unused")  # never started: no AMI link, no Redis write
    yield made
    await made.redis.aclose()


async def consumed(bridge: AmiBridge, commands: list[tuple[str, Any]]) -> list[tuple[Any, ...]]:
    live = LiveCalls()
    bridge.live = live  # type: ignore[assignment]
    for command in commands:
        bridge._commands.put_nowait(command)  # type: ignore[arg-type]
    consumer = asyncio.create_task(bridge._consume())
    try:
        await wait_for(live.done.wait(), 5)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
    return live.calls


async def test_when_events_wait_in_the_queue_then_the_consumer_hands_them_over_together_and_in_order(
        bridge: AmiBridge) -> None:
    calls = await consumed(bridge, [
        ("event", {"n": 1}), ("event", {"n": 2}), ("event", {"n": 3}),
        ("disconnected", None),
        ("event", {"n": 4}), ("flush", None), ("event", {"n": 5}), ("event", {"n": "last"}),
    ])

    assert calls == [("events", [1, 2, 3]), ("disconnected",), ("events", [4]), ("flush",),
                     ("events", [5, "last"])]


async def test_when_more_events_wait_than_a_batch_holds_then_they_go_in_several_batches(
        bridge: AmiBridge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "EVENT_BATCH", 2)

    calls = await consumed(bridge, [("event", {"n": 1}), ("event", {"n": 2}), ("event", {"n": 3}),
                                    ("event", {"n": "last"})])

    assert calls == [("events", [1, 2]), ("events", [3, "last"])]


async def test_when_events_trickle_in_within_the_window_then_they_are_handed_over_together(
        bridge: AmiBridge) -> None:
    """One event at a time (as Asterisk often writes them): the ones arriving
    within `batch_window_s` of the first go with it; a later one starts a new batch."""
    live = LiveCalls()
    bridge.live = live  # type: ignore[assignment]
    bridge.batch_window_s = 0.2
    consumer = asyncio.create_task(bridge._consume())
    try:
        for n in (1, 2, 3):
            bridge._commands.put_nowait(("event", {"n": n}))
            await asyncio.sleep(0.01)  # each after the consumer took the one before
        await eventually_called(live, 1)
        bridge._commands.put_nowait(("event", {"n": "last"}))
        await wait_for(live.done.wait(), 5)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
    assert live.calls == [("events", [1, 2, 3]), ("events", ["last"])]


async def eventually_called(live: LiveCalls, count: int, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(live.calls) < count:
        assert loop.time() < deadline, live.calls
        await asyncio.sleep(0.01)


def test_a_change_notice_lists_each_kind_s_ids_sorted_and_leaves_out_kinds_with_none() -> None:
    notice = change_notice({"seat": {"1002", "1001"}, "channel": [], "queue": ("hotline-110",)})
    assert json.loads(notice) == {"queue": ["hotline-110"], "seat": ["1001", "1002"]}
    assert json.loads(change_notice({"surge": ["12345"]})) == {"surge": ["12345"]}
    assert json.loads(change_notice({})) == {}
