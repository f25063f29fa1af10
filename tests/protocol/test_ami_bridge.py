"""The AMI bridge end to end: fake Asterisk (recorded transcripts) -> real Redis."""
from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from core.live import ChannelState, QueueState, SeatState


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def queues(redis: Redis, prefix: str) -> dict[str, QueueState]:
    raw = await redis.hgetall(f"{prefix}live:queues")
    return {_text(k): QueueState.from_json(v) for k, v in raw.items()}


async def seats(redis: Redis, prefix: str) -> dict[str, SeatState]:
    raw = await redis.hgetall(f"{prefix}live:seats")
    return {_text(k): SeatState.from_json(v) for k, v in raw.items()}


async def channels(redis: Redis, prefix: str) -> dict[str, ChannelState]:
    raw = await redis.hgetall(f"{prefix}live:channels")
    return {_text(k): ChannelState.from_json(v) for k, v in raw.items()}


async def ami(redis: Redis, prefix: str) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in (await redis.hgetall(f"{prefix}live:ami")).items()}


async def test_when_bridge_connects_then_resync_writes_queues_seats_and_link_state(
        make_bridge: Any, fake_ami: Any, redis_client: Redis, prefix: str, eventually: Any) -> None:
    fake_ami.responses["QueueStatus"] = "queue_status_caller_waiting.ami"

    bridge = await make_bridge()

    link = await eventually(lambda: _resynced(redis_client, prefix), what="first resync")
    assert link["connected"] == "1"
    assert link["asterisk_version"] == "22.10.1"
    assert float(link["since"]) > 0
    live_queues = await queues(redis_client, prefix)
    assert set(live_queues) == {"hotline-12345", "hotline-12345-linkage", "hotline-110"}
    assert [e.caller_number for e in live_queues["hotline-12345"].entries] == ["13800138000"]
    assert (live_queues["hotline-12345-linkage"].centre, live_queues["hotline-12345-linkage"].kind) == \
        ("12345", "linkage")
    live_seats = await seats(redis_client, prefix)
    assert {k: v.state for k, v in live_seats.items()} == {"1001": "idle", "1002": "paused", "2001": "idle"}
    assert live_seats["1001"].interface == "Local/1001@hotline-seat-phones/n"
    assert fake_ami.actions()[:3] == ["Login", "QueueStatus", "CoreSettings"]
    assert bridge.ami.connected


async def test_when_events_arrive_then_redis_follows_and_updates_are_published(
        make_bridge: Any, fake_ami: Any, redis_client: Redis, prefix: str, eventually: Any) -> None:
    await make_bridge()
    await eventually(lambda: _resynced(redis_client, prefix), what="first resync")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(f"{prefix}live:updates")
    try:
        await fake_ami.push("events_caller_joins.ami")
        await eventually(lambda: _waiting(redis_client, prefix, "hotline-12345", 1), what="caller waiting")

        await fake_ami.push("events_seat_answers.ami")
        seat = await eventually(lambda: _seat_in(redis_client, prefix, "1001", "in_call"), what="1001 in call")
        assert seat.talking_to == "13800138000"
        assert (await queues(redis_client, prefix))["hotline-12345"].entries == []

        await fake_ami.push("events_call_completes.ami")
        seat = await eventually(lambda: _seat_in(redis_client, prefix, "1001", "idle"), what="1001 idle")
        assert seat.talking_to is None

        updates: list[dict[str, list[str]]] = []

        async def collected() -> bool:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None:
                updates.append(json.loads(message["data"]))
            return any("1001" in u.get("seat", []) for u in updates) \
                and any("hotline-12345" in u.get("queue", []) for u in updates)

        await eventually(collected, what="published updates")
        # one notice per write: kinds -> sorted ids, never an empty kind
        assert all(u and set(u) <= {"queue", "seat", "channel", "ami"} for u in updates)
        assert all(ids and ids == sorted(ids) for u in updates for ids in u.values())
    finally:
        await pubsub.aclose()


async def test_when_asterisk_restarts_then_connected_drops_and_state_is_rebuilt_without_stale_entries(
        make_bridge: Any, fake_ami: Any, redis_client: Redis, prefix: str, eventually: Any) -> None:
    fake_ami.responses["QueueStatus"] = "queue_status_caller_waiting.ami"
    bridge = await make_bridge()
    await eventually(lambda: _waiting(redis_client, prefix, "hotline-12345", 1), what="caller waiting")
    await fake_ami.push("events_remote_seat.ami")  # 3001 added then removed: gone either way
    await fake_ami.push("events_seat_answers.ami")
    await eventually(lambda: _seat_in(redis_client, prefix, "1001", "in_call"), what="1001 in call")
    first_resync = (await ami(redis_client, prefix))["resynced_at"]

    await fake_ami.stop_listening()   # Asterisk goes down...
    await eventually(lambda: _field(redis_client, prefix, "connected", "0"), what="connected=0")
    assert not bridge.ami.connected

    fake_ami.responses["QueueStatus"] = "queue_status_idle.ami"
    await fake_ami.listen()           # ...and comes back with a fresh state
    await eventually(lambda: bridge.ami.connections == 2, what="reconnection")
    await eventually(lambda: _field(redis_client, prefix, "connected", "1"), what="connected=1")
    await eventually(lambda: _seat_in(redis_client, prefix, "1001", "idle"), what="1001 idle after restart")

    link = await ami(redis_client, prefix)
    assert link["resynced_at"] >= first_resync
    live_queues = await queues(redis_client, prefix)
    assert all(q.entries == [] for q in live_queues.values())
    live_seats = await seats(redis_client, prefix)
    assert set(live_seats) == {"1001", "1002", "2001"}
    assert live_seats["1001"].talking_to is None


async def test_when_asterisk_announces_shutdown_then_bridge_marks_down_and_reconnects(
        make_bridge: Any, fake_ami: Any, redis_client: Redis, prefix: str, eventually: Any) -> None:
    bridge = await make_bridge()
    await eventually(lambda: _resynced(redis_client, prefix), what="first resync")

    await fake_ami.push("shutdown.ami")

    await eventually(lambda: bridge.ami.connections == 2, what="reconnection after Shutdown")
    await eventually(lambda: _field(redis_client, prefix, "connected", "1"), what="connected again")
    assert fake_ami.logins == 2


async def test_malformed_events_are_ignored_and_the_bridge_keeps_working(
        make_bridge: Any, fake_ami: Any, redis_client: Redis, prefix: str, eventually: Any) -> None:
    bridge = await make_bridge()
    await eventually(lambda: _resynced(redis_client, prefix), what="first resync")

    await fake_ami.push("malformed_events.ami")
    await fake_ami.push("events_caller_joins.ami")

    await eventually(lambda: _waiting(redis_client, prefix, "hotline-12345", 1), what="good event after bad ones")
    assert bridge.live.events_rejected >= 4
    assert bridge.ami.connections == 1


async def test_periodic_light_resync_repairs_what_events_missed(
        make_bridge: Any, fake_ami: Any, redis_client: Redis, prefix: str, eventually: Any) -> None:
    await make_bridge(resync_interval_s=0.05)
    await eventually(lambda: _resynced(redis_client, prefix), what="first resync")

    fake_ami.responses["QueueStatus"] = "queue_status_caller_waiting.ami"  # no event told us

    await eventually(lambda: _waiting(redis_client, prefix, "hotline-12345", 1), what="light resync")


async def test_when_redis_is_down_the_bridge_keeps_running_and_rewrites_state_when_it_is_back(
        make_bridge: Any, fake_ami: Any, settings: Any, redis_proxy: Any, redis_client: Redis, prefix: str,
        eventually: Any) -> None:
    await redis_proxy.stop()  # Redis unreachable from the start
    bridge = await make_bridge(settings=settings.with_(redis={"url": f"redis://127.0.0.1:{redis_proxy.port}/0"}))
    await eventually(lambda: bridge.resyncs >= 1, what="resync kept in memory")
    await fake_ami.push("events_caller_joins.ami")
    await eventually(lambda: bridge.live.model.queues["hotline-12345"].waiting == 1, what="event applied")
    assert not await redis_client.exists(f"{prefix}live:queues")
    assert bridge.ami.connected

    await redis_proxy.start()  # Redis is back

    await eventually(lambda: _waiting(redis_client, prefix, "hotline-12345", 1), what="state rewritten")
    assert (await ami(redis_client, prefix))["connected"] == "1"
    assert set(await seats(redis_client, prefix)) == {"1001", "1002", "2001"}


CALL_CHANNELS = {"citizen-500c84ba3a0b", "citizen-leg-7f1cb5d40a2c", "1795610200.2", "1795610200.3"}


async def test_when_bridge_resyncs_then_channels_are_rebuilt_and_hangups_remove_them(
        make_bridge: Any, fake_ami: Any, redis_client: Redis, prefix: str, eventually: Any) -> None:
    fake_ami.responses["CoreShowChannels"] = "core_show_channels_in_call.ami"
    stale = ChannelState("stale.1", "stale.1", "PJSIP/1002-00000001", "Up")  # from before a restart
    await redis_client.hset(f"{prefix}live:channels", stale.uniqueid, stale.to_json())

    await make_bridge()

    live = await eventually(lambda: _channels_are(redis_client, prefix, CALL_CHANNELS), what="channels resynced")
    assert fake_ami.actions()[:4] == ["Login", "QueueStatus", "CoreSettings", "CoreShowChannels"]
    leg = live["citizen-leg-7f1cb5d40a2c"]
    assert (leg.channel, leg.state, leg.caller_number) == \
        ("Local/12345@hotline-inbound-00000000;2", "Up", "13800138000")
    assert (leg.centre, leg.bridge_id) == ("12345", "e4084898-30d8-4b37-9ffc-50218e0ec1ab")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(f"{prefix}live:updates")
    try:
        await fake_ami.push("events_channels_call_hung_up.ami")

        await eventually(lambda: _no_channels(redis_client, prefix), what="channels hung up")
        updates: list[dict[str, list[str]]] = []

        async def collected() -> bool:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None:
                updates.append(json.loads(message["data"]))
            return {i for u in updates for i in u.get("channel", [])} == CALL_CHANNELS

        await eventually(collected, what="every hung-up channel in the notices")
    finally:
        await pubsub.aclose()


async def test_when_a_periodic_resync_lists_no_channel_then_none_survives_in_redis(
        make_bridge: Any, fake_ami: Any, redis_client: Redis, prefix: str, eventually: Any) -> None:
    fake_ami.responses["CoreShowChannels"] = "core_show_channels_in_call.ami"
    bridge = await make_bridge(resync_interval_s=0.05)
    await eventually(lambda: _channels_are(redis_client, prefix, CALL_CHANNELS), what="channels resynced")

    fake_ami.responses["CoreShowChannels"] = "core_show_channels_idle.ami"  # no Hangup event told us

    await eventually(lambda: _no_channels(redis_client, prefix), what="channels dropped by resync")
    assert bridge.live.model.channels == {}


async def _channels_are(redis: Redis, prefix: str, ids: set[str]) -> dict[str, ChannelState] | None:
    live = await channels(redis, prefix)
    return live if set(live) == ids else None


async def _no_channels(redis: Redis, prefix: str) -> bool:
    return bool(await _resynced(redis, prefix)) and not await channels(redis, prefix)


async def _resynced(redis: Redis, prefix: str) -> dict[str, str] | None:
    link = await ami(redis, prefix)
    return link if link.get("resynced_at") and link.get("connected") == "1" else None


async def _waiting(redis: Redis, prefix: str, queue: str, count: int) -> bool:
    state = (await queues(redis, prefix)).get(queue)
    return state is not None and state.waiting == count


async def _seat_in(redis: Redis, prefix: str, extension: str, state: str) -> SeatState | None:
    seat = (await seats(redis, prefix)).get(extension)
    return seat if seat is not None and seat.state == state else None


async def _field(redis: Redis, prefix: str, name: str, value: str) -> bool:
    return (await ami(redis, prefix)).get(name) == value
