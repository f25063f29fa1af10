"""Routing decisions for calls (pure).

An AGI route asks for a *plan* — the channel variables to set — and the
adapter applies it.  A plan with a status other than OK sends the call down
the dialplan's safe path (the centre's own queue), so a wrong decision can
delay but never drop a caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core import channel_vars as cv
from core.centres import Centre, centre_by_id
from core.safety import is_number


@dataclass(frozen=True)
class RoutePlan:
    status: str  # "OK" or a reason the dialplan's safe path is taken
    variables: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    @classmethod
    def safe_path(cls, reason: str) -> RoutePlan:
        return cls(status="FALLBACK", variables={cv.ROUTE_STATUS: "FALLBACK"}, reason=reason)


def decide_inbound(centres: tuple[Centre, ...], centre_id: str | None, citizen: str | None) -> RoutePlan:
    """Which queue a citizen who dialled `centre_id` waits in.

    The citizen hears the centre's hold music in its public queue and the seat
    that answers sees the citizen's own number (set by the entry context).  An
    unknown centre or a withheld/garbled number still reaches a queue: the
    former through the safe path, the latter with the number shown as given.
    """
    centre = centre_by_id(centres, centre_id or "")
    if centre is None:
        return RoutePlan.safe_path(f"unknown centre {centre_id!r}")
    reason = "" if is_number(citizen) else "caller number withheld or not a number"
    return RoutePlan(
        status="OK",
        variables={cv.QUEUE: centre.queue, cv.ROUTE_STATUS: "OK"},
        reason=reason,
    )
