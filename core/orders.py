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
                                                                      └──▶ closed (the sender handles it itself)
    any open status ──▶ voided

`returned` never leads back to `accepted`: `accepted` records that a target
seat answered a handoff (or took an online matter); a returned call went back
to the seat that handed it over, and a late "answered" report of that call
must not overwrite the outcome.  A returned matter goes on by re-dispatch,
close or void.

A final order (closed, abandoned, voided) is immutable: no transition, no
edit.  Only an audited reopen (`reopen_status`, a supervisor's decision with
a reason) brings it back, to the status it had before it was finalised; the
audit event keeps the old values.

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
    "returned": frozenset({"dispatched", "voided", "closed"}),
    "closed": frozenset(),
    "abandoned": frozenset(),
    "voided": frozenset(),
}


# What people read (Chinese, as the seeds name them; the browser UI shows the same).
STATUS_LABELS: dict[str, str] = {
    "pending": "待接听", "accepted": "已受理", "dispatched": "已派单", "signed": "已签收", "on_site": "已到场",
    "feedback": "已反馈", "closed": "已办结", "returned": "已退单", "abandoned": "市民挂机", "voided": "已作废",
}
MODE_LABELS: dict[str, str] = {
    "transfer": "一键转接", "three_way": "三方通话", "overflow": "远程溢出", "online": "在线转交", "inbound": "来电",
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


class FinalOrder(IllegalTransition):
    """An edit of an order in a final status: only a reopen changes it."""

    def __init__(self, current: str, wanted: str = "edited") -> None:
        super().__init__(current, wanted)
        self.args = (f"the order is {current} (final): it changes only through a reopen",)


def check_editable(current: str) -> None:
    """Raise `FinalOrder` if an order in `current` may not be edited."""
    if current in FINAL:
        raise FinalOrder(current)


# Where a reopened order goes when the status before its end cannot be used:
# a call handoff that ended `pending` (abandoned) is not ringing any more, so
# its matter is taken up again as accepted by the centre that holds it.
REOPEN_FALLBACK = "accepted"


def reopen_status(current: str, before: str | None) -> str:
    """The status a final order in `current` takes when a supervisor reopens it:
    `before`, the status it had when it was finalised, if that is an open
    status other than `pending`; `accepted` otherwise.  Raises
    `IllegalTransition` if `current` is not final (nothing to reopen)."""
    if current not in FINAL:
        raise IllegalTransition(current, "reopened")
    if before in OPEN and before != "pending":
        return before
    return REOPEN_FALLBACK


def check_transition(current: str, wanted: str) -> None:
    """Raise `IllegalTransition` unless `current -> wanted` is legal."""
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(current, wanted)


def direction(source_centre: str, target: str) -> str:
    """The order's direction as shown in reports: `12345->110`."""
    return f"{source_centre}->{target}"
