"""The three-way call's telephony over AMI: move the parties, ring the other centre, drop a seat (adapter).

`AmiThreeWayTelephony` is the port `app.threeway.services` uses for the key
and for the desktop buttons alike:

* `bring_in` — the plan's variables set on the citizen's channel and the
  initiator's leg, the AstDB phase `ringing`, then one `Redirect` moving the
  citizen into `hotline-threeway-citizen` (the conference, music on hold)
  and the initiator (ExtraChannel) into `hotline-threeway-seat` (ringback),
  then an async `Originate` of `Local/t<id>@hotline-threeway-ring/n` with the
  **citizen's** number as CallerID: its ;2 half queues at the other centre,
  its ;1 half joins the conference when a seat answers.  The citizen's
  channel and the ring channel (inherited) carry the initiator leg's name
  (HOTLINE_THREEWAY_INITIATOR): the dialplan that answers, gives up or sees
  the citizen hang up wakes that leg with it.
  For the key, the initiator's leg is still running the feature's Gosub
  when the route returns; a Redirect arriving then is dropped by Asterisk
  (a goto cannot affect a Gosub) together with the leg, so the move waits
  until the leg is back in its bridge: its context is neither the feature's
  nor that of the route's own Gosub (`hotline-agi`, where the leg still is
  for a moment after the route answered); the variables and the phase are
  sent before that, together (`AmiTelephony._all_ok`).
* `drop_ring` — hang up that Local channel (both halves): the invited seat
  is dropped (cancel) or stops ringing (citizen gone).
* `hang_up` — a seat's leg leaves (desktop leave button).

Every value was checked by `core` first; `AmiManager.send` refuses CR/LF.
No decisions here.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ami_bridge.manager import AmiError, AmiManager
from app.handoff.telephony import AmiTelephony, MoveFailed
from core import channel_vars as cv
from core.centres import Centre
from core.handoff import is_channel_name
from core.threeway import ASTDB_FAMILY, RING_CONTEXT, ThreeWayPlan, is_threeway_id, ring_exten

log = logging.getLogger(__name__)

FEATURE_CONTEXT = "hotline-threeway-key"
# where the key's leg is while its feature runs: the feature's Gosub, and the
# Gosub in it that runs the `threeway_start` route (extensions.conf)
FEATURE_CONTEXTS = frozenset({FEATURE_CONTEXT, "hotline-agi"})


def ring_channel_pattern(threeway_id: str) -> str:
    """An AMI Hangup regex for both halves of the ringing Local channel."""
    return f"/^Local\\/{ring_exten(threeway_id)}@{RING_CONTEXT}-/"


class AmiThreeWayTelephony(AmiTelephony):
    def __init__(self, ami: AmiManager, centres: tuple[Centre, ...], *, feature_wait_s: float = 3.0) -> None:
        super().__init__(ami, centres)
        self.feature_wait_s = feature_wait_s

    async def bring_in(self, plan: ThreeWayPlan, threeway_id: str, *, from_feature: bool) -> None:
        citizen, seat_leg = plan.citizen_channel, plan.seat_channel
        if not (is_channel_name(citizen) and is_channel_name(seat_leg) and is_threeway_id(threeway_id)):
            raise MoveFailed("bad_channel")
        try:
            # the variables and the phase, sent together (`_all_ok`) while the
            # key's leg may still be in its feature: only the move waits for that
            before = [({"Action": "Setvar", "Channel": citizen, "Variable": name, "Value": value}, "citizen_gone")
                      for name, value in plan.citizen_variables(threeway_id).items()]
            before += [({"Action": "Setvar", "Channel": seat_leg, "Variable": name, "Value": value}, "seat_gone")
                       for name, value in {**plan.seat_variables(threeway_id),
                                           cv.THREEWAY_TIMEOUT: str(plan.timeout_s)}.items()]
            before.append(({"Action": "DBPut", "Family": ASTDB_FAMILY, "Key": threeway_id, "Val": "ringing"},
                           "ami_failed"))
            await self._all_ok(before)
            if from_feature:
                await self._wait_out_of_feature(seat_leg)
            await self._ok({"Action": "Redirect", "Channel": citizen, "Context": "hotline-threeway-citizen",
                            "Exten": "s", "Priority": "1", "ExtraChannel": seat_leg,
                            "ExtraContext": "hotline-threeway-seat", "ExtraExten": "s", "ExtraPriority": "1"},
                           "citizen_gone")
            action: dict[str, Any] = {
                "Action": "Originate", "Channel": f"Local/{ring_exten(threeway_id)}@{RING_CONTEXT}/n",
                "Context": "hotline-threeway-join", "Exten": "s", "Priority": "1",
                # the other centre sees the citizen's number: the Local channel's own caller ID
                "CallerID": plan.caller_id,
                "Timeout": str((plan.timeout_s + 10) * 1000), "Async": "true",
                "Variable": [f"{k}={v}" for k, v in plan.ring_variables(threeway_id).items()],
            }
            reply = await self.ami.send(action, ack_only=True)
            first = reply[0] if isinstance(reply, list) else reply
            if first.get("Response") != "Success":
                raise MoveFailed("ring_failed")
        except AmiError as exc:
            log.error("three-way %s: AMI failed while bringing the other centre in (%s)", threeway_id, exc)
            raise MoveFailed("ami_failed") from exc

    async def _wait_out_of_feature(self, seat_leg: str) -> None:
        """Wait until the seat's leg has returned from the start key's Gosub
        (and from the route's Gosub inside it)."""
        deadline = time.monotonic() + self.feature_wait_s
        while time.monotonic() < deadline:
            reply = await self.ami.send({"Action": "Getvar", "Channel": seat_leg, "Variable": "CONTEXT"})
            first = reply[0] if isinstance(reply, list) else reply
            if first.get("Response") != "Success":
                raise MoveFailed("seat_gone")
            if first.get("Value") not in FEATURE_CONTEXTS:
                return
            await asyncio.sleep(0.01)
        raise MoveFailed("seat_busy")

    async def drop_ring(self, threeway_id: str) -> None:
        if not is_threeway_id(threeway_id):
            return
        try:
            await self.ami.send({"Action": "Hangup", "Channel": ring_channel_pattern(threeway_id)})
        except AmiError as exc:
            log.warning("three-way %s: could not drop the ringing leg (%s)", threeway_id, exc)

    async def hang_up(self, channel: str) -> None:
        if not is_channel_name(channel):
            raise MoveFailed("bad_channel")
        await self._ok({"Action": "Hangup", "Channel": channel}, "seat_gone")

    async def forget(self, threeway_id: str) -> None:
        try:
            await self.ami.send({"Action": "DBDel", "Family": ASTDB_FAMILY, "Key": threeway_id})
        except AmiError:
            pass
