"""Simulated citizens and seat phones over AMI, for the demo, benchmarks, tests.

A citizen is an originated Local channel into `hotline-inbound` with an
explicit caller ID: its `;2` half is the call as Asterisk's entry context sees
it, its `;1` half the citizen's handset (hang up there).  Seat phones are the
`hotline-seat-phones` context; what a seat does when it rings is set per seat
in AstDB (`answer`, `noanswer`, `busy`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ami_bridge.manager import AmiManager
from core.centres import SIMULATED_SEAT_CONTEXT
from core.safety import check_number, check_token
from core.settings import Settings

SEAT_ANSWERED_EVENT = "HotlineSeatAnswered"


@dataclass(frozen=True)
class CitizenCall:
    number: str
    centre: str
    handset_id: str  # uniqueid of the citizen's handset (;1); Asterisk refuses an id
    # that is a prefix of another live one, so the two ids never share a prefix
    pbx_leg_id: str  # uniqueid of the call inside the PBX (;2)


async def originate_citizen(ami: AmiManager, centre: str, number: str,
                            context: str = "hotline-inbound") -> CitizenCall:
    """Citizen `number` dials `centre`; returns once Asterisk queued the call.
    `number` "" withholds it (caller ID `anonymous`: HOTLINE_CITIZEN is empty)."""
    check_number("centre", centre)
    if number:
        check_number("citizen", number)
    check_token("context", context)
    call = CitizenCall(number, centre, f"citizen-{uuid.uuid4().hex[:12]}",
                       f"citizen-leg-{uuid.uuid4().hex[:12]}")
    reply = await ami.send({
        "Action": "Originate",
        "Channel": f"Local/{centre}@{context}",
        "Context": "hotline-citizen-phone", "Exten": "talk", "Priority": "1",
        "CallerID": f'"" <{number}>' if number else '"Anonymous" <anonymous>',
        "ChannelId": call.handset_id, "OtherChannelId": call.pbx_leg_id,
        "Timeout": "120000", "Async": "true",
    }, ack_only=True)
    first = reply[0] if isinstance(reply, list) else reply
    if first.get("Response") != "Success":
        raise RuntimeError(f"originate failed: {first.get('Message')}")
    return call


async def set_phone(ami: AmiManager, seat: str, mode: str) -> None:
    check_token("seat", seat)
    if mode not in ("answer", "noanswer", "busy"):
        raise ValueError(f"phone mode {mode!r}")
    await ami.send({"Action": "DBPut", "Family": "hotline-phone", "Key": seat, "Val": mode})


async def reset_phones(ami: AmiManager) -> None:
    await ami.send({"Action": "DBDelTree", "Family": "hotline-phone"})


async def channels(ami: AmiManager) -> list[dict[str, Any]]:
    reply = await ami.send({"Action": "CoreShowChannels"})
    msgs = reply if isinstance(reply, list) else [reply]
    return [m for m in msgs if m.get("Event") == "CoreShowChannel"]


def seat_phone_channel(seat: str, chans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The simulated seat phone's own channel (the `;2` half of its Local member) among `chans`."""
    return next((c for c in chans if c["Channel"].startswith(f"Local/{seat}@{SIMULATED_SEAT_CONTEXT}-")
                 and c["Channel"].endswith(";2")), None)


async def press_key(ami: AmiManager, seat: str, digits: str, duration_ms: int = 80) -> None:
    """The seat presses `digits` on its phone: AMI PlayDTMF on the seat phone's
    own channel (;2), which reaches the ;1 leg inside the bridge, so feature
    keys fire exactly as a real key press would."""
    check_token("seat", seat)
    chan = seat_phone_channel(seat, await channels(ami))
    if chan is None:
        raise RuntimeError(f"seat {seat} has no call")
    for digit in digits:
        if digit not in "0123456789*#":
            raise ValueError(f"not a key: {digit!r}")
        reply = await ami.send({"Action": "PlayDTMF", "Channel": chan["Channel"],
                                "Digit": digit, "Duration": str(duration_ms)})
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") != "Success":
            raise RuntimeError(f"PlayDTMF on {chan['Channel']}: {first.get('Message')}")


async def hang_up(ami: AmiManager, uniqueid: str) -> bool:
    """Hang up the channel whose uniqueid is `uniqueid` (a handset's
    `ChannelId`); False when there is none.  Asterisk finds a channel by name
    or uniqueid, so no channel list is asked for: one per call made the rig's
    own Asterisk and load generator list every channel up for each call hung
    up (most of the generator's CPU at 20 calls/s)."""
    if not uniqueid or uniqueid.startswith("/"):  # "/.../" would be a regex of channel names
        raise ValueError(f"not a uniqueid: {uniqueid!r}")
    reply = await ami.send({"Action": "Hangup", "Channel": uniqueid})
    first = reply[0] if isinstance(reply, list) else reply
    return first.get("Response") == "Success"


async def clean_redis(settings: Settings) -> None:
    """Delete every key under `settings.redis.prefix` (a run's own prefix)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis.url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{settings.redis.prefix}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()
