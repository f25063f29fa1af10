"""Three-way call (三方通话): citizen + a 12345 seat + a 110 seat — the plan and the state machine (pure).

When responsibility is unclear the seat in the call (the *initiator*) brings
the other centre in: the key (`*2`, features.conf) or the desktop button.
What each party hears and which number is presented:

* ringing — the citizen waits alone in the conference and hears music on
  hold; the initiator hears ringback; the other centre's linkage queue is
  called presenting the **citizen's** number (HOTLINE_CITIZEN), never the
  initiating seat's;
* joined — the seat that answers (the *invited* seat) and the initiator join
  the citizen in one ConfBridge conference; all three talk;
* no answer within the limit — the initiator joins the citizen: two-party again.

Inside the conference the keys are a ConfBridge menu (features.conf keys do
not apply there): leave and hand over (`*3`), cancel (`*0`, initiator only:
the invited seat is dropped), emergency (`*9`).

The order (mode `three_way`) records the outcome and the rule (`ThreeWay`'s methods):

* **agreed** — one seat left (key or hang-up) while both were there: the
  seat that stayed accepts (its centre, its extension);
* **first_contact** (首接负责) — the call ended with both seats still there
  and nothing decided: the centre that first received the call accepts;
* **emergency** — a seat marked the case as endangering life or property:
  110 accepts and the order is marked for dispatch first (`emergency`).

No answer → `returned` (no_answer); cancel → `returned` (cancelled); the
citizen hanging up before anyone answered → `abandoned`.  Once an outcome is
decided it stands: later leaves and hang-ups are audit events only.

The call's state is its order's audit trail (`replay`): the facts it starts
from ride on the order's `created` event (`start_detail`), and each event
that changes it is a note (joined, left, marked) — so every process rebuilds
the same call from the database, whichever of them (the keys' FastAGI
server, the desk's web service, one restarted since) acts on it.
Nothing here does I/O.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from core import channel_vars as cv
from core.centres import Centre, Seat, centre_by_id
from core.handoff import is_channel_name, partner_id, seat_of_channel
from core.refusals import Refusal
from core.safety import INVALID_NUMBER_LABEL, is_number, is_presented
from core.trunks import handoff_header, is_order_number

Role = Literal["initiator", "invited"]
ROLES: tuple[str, ...] = ("initiator", "invited")
Phase = Literal["ringing", "joined", "ended"]
Rule = Literal["agreed", "first_contact", "emergency"]
RULES: tuple[str, ...] = ("agreed", "first_contact", "emergency")
EMERGENCY_CENTRE = "110"  # 如涉及人身财产安全，由110先行处警

# AstDB family holding each three-way call's phase: ringing, joined, no_answer,
# gone.  Whoever writes it first wakes the initiator's leg waiting in
# hotline-threeway-seat (the dialplan); that leg's safety loop reads it.
ASTDB_FAMILY = "hotline-threeway"
CONFERENCE_PREFIX = "hotline-3w-"
# the Local channel that rings the other centre: Local/t<id without dashes>@hotline-threeway-ring
RING_CONTEXT = "hotline-threeway-ring"

_ID = re.compile(r"^[0-9a-f\-]{8,36}$")


def is_threeway_id(value: str | None) -> bool:
    return bool(value) and _ID.match(value or "") is not None


def conference_name(threeway_id: str) -> str:
    """The ConfBridge conference of a three-way call."""
    return f"{CONFERENCE_PREFIX}{threeway_id}"


def ring_exten(threeway_id: str) -> str:
    """The extension of the Local channel that rings the other centre."""
    return "t" + threeway_id.replace("-", "")


def is_ring_channel(threeway_id: str, channel: str) -> bool:
    """`channel` is a half of the Local channel ringing the other centre for this call."""
    return channel.startswith(f"Local/{ring_exten(threeway_id)}@{RING_CONTEXT}-")


@dataclass(frozen=True)
class ThreeWayRequest:
    """What the key or the button knows when a seat asks for a three-way call."""

    seat_channel: str | None
    citizen_channel: str | None
    citizen_number: str | None
    centre: str | None          # HOTLINE_CENTRE: the centre handling the call now
    first_centre: str | None    # HOTLINE_FIRST_CENTRE: the centre that first received it
    linkedid: str | None = None
    emergency: bool = False     # the button may mark the case at once
    via: Literal["key", "button"] = "key"
    citizen_presented: str | None = None  # HOTLINE_CITIZEN_PRESENTED: a caller ID that is no number, escaped


@dataclass(frozen=True)
class ThreeWayPlan:
    source_centre: str
    initiator: Seat
    target_centre: str
    queue: str                  # the other centre's linkage queue ("" for a remote centre)
    first_centre: str
    citizen_number: str
    citizen_channel: str
    seat_channel: str
    timeout_s: int
    linkedid: str | None
    emergency: bool = False
    via: str = "key"
    citizen_presented: str | None = None
    trunk: str | None = None    # a remote centre's peer trunk: rung over it with the handoff header
    order_number: str | None = None  # the order's number once recorded: the header's order=

    def citizen_variables(self, threeway_id: str) -> dict[str, str]:
        """Set on the citizen's channel before it moves into the conference
        (its hangup while the other centre rings wakes the initiator's leg)."""
        return {cv.THREEWAY_ID: threeway_id, cv.THREEWAY_ROLE: "citizen",
                cv.THREEWAY_CONF: conference_name(threeway_id),
                cv.THREEWAY_INITIATOR: self.seat_channel}

    def seat_variables(self, threeway_id: str) -> dict[str, str]:
        """Set on the initiator's leg before it moves to wait for the answer."""
        return {cv.THREEWAY_ID: threeway_id, cv.THREEWAY_ROLE: "initiator",
                cv.THREEWAY_CONF: conference_name(threeway_id),
                cv.THREEWAY_PEER: self.citizen_channel}

    @property
    def caller_id(self) -> str:
        """What the other centre's seat is shown (AMI CallerID): the citizen's
        number; for a caller ID that was not a number, none and 无效号码, as the
        first seat was shown (never another number)."""
        if not self.citizen_number and self.citizen_presented:
            return f'"{INVALID_NUMBER_LABEL}" <>'
        return f'"" <{self.citizen_number}>'

    def ring_variables(self, threeway_id: str) -> dict[str, str]:
        """Set on the Local channel that rings the other centre (inherited by
        its far half, which queues; `__` so the answering seat's leg carries
        the id and the initiator's leg, which its answer wakes, too)."""
        return {f"__{cv.THREEWAY_ID}": threeway_id, cv.THREEWAY_ROLE: "invited",
                cv.THREEWAY_CONF: conference_name(threeway_id),
                f"__{cv.THREEWAY_INITIATOR}": self.seat_channel,
                # the ringing half only: nobody answered and the initiator is gone -> the citizen to its queue
                f"_{cv.THREEWAY_PEER}": self.citizen_channel,
                f"__{cv.THREEWAY_QUEUE}": self.queue,
                f"__{cv.THREEWAY_TIMEOUT}": str(self.timeout_s),
                f"__{cv.CITIZEN}": self.citizen_number,
                f"__{cv.CENTRE}": self.target_centre,
                f"__{cv.FIRST_CENTRE}": self.first_centre,
                f"__{cv.THREEWAY_DIAL}": f"PJSIP/{self.target_centre}@{self.trunk}" if self.trunk else "",
                f"__{cv.THREEWAY_HEADER}": handoff_header(
                    threeway_id, self.source_centre, self.initiator.extension,
                    self.order_number if is_order_number(self.order_number) else None) if self.trunk else ""}


def plan_start(request: ThreeWayRequest, *, centres: tuple[Centre, ...], timeout_s: int,
               remote: dict[str, str] | None = None) -> ThreeWayPlan | Refusal:
    """Decide whether the three-way call can start (see the module docstring).

    The other centre sees the citizen's number (a withheld number is
    presented as `0`); the citizen hears music on hold while it rings.
    """
    seat = seat_of_channel(centres, request.seat_channel)
    if seat is None:
        return Refusal("not_a_seat")
    if not is_channel_name(request.citizen_channel) \
            or seat_of_channel(centres, request.citizen_channel) is not None:
        return Refusal("no_citizen")
    source = centre_by_id(centres, request.centre or "") or centre_by_id(centres, seat.centre)
    assert source is not None
    remote = remote or {}
    partner_name = partner_id(centres, remote, source.id)
    if partner_name is None:
        return Refusal("unknown_target")
    partner = centre_by_id(centres, partner_name)
    first = centre_by_id(centres, request.first_centre or "")
    return ThreeWayPlan(
        source_centre=source.id, initiator=seat, target_centre=partner_name,
        queue=partner.linkage_queue if partner else "", trunk=None if partner else remote[partner_name],
        first_centre=first.id if first else source.id,
        citizen_number=request.citizen_number if is_number(request.citizen_number) else "",
        citizen_channel=request.citizen_channel or "", seat_channel=request.seat_channel or "",
        timeout_s=timeout_s, linkedid=request.linkedid or None, emergency=request.emergency, via=request.via,
        citizen_presented=request.citizen_presented if is_presented(request.citizen_presented) else None)


# ----------------------------------------------------------------- the call

@dataclass(frozen=True)
class Outcome:
    """What the order becomes: a status, and for `accepted` who and by which rule."""

    status: Literal["accepted", "returned", "abandoned"]
    rule: Rule | None = None
    centre: str | None = None        # the accepting centre
    seat: str | None = None          # the accepting seat, when one stayed
    reason: str | None = None        # outcome_reason
    emergency: bool = False


@dataclass(frozen=True)
class ThreeWay:
    """The state of one three-way call.  Every method returns the new state and,
    when this event decides it, the order's `Outcome` (else None)."""

    id: str
    source_centre: str
    target_centre: str
    first_centre: str
    initiator_seat: str
    invited_seat: str | None = None
    phase: Phase = "ringing"
    present: frozenset[str] = field(default_factory=lambda: frozenset({"citizen", "initiator"}))
    outcome: Outcome | None = None

    @property
    def decided(self) -> bool:
        return self.outcome is not None

    def seat_of(self, role: str) -> str | None:
        return self.initiator_seat if role == "initiator" else self.invited_seat if role == "invited" else None

    def role_of(self, seat: str) -> str | None:
        """`seat`'s role in the call (None: not in it)."""
        return "initiator" if seat == self.initiator_seat else "invited" if seat == self.invited_seat else None

    def centre_of(self, role: str) -> str:
        return self.source_centre if role == "initiator" else self.target_centre

    def _decide(self, outcome: Outcome, **changes: object) -> tuple[ThreeWay, Outcome | None]:
        if self.outcome is not None:
            return replace(self, **changes), None  # type: ignore[arg-type]
        return replace(self, outcome=outcome, **changes), outcome  # type: ignore[arg-type]

    def answered(self, seat: str | None) -> tuple[ThreeWay, Outcome | None]:
        """A seat of the other centre answered: it joins.  If the initiator
        hung up before (while that centre rang, or before this answer was
        recorded), the answering seat has the citizen alone: it accepts, as
        if the initiator had left the case to it."""
        if self.phase != "ringing":
            return self, None
        call = replace(self, phase="joined", invited_seat=seat, present=self.present | {"invited"})
        if "initiator" not in self.present and "citizen" in self.present:
            return call._decide(Outcome("accepted", rule="agreed", centre=self.target_centre, seat=seat,
                                        reason="initiator_left"))
        return call, None

    def no_answer(self) -> tuple[ThreeWay, Outcome | None]:
        """Nobody answered within the limit: the citizen is back with the initiator."""
        if self.phase != "ringing":
            return self, None
        return self._decide(Outcome("returned", reason="no_answer"), phase="ended")

    def can_cancel(self, role: str) -> Refusal | None:
        if role != "initiator":
            return Refusal("not_initiator")
        if "invited" not in self.present:
            return Refusal("not_joined")
        if self.decided:
            return Refusal("decided")
        return None

    def cancel(self, role: str) -> tuple[ThreeWay, Outcome | None]:
        """The initiator cancels: the invited seat is dropped; the case stays."""
        if self.can_cancel(role) is not None:
            return self, None
        return self._decide(Outcome("returned", reason="cancelled"), phase="ended",
                            present=self.present - {"invited"})

    def can_leave(self, role: str) -> Refusal | None:
        if role not in ROLES or role not in self.present:
            return Refusal("ended")
        if "citizen" not in self.present:
            return Refusal("ended")
        others = self.present - {role, "citizen"}
        if not others:
            return Refusal("last_seat")  # the citizen would be alone
        return None

    def left(self, role: str) -> tuple[ThreeWay, Outcome | None]:
        """A seat left (its key, or it hung up).  With both seats there and
        nothing decided: agreed — the seat that stayed accepts."""
        if role not in self.present:
            return self, None
        present = self.present - {role}
        both = {"initiator", "invited"} <= self.present and "citizen" in self.present
        if both:
            stayer = "invited" if role == "initiator" else "initiator"
            return self._decide(Outcome("accepted", rule="agreed", centre=self.centre_of(stayer),
                                        seat=self.seat_of(stayer), reason=f"{role}_left"), present=present)
        return replace(self, present=present), None

    def citizen_gone(self) -> tuple[ThreeWay, Outcome | None]:
        """The citizen hung up: the conference ends for all.  Before an answer:
        abandoned; with both seats there and nothing decided: first contact."""
        present: frozenset[str] = frozenset()
        if self.phase == "ringing":
            return self._decide(Outcome("abandoned", reason="citizen_hung_up"), phase="ended", present=present)
        if {"initiator", "invited"} <= self.present:
            return self._decide(Outcome("accepted", rule="first_contact", centre=self.first_centre,
                                        reason="undecided"), phase="ended", present=present)
        return replace(self, phase="ended", present=present), None

    def emergency(self, centres: tuple[Centre, ...]) -> tuple[ThreeWay, Outcome | None]:
        """A seat marked the case as endangering life or property: 110 accepts
        and dispatches first (its seat, when one of 110's seats is in the call)."""
        if self.decided and self.outcome is not None and self.outcome.rule == "emergency":
            return self, None
        centre = EMERGENCY_CENTRE if centre_by_id(centres, EMERGENCY_CENTRE) else self.target_centre
        seat = next((self.seat_of(r) for r in ("initiator", "invited")
                     if r in self.present and self.centre_of(r) == centre), None)
        outcome = Outcome("accepted", rule="emergency", centre=centre, seat=seat, reason="life_or_property_at_risk",
                          emergency=True)
        # the emergency rule overrides an agreement, a cancel or a no-answer:
        # life and property first
        return replace(self, outcome=outcome), outcome


# ------------------------------------------------------- the call's audit trail

# The notes on a three-way call's order that change the call (their detail's
# `role`, and for a seat leaving `how`); `replay` reads them back.
JOINED, LEFT, MARKED = "joined", "left", "marked"
START_KEY = "threeway"  # the `created` event's detail: the facts the call starts from


def start_detail(plan: ThreeWayPlan) -> dict[str, dict[str, str]]:
    """What the order's `created` event keeps of the plan, besides the order's
    own fields: the centre that first received the call (first contact), the
    centre brought in (the order's target may become 110 by the emergency
    rule), and the initiator's leg (the desk's leave button hangs it up)."""
    return {START_KEY: {"first_centre": plan.first_centre, "target_centre": plan.target_centre,
                        "initiator_channel": plan.seat_channel}}


def started_with(events: Iterable[tuple[str, Mapping[str, Any]]]) -> Mapping[str, Any]:
    """The facts of `start_detail` from an order's events ({} for an order
    recorded before they were kept)."""
    for kind, detail in events:
        if kind == "created":
            start = detail.get(START_KEY)
            return start if isinstance(start, Mapping) else {}
    return {}


def replay(threeway_id: str, *, source_centre: str, target_centre: str, initiator_seat: str,
           events: Iterable[tuple[str, Mapping[str, Any]]], centres: tuple[Centre, ...]) -> ThreeWay:
    """The call's state from its order (`source_centre`, `target_centre`,
    the initiator's seat) and the order's events (kind, detail), oldest first:
    each note the service wrote when the call changed is applied again, in
    order, through the same methods — so the outcome decided then is decided
    again.  A move that failed or the reconciler's settling ends it."""
    events = list(events)
    start = started_with(events)
    call = ThreeWay(threeway_id, source_centre, str(start.get("target_centre") or target_centre),
                    str(start.get("first_centre") or source_centre), initiator_seat)
    for kind, detail in events:
        role = detail.get("role")
        if kind == JOINED and role == "invited":
            seat = detail.get("seat")
            call, _ = call.answered(seat if isinstance(seat, str) else None)
        elif kind == JOINED and role == "initiator" and detail.get("back"):
            call, _ = call.no_answer()
        elif kind == LEFT and role == "citizen":
            call, _ = call.citizen_gone()
        elif kind == LEFT and detail.get("how") == "cancelled":
            call, _ = call.cancel("initiator")
        elif kind == LEFT and role in ROLES:
            call, _ = call.left(str(role))
        elif kind == MARKED:
            call, _ = call.emergency(centres)
        elif kind == "transition" and (detail.get("moved") is False or detail.get("by") == "reconciler"):
            call = replace(call, phase="ended", present=frozenset())
    return call
