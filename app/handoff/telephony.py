"""The desktop button's telephony over AMI: find the call, move the citizen (adapter).

`AmiTelephony` is the `Telephony` port of `app.handoff.services` for handoffs
started from a desktop (`POST /api/handoffs`): it finds the seat's call in
`CoreShowChannels`, answers "are seats logged in at the target?" with
`Getvar QUEUE_MEMBER(...)`, claims the call guard in AstDB (the one the
dialplan's fast path sets), and carries out the move the service planned —
the same move the handoff key makes in the dialplan: the handoff variables
set on the citizen's own channel, the AstDB state `pending`, then `Redirect`
of the citizen's channel into `hotline-handoff` (with the seat's leg as
ExtraChannel into `hotline-handoff-hold` for 成功转, so the two leave the
bridge together and the seat hears ringback).

Every value sent was checked by `core` first (channel names, tokens) and
`AmiManager.send` refuses CR/LF anyway.  No decisions here.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ami_bridge.manager import AmiError, AmiManager
from app.web.errors import Unavailable
from core import channel_vars as cv
from core.centres import Centre
from core.handoff import (
    ASTDB_FAMILY,
    CALL_GUARD_FAMILY,
    HOLD_CONTEXT,
    HandoffPlan,
    is_channel_name,
    seat_of_channel,
)

log = logging.getLogger(__name__)


class MoveFailed(Exception):
    """Asterisk refused or could not carry out the move; `reason` goes into the order."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SeatCall:
    """A seat's call as the button finds it."""

    seat_channel: str | None
    citizen_channel: str | None
    citizen_number: str | None
    centre: str | None
    linkedid: str | None
    seat_leg_id: str | None = None  # the seat leg's uniqueid


def _chan_vars(chan: dict[str, Any]) -> dict[str, str]:
    raw = chan.get("ChanVariable") or []
    items = raw if isinstance(raw, list) else [raw]
    out: dict[str, str] = {}
    for item in items:
        name, _, value = str(item).partition("=")
        out[name] = value
    return out


def find_seat_call(channels: list[dict[str, Any]], centres: tuple[Centre, ...], *,
                   seat: str | None = None, channel: str | None = None) -> SeatCall | None:
    """The seat leg and the citizen leg of a two-party bridge (pure, over
    CoreShowChannel rows).  `seat`: its extension; `channel`: any channel of
    the call (the seat's leg or the citizen's).  None: no such call.  A call
    whose bridge does not hold exactly a seat leg and one other channel has
    no citizen (citizen_channel None)."""
    by_bridge: dict[str, list[dict[str, Any]]] = {}
    for c in channels:
        if c.get("BridgeId"):
            by_bridge.setdefault(c["BridgeId"], []).append(c)
    seat_leg: dict[str, Any] | None = None
    for c in channels:
        if not c.get("BridgeId"):
            continue
        found = seat_of_channel(centres, c.get("Channel"))
        if seat is not None and found is not None and found.extension == seat:
            seat_leg = c
            break
        if channel is not None and c.get("Channel") == channel:
            if found is not None:
                seat_leg = c
            else:
                seat_leg = next((o for o in by_bridge[c["BridgeId"]]
                                 if seat_of_channel(centres, o.get("Channel")) is not None), None)
                if seat_leg is None:
                    return None
            break
    if seat_leg is None:
        return None
    members = by_bridge[seat_leg["BridgeId"]]
    others = [o for o in members if o is not seat_leg]
    if len(others) != 1:
        return SeatCall(seat_leg["Channel"], None, None, None, seat_leg.get("Linkedid"), seat_leg.get("Uniqueid"))
    peer = others[0]
    variables = _chan_vars(peer)
    return SeatCall(seat_leg["Channel"], peer["Channel"], variables.get(cv.CITIZEN) or peer.get("CallerIDNum"),
                    variables.get(cv.CENTRE) or None, peer.get("Linkedid"), seat_leg.get("Uniqueid"))


class AmiTelephony:
    def __init__(self, ami: AmiManager, centres: tuple[Centre, ...]) -> None:
        self.ami = ami
        self.centres = centres

    async def _channels(self) -> list[dict[str, Any]]:
        reply = await self.ami.send({"Action": "CoreShowChannels"})
        msgs = reply if isinstance(reply, list) else [reply]
        return [m for m in msgs if m.get("Event") == "CoreShowChannel"]

    async def find_call(self, *, seat: str | None = None, channel: str | None = None) -> SeatCall | None:
        return find_seat_call(await self._channels(), self.centres, seat=seat, channel=channel)

    async def seat_channels(self, seat: str) -> list[dict[str, Any]]:
        """The seat's channels now, with their HOTLINE_* variables (desktop pop)."""
        rows = []
        for c in await self._channels():
            found = seat_of_channel(self.centres, c.get("Channel"))
            if found is not None and found.extension == seat:
                rows.append({**c, "variables": _chan_vars(c)})
        return rows

    async def seats_logged_in(self, queue: str) -> int | None:
        reply = await self.ami.send({"Action": "Getvar", "Variable": f"QUEUE_MEMBER({queue},logged)"})
        value = str(reply.get("Value", "")) if isinstance(reply, dict) else ""
        return int(value) if value.isdigit() else None

    async def claim_call(self, linkedid: str, seat_leg_id: str) -> bool:
        """The call guard the dialplan's fast path checks and sets (AMI DBGet, then DBPut)."""
        try:
            reply = await self.ami.send({"Action": "DBGet", "Family": CALL_GUARD_FAMILY, "Key": linkedid})
            messages = reply if isinstance(reply, list) else [reply]
            if any(m.get("Event") == "DBGetResponse" and m.get("Val") == seat_leg_id for m in messages):
                return False
            await self._ok({"Action": "DBPut", "Family": CALL_GUARD_FAMILY, "Key": linkedid, "Val": seat_leg_id},
                           "ami_failed")
        except (AmiError, MoveFailed) as exc:  # nothing claimed, nothing moved
            raise Unavailable("ami", f"call guard: {exc}") from exc
        return True

    async def release_call(self, linkedid: str) -> None:
        await self.ami.send({"Action": "DBDel", "Family": CALL_GUARD_FAMILY, "Key": linkedid})

    async def move(self, plan: HandoffPlan, handoff_id: str) -> None:
        """Move the citizen's own channel into hotline-handoff (see the module docstring)."""
        citizen, seat_leg = plan.citizen_channel, plan.seat_channel
        if not (is_channel_name(citizen) and is_channel_name(seat_leg)):
            raise MoveFailed("bad_channel")
        try:
            before: list[tuple[dict[str, str], str]] = [
                ({"Action": "Setvar", "Channel": citizen, "Variable": name, "Value": value}, "citizen_gone")
                for name, value in plan.citizen_variables(handoff_id).items()]
            before.append(({"Action": "DBPut", "Family": ASTDB_FAMILY, "Key": handoff_id, "Val": "pending"},
                           "ami_failed"))
            redirect: dict[str, str] = {"Action": "Redirect", "Channel": citizen,
                                        "Context": "hotline-handoff", "Exten": "s", "Priority": "1"}
            if plan.release_mode == "on_answer":
                before += [({"Action": "Setvar", "Channel": seat_leg, "Variable": name, "Value": value}, "seat_gone")
                           for name, value in ((cv.HOLD_ID, handoff_id), (cv.HANDOFF_PEER, citizen))]
                # the citizen's channel names the leg on hold, so its answer wakes it
                before.append(({"Action": "Setvar", "Channel": citizen, "Variable": f"__{cv.HOLD_CHANNEL}",
                                "Value": seat_leg}, "citizen_gone"))
                redirect.update({"ExtraChannel": seat_leg, "ExtraContext": HOLD_CONTEXT,
                                 "ExtraExten": "hold", "ExtraPriority": "1"})
            await self._all_ok(before)
            await self._ok(redirect, "citizen_gone")
        except MoveFailed:
            await self._forget(handoff_id)
            raise
        except AmiError as exc:
            log.error("handoff %s: AMI failed during the move (%s); citizen stays on %s", handoff_id, exc,
                      citizen)
            await self._forget(handoff_id)
            raise MoveFailed("ami_failed") from exc

    async def _ok(self, action: dict[str, str], reason: str) -> None:
        reply = await self.ami.send(action)
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") != "Success":
            log.warning("AMI %s refused: %s", action["Action"], first.get("Message"))
            raise MoveFailed(reason)

    async def _all_ok(self, actions: Sequence[tuple[dict[str, str], str]]) -> None:
        """`_ok` for each of `actions`, sent together: the AMI session carries
        them out in their order, and none waits for the answer before it (a
        move's variables were a round trip each, on the citizen's way).  Once
        all have answered, the first failure in their order is raised:
        `MoveFailed` with its reason, or the `AmiError`."""
        results = await asyncio.gather(*(self._ok(action, reason) for action, reason in actions),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _forget(self, handoff_id: str) -> None:
        try:
            await self.ami.send({"Action": "DBDel", "Family": ASTDB_FAMILY, "Key": handoff_id})
        except AmiError:
            pass
