"""Signing seats in and out and pausing them over AMI (service layer, I/O).

`SeatService` does what the `*5` / `*6` keys do in the dialplan
(dialplan/hotline-seats.conf.j2, hotline-seat-state), for the REST API and
for auto-pause: the sign-in state in AstDB (`hotline-seat/<seat>`), the
seat's dynamic membership of both queues of its centre, and app_queue's
paused flag and reason.  Asterisk keeps all of it (persistentmembers), so
nothing here is the source of truth: `state()` asks Asterisk.

Errors: an unknown seat is `NotFound`; a pause while signed out is
`Refused`; the AMI link down is `Unavailable` (nothing changed).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ami_bridge.manager import AmiError, AmiManager
from app.web.errors import NotFound, Refused, Unavailable
from core.centres import Centre, Seat, centre_by_id, seat_by_extension
from core.seats import (
    SEAT_FAMILY,
    SIGNED_IN,
    SIGNED_OUT,
    SeatAction,
    pause_reason,
    seat_queues,
    state_interface,
)
from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeatStatus:
    """What Asterisk says about a seat now."""

    seat: str
    centre: str
    signed_in: bool
    paused: bool
    reason: str | None
    last_pause: float | None      # epoch seconds of the pause (app_queue LastPause), None when not paused

    def as_dict(self) -> dict[str, Any]:
        state = "signed_out" if not self.signed_in else "paused" if self.paused else "signed_in"
        return {"seat": self.seat, "centre": self.centre, "state": state, "signed_in": self.signed_in,
                "paused": self.paused, "reason": self.reason if self.paused else None,
                "paused_since": self.last_pause if self.paused else None}


class SeatService:
    def __init__(self, settings: Settings, ami: AmiManager) -> None:
        self.settings = settings
        self.ami = ami

    # ------------------------------------------------------------ lookups

    def seat(self, extension: str) -> tuple[Seat, Centre]:
        seat = seat_by_extension(self.settings.site.centres, extension)
        if seat is None:
            raise NotFound("seat", extension)
        centre = centre_by_id(self.settings.site.centres, seat.centre)
        assert centre is not None
        return seat, centre

    def interface(self, seat: Seat) -> str:
        return seat.interface(self.settings.site.seat_mode)

    # ------------------------------------------------------------ actions

    async def act(self, extension: str, action: SeatAction, reason: str | None = None, *,
                  actor: str = "system") -> SeatStatus:
        """Carry out `action` on seat `extension`; returns the state afterwards.
        `reason` (pause only): a code or a configured name, checked here."""
        seat, centre = self.seat(extension)
        name = pause_reason(reason, self.settings.seats.pause_reasons) if action == "pause" else None
        try:
            if action == "signin":
                await self._sign(seat, centre, True)
            elif action == "signout":
                await self._sign(seat, centre, False)
            else:
                current = await self.state(extension)
                if not current.signed_in:
                    raise Refused(action, "signed_out")
                await self._pause(seat, action == "pause", name)
        except AmiError as exc:
            raise Unavailable("ami", str(exc)) from None
        log.info("seat %s: %s%s by %s", extension, action, f" ({name})" if name else "", actor)
        return await self.state(extension)

    async def pause(self, extension: str, reason: str, *, actor: str = "system") -> None:
        """Pause with a reason name as it is (auto-pause's own reason)."""
        seat, _ = self.seat(extension)
        await self._pause(seat, True, reason)
        log.info("seat %s: pause (%s) by %s", extension, reason, actor)

    async def _sign(self, seat: Seat, centre: Centre, signed_in: bool) -> None:
        iface = self.interface(seat)
        await self._ok({"Action": "DBPut", "Family": SEAT_FAMILY, "Key": seat.extension,
                        "Val": SIGNED_IN if signed_in else SIGNED_OUT})
        for queue in seat_queues(centre):
            if signed_in:
                action = {"Action": "QueueAdd", "Queue": queue, "Interface": iface, "Penalty": "0",
                          "MemberName": seat.extension, "Paused": "false"}
                watched = state_interface(iface, self.settings.site.seat_mode)
                if watched:
                    action["StateInterface"] = watched
                # "Added interface to queue" looks to panoramisk like the start of a list
                await self._ok(action, tolerate="Already there", ack_only=True)
            else:
                await self._ok({"Action": "QueueRemove", "Queue": queue, "Interface": iface},
                               tolerate="Not there")

    async def _pause(self, seat: Seat, paused: bool, reason: str | None) -> None:
        action = {"Action": "QueuePause", "Interface": self.interface(seat), "Paused": "true" if paused else "false"}
        if paused and reason:
            action["Reason"] = reason
        await self._ok(action)

    async def _ok(self, action: dict[str, str], *, tolerate: str = "", ack_only: bool = False) -> None:
        reply = await self.ami.send(action, ack_only=ack_only)
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") != "Success" and not (tolerate and tolerate in str(first.get("Message", ""))):
            raise AmiError(f"{action['Action']} refused: {first.get('Message')}")

    # ------------------------------------------------------------ state

    async def state(self, extension: str) -> SeatStatus:
        seat, centre = self.seat(extension)
        try:
            reply = await self.ami.send({"Action": "QueueStatus", "Queue": centre.queue,
                                         "Member": self.interface(seat)})
        except AmiError as exc:
            raise Unavailable("ami", str(exc)) from None
        return member_status(seat, centre, self.interface(seat), reply)


def member_status(seat: Seat, centre: Centre, interface: str, reply: Any) -> SeatStatus:
    """A seat's state from a `QueueStatus` answer for its centre's public queue."""
    for message in reply if isinstance(reply, list) else [reply]:
        if message.get("Event") != "QueueMember" or message.get("Queue") != centre.queue:
            continue
        if str(message.get("Interface") or message.get("Location") or "") != interface:
            continue
        paused = str(message.get("Paused", "0")) == "1"
        last = str(message.get("LastPause", "0"))
        return SeatStatus(seat.extension, centre.id, True, paused,
                          str(message.get("PausedReason") or "") or None if paused else None,
                          float(last) if paused and last.isdigit() and int(last) > 0 else None)
    return SeatStatus(seat.extension, centre.id, False, False, None, None)
