"""Work orders (工单): statuses and the legal transitions between them (pure).

One state machine covers an order from the moment a seat presses the transfer
key to its close:

    pending ──▶ accepted ──▶ dispatched ──▶ signed ──▶ on_site ──▶ feedback ──▶ closed
       │           │             │            │           │
       │           └──▶ closed   └─────┬──────┴───────────┘
       ├──▶ abandoned (the citizen hung up before a target seat answered)
       ├──▶ returned  (no target seat answered in time: the call went back)
       └──▶ voided
    accepted/dispatched/signed/on_site ──▶ returned (退单, with a reason) ──▶ dispatched (re-dispatch)
    any open status ──▶ voided

`pending`, `accepted`, `abandoned` and `returned` are also the outcomes of a
call handoff (one-key transfer, three-way, overflow); online orders start at
`accepted`.  An illegal transition raises `IllegalTransition`, which the web
layer answers with 409 and the current status.
"""
from __future__ import annotations

from typing import Literal

OrderStatus = Literal["pending", "accepted", "dispatched", "signed", "on_site", "feedback",
                      "closed", "returned", "abandoned", "voided"]
OrderMode = Literal["transfer", "three_way", "overflow", "online", "inbound"]

STATUSES: tuple[str, ...] = ("pending", "accepted", "dispatched", "signed", "on_site", "feedback",
                             "closed", "returned", "abandoned", "voided")
FINAL: frozenset[str] = frozenset({"closed", "abandoned", "voided"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"accepted", "abandoned", "returned", "voided"}),
    "accepted": frozenset({"dispatched", "closed", "returned", "voided"}),
    "dispatched": frozenset({"signed", "returned", "voided"}),
    "signed": frozenset({"on_site", "feedback", "returned", "voided"}),
    "on_site": frozenset({"feedback", "returned", "voided"}),
    "feedback": frozenset({"closed", "dispatched", "voided"}),
    "returned": frozenset({"dispatched", "accepted", "voided", "closed"}),
    "closed": frozenset(),
    "abandoned": frozenset(),
    "voided": frozenset(),
}


# A new order starts as `pending` (a call handoff not yet answered) or
# `accepted` (online transfer, or a handoff recorded after the answer).
INITIAL: frozenset[str] = frozenset({"pending", "accepted"})
OPEN: frozenset[str] = frozenset(s for s in STATUSES if s not in FINAL)

# The timestamp column each status stamps when an order enters it.
STAMPS: dict[str, str] = {
    "accepted": "accepted_at",
    "dispatched": "dispatched_at",
    "signed": "signed_at",
    "on_site": "on_site_at",
    "feedback": "feedback_at",
    "returned": "returned_at",
    "closed": "closed_at",
    "abandoned": "closed_at",
    "voided": "closed_at",
}

# How a three-way call's receiving platform was decided (reports: 会商 review).
HANDOFF_RULES: tuple[str, ...] = ("agreed", "first_contact", "life_risk_110_first", "catalogue", "overflow")
DISPUTED_RULE = "first_contact"


def sources_of(wanted: str) -> frozenset[str]:
    """Every status from which `wanted` may be reached."""
    return frozenset(s for s, targets in TRANSITIONS.items() if wanted in targets)


class IllegalTransition(Exception):
    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"cannot go from {current} to {wanted}")
        self.current = current
        self.wanted = wanted


def check_transition(current: str, wanted: str) -> None:
    """Raise `IllegalTransition` unless `current -> wanted` is legal."""
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(current, wanted)


def direction(source_centre: str, target: str) -> str:
    """The order's direction as shown in reports: `12345->110`."""
    return f"{source_centre}->{target}"
