"""Orders of a seat's call: what the transfer and the three-way call share (service layer).

`HandoffService` (`app.handoff.services`) and `ThreeWayService`
(`app.threeway.services`) do the same things around their own plans:

* `start` records the order before anything moves and answers `Started`:
  the plan and its order, or a `core.refusals.Refusal`;
* a desktop button finds the seat's call (`desk_call`), checks which call the
  body names (`seat_or_channel`) and turns a refusal into `Refused` (409) and
  a failed move into `move_error`;
* the call's later reports move the order through `follow`, the one helper
  that tolerates late and repeated reports.  `OrderService.transition` logs
  every transition, `Transition: <from> -> <event> -> <to>`.

No HTTP and no AMI here: the features' telephony ports do the moves.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from app.orders.services import OrderService
from app.web.errors import BadInput, Conflict, HotlineError, NotFound, Unavailable
from core.centres import Centre, seat_by_extension
from core.handoff import is_channel_name
from core.orders import IllegalTransition
from core.refusals import Refusal

log = logging.getLogger(__name__)

Plan = TypeVar("Plan")


@dataclass(frozen=True)
class Started(Generic[Plan]):
    """The result of a feature's `start`.

    Going ahead: `plan` and the `order` that records it (`pending`), nothing
    moved yet.  Refused: `refusal`; with the plan and the order when the
    refusal came once the order was recorded (nobody logged in at the target:
    the order is `returned`)."""

    plan: Plan | None
    order: Any | None = None
    refusal: Refusal | None = None

    @property
    def ok(self) -> bool:
        return self.plan is not None and self.order is not None and self.refusal is None


class CallFinder(Protocol):
    """The desktop side's telephony port: the call a seat (or a channel) is in now."""

    async def find_call(self, *, seat: str | None = None, channel: str | None = None) -> Any | None: ...


def seat_or_channel(centres: tuple[Centre, ...], seat: str | None,
                    channel: str | None) -> tuple[str | None, str | None]:
    """The call a desktop button acts on, as its body names it: exactly one of
    a configured seat's extension or a channel name.  Raises `BadInput`
    naming the field."""
    if (seat is None) == (channel is None):
        raise BadInput("seat", "give exactly one of seat or channel")
    if seat is not None and seat_by_extension(centres, seat) is None:
        raise BadInput("seat", f"{seat!r} is not a configured seat")
    if channel is not None and not is_channel_name(channel):
        raise BadInput("channel", "not a channel name")
    return seat, channel


async def desk_call(telephony: CallFinder, *, seat: str | None, channel: str | None, what: str = "") -> Any:
    """The seat's call for a desktop button.  Raises `Unavailable` (503) when
    the AMI link cannot answer and `Conflict` (409) when there is no call
    (`what`: e.g. ` to transfer`, completes that message)."""
    try:
        call = await telephony.find_call(seat=seat, channel=channel)
    except Exception as exc:  # the AMI link is down: nothing moved
        raise Unavailable("ami", str(exc) or type(exc).__name__) from exc
    if call is None:
        raise Conflict(f"{'seat ' + seat if seat else 'channel ' + str(channel)} has no call{what}")
    return call


def move_error(reason: str, action: str) -> HotlineError:
    """What a desktop button answers when its move did not happen (the citizen
    stays with the seat): the citizen hung up meanwhile (409), else the AMI
    link failed (503)."""
    if reason == "citizen_gone":
        return Conflict(f"the citizen hung up before the {action}")
    return Unavailable("ami", reason)


async def follow(orders: OrderService, order_id: str, to_status: str, *, event: str, **changes: Any) -> Any | None:
    """Move a call's order to `to_status` because of `event` (what the call
    reported: answered, returned, a seat left...); `changes` go to
    `OrderService.transition`.

    A late or repeated report (answered after the citizen hung up, a second
    hangup) finds the order moved on already: the order keeps the first outcome and the
    report is logged and ignored, as is a report about an unknown order.
    Returns the order, or None when nothing changed.  The call goes on either
    way: a report never fails the call's path.
    """
    try:
        return await orders.transition(order_id, to_status, event=event, **changes)
    except IllegalTransition as exc:
        log.info("order %s: %s ignored, %s (the first outcome stands)", order_id, event, exc)
        return None
    except NotFound:
        log.warning("order %s: %s for no such order", order_id, event)
        return None
