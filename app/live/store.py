"""Reads the live queue/seat/channel state the AMI bridge keeps in Redis (adapter, I/O).

The layout is `core.live`'s; this module only reads it (the bridge is the
only writer) and must not shape HTTP answers (`app.live.view` does) or write
to Redis.  A malformed entry is skipped with a warning rather than failing
the whole dashboard; Redis being down raises `Unavailable("redis", ...)`.

A reader that runs every second in the bridge's own process (the surge
controller) takes a `LiveSource` instead: `bridge_source` reads the bridge's
model in memory (what Redis holds, or will a batch later), without the round
trip and the JSON of every seat; `redis_source` is the same read from Redis.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from agi.background import wait_for
from ami_bridge.live_state import RedisLiveState
from app.web.errors import Unavailable
from core.live import (
    AMI_KEY,
    CHANNELS_KEY,
    QUEUES_KEY,
    SEATS_KEY,
    SURGE_KEY,
    ChannelState,
    QueueState,
    SeatState,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class LiveData:
    """What Redis holds right now; empty mappings when the bridge wrote nothing."""

    queues: dict[str, QueueState] = field(default_factory=dict)
    seats: dict[str, SeatState] = field(default_factory=dict)
    ami: dict[str, str] = field(default_factory=dict)
    channels: dict[str, ChannelState] = field(default_factory=dict)
    surge: dict[str, dict[str, Any]] = field(default_factory=dict)  # centre -> overflow surge view


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _parse_all(raw: dict[Any, Any], parse: Callable[[str], T], what: str) -> dict[str, T]:
    parsed: dict[str, T] = {}
    for key, value in raw.items():
        try:
            parsed[_text(key)] = parse(_text(value))
        except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
            log.warning("skipping malformed live %s %r: %s", what, _text(key), exc)
    return parsed


async def read_live(redis: Redis, prefix: str, timeout_s: float = 3.0) -> LiveData:
    """All queues, seats, channels and the AMI link status, read in one round-trip."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(prefix + QUEUES_KEY)
            pipe.hgetall(prefix + SEATS_KEY)
            pipe.hgetall(prefix + AMI_KEY)
            pipe.hgetall(prefix + CHANNELS_KEY)
            pipe.hgetall(prefix + SURGE_KEY)
            queues, seats, ami, channels, surge = await wait_for(pipe.execute(), timeout_s)
    except (TimeoutError, RedisError, OSError) as exc:
        raise Unavailable("redis", str(exc) or type(exc).__name__) from exc
    return LiveData(
        queues=_parse_all(queues, QueueState.from_json, "queue"),
        seats=_parse_all(seats, SeatState.from_json, "seat"),
        ami={_text(k): _text(v) for k, v in ami.items()},
        channels=_parse_all(channels, ChannelState.from_json, "channel"),
        surge=_parse_all(surge, _surge_view, "surge"),
    )


LiveSource = Callable[[], Awaitable[LiveData]]
"""Reads the live state now (`LiveData`; the surge view left empty)."""


def redis_source(redis: Redis, prefix: str) -> LiveSource:
    """`read_live` from Redis: any process, wherever the bridge runs."""
    return partial(read_live, redis, prefix)


def bridge_source(state: RedisLiveState) -> LiveSource:
    """The live state the AMI bridge of this process holds in memory
    (`RedisLiveState.model`), as `read_live` would find it in Redis: nothing
    but the AMI link's status until the first snapshot (resync) is in."""
    async def read() -> LiveData:
        data = LiveData(ami=dict(state.ami))
        if state.resynced:
            model = state.model
            data.queues = dict(model.queues)
            data.seats = {ext: seat.state() for ext, seat in model.seats.items()}
            data.channels = dict(model.channels)
        return data
    return read


def _surge_view(raw: str) -> dict[str, Any]:
    view = json.loads(raw)
    if not isinstance(view, dict):
        raise ValueError("not an object")
    return view


async def ami_connected(redis: Redis, prefix: str, timeout_s: float = 3.0) -> bool:
    """True when the bridge reports the AMI link up (`connected == "1"`)."""
    try:
        value = await wait_for(redis.hget(prefix + AMI_KEY, "connected"), timeout_s)
    except (TimeoutError, RedisError, OSError) as exc:
        log.warning("cannot read AMI status from redis: %s", exc)
        return False
    return value is not None and _text(value) == "1"


async def ping(redis: Redis, timeout_s: float = 3.0) -> bool:
    """True when Redis answers PING within `timeout_s`."""
    try:
        return bool(await wait_for(redis.ping(), timeout_s))
    except (TimeoutError, RedisError, OSError) as exc:
        log.warning("redis ping failed: %s", exc)
        return False
