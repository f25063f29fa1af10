"""Seats signing in and pausing (签入/签出, 示忙/示闲): names, reason codes, paused time (pure).

A configured seat is **signed in** (a dynamic member of its centre's public and
linkage queues) or **signed out** (a member of neither: no queue rings it).  A
signed-in seat may be **paused** with a reason (app_queue's paused flag and
reason: still a member, never rung).  What the seat's state is lives in
Asterisk, so the keys work with Python down:

* AstDB `hotline-seat/<seat>` = `in` / `out` is the sign-in state, written by
  the `*5` key (dialplan/hotline-seats.conf.j2), the REST API
  (app/seats/services.py) and, once per seat, at Asterisk's start;
* app_queue keeps the members, their paused flag and reason in AstDB
  (`persistentmembers = yes`, family `Queue/PersistentMembers`), so a restart
  of Asterisk keeps every pause and its reason;
* at every start of Asterisk the dialplan's `hotline-seats-boot` context puts
  each seat in or out of its queues as `hotline-seat/<seat>` says (a seat never
  seen gets `SeatSettings.signed_in_at_start`).

Reason codes are digits (`*6` then the code, `*62`); their names are what
Asterisk stores as the paused reason and what the dashboard and the reports
show.  A name never holds `;` or `|` (app_queue's persistent member format
splits on them), `,` (a dialplan argument), or anything `${}`-like.

Nothing here does I/O or reads a clock.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from core.centres import Centre, SeatMode

SEAT_FAMILY = "hotline-seat"            # AstDB: <seat> -> in / out
SIGNED_IN, SIGNED_OUT = "in", "out"
BOOT_CONTEXT = "hotline-seats-boot"     # run once at every Asterisk start (cli.conf)

DEFAULT_PAUSE_REASONS: dict[str, str] = {"1": "小休", "2": "培训", "3": "会议", "4": "就餐"}
# `*6` alone, or POST .../pause without a reason: 示忙 (busy, no reason given)
DEFAULT_PAUSE_REASON = "示忙"
# what an automatic pause after missed rings says (app_queue's own autopause says "Auto-Pause")
AUTO_PAUSE_REASON = "no answer"

_CODE = re.compile(r"^[0-9]{1,2}$")
# letters (any script), digits, space, and a few harmless marks; 1-16 characters
_NAME = re.compile(r"^[\w .\-]{1,16}$")

SeatAction = Literal["signin", "signout", "pause", "unpause"]


class ReasonError(ValueError):
    """A pause reason (or the list of them) that cannot be used."""


def check_reason_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name != name.strip():
        raise ReasonError(f"{name!r}: a reason name is 1-16 letters, digits, spaces, '.' or '-'")
    return name


def parse_pause_reasons(spec: str) -> dict[str, str]:
    """`1=小休,2=培训` -> {"1": "小休", "2": "培训"}.  Codes are 1-2 digits, each
    used once; names as `check_reason_name`, each used once.  Raises ReasonError."""
    reasons: dict[str, str] = {}
    for item in [p.strip() for p in spec.split(",") if p.strip()]:
        code, sep, name = (x.strip() for x in item.partition("="))
        if not sep or not _CODE.fullmatch(code):
            raise ReasonError(f"{item!r}: expected CODE=NAME with a code of 1-2 digits")
        if code in reasons:
            raise ReasonError(f"code {code} listed twice")
        check_reason_name(name)
        if name in reasons.values() or name in (DEFAULT_PAUSE_REASON, AUTO_PAUSE_REASON):
            raise ReasonError(f"reason {name!r} listed twice (or is a built-in reason)")
        reasons[code] = name
    # `*6<code>` is dialled as one number: 1 and 12 would make `*61` ambiguous
    for a in reasons:
        for b in reasons:
            if a != b and b.startswith(a):
                raise ReasonError(f"code {a} is a prefix of code {b}")
    return reasons


def pause_reason(value: str | None, reasons: Mapping[str, str]) -> str:
    """The reason name to pause with, from what a seat gave: nothing (示忙), a
    code (`2`) or a configured name (`培训`).  Raises ReasonError otherwise."""
    if value is None or value == "":
        return DEFAULT_PAUSE_REASON
    if value in reasons:
        return reasons[value]
    if value in reasons.values() or value == DEFAULT_PAUSE_REASON:
        return value
    known = ", ".join(f"{c}={n}" for c, n in reasons.items())
    raise ReasonError(f"{value[:32]!r} is not a pause reason (codes: {known or 'none'})")


def seat_queues(centre: Centre) -> tuple[str, str]:
    """The queues a signed-in seat of `centre` is a member of."""
    return (centre.queue, centre.linkage_queue)


def state_interface(interface: str, mode: SeatMode) -> str:
    """What app_queue watches for the member's device state: the SIP endpoint
    itself (unregistered = unavailable); a simulated phone has none to watch."""
    return interface if mode == "sip" else ""


# ------------------------------------------------------------------ auto-pause

@dataclass
class MissedRings:
    """How many rings in a row each seat let go unanswered (auto-pause).

    `missed(seat)` says whether the seat must now be paused (the N-th miss
    in a row); an answered call, a sign-in or an unpause starts the count
    again.  `after` 0 turns auto-pause off.
    """

    after: int
    counts: dict[str, int]

    @classmethod
    def every(cls, after: int) -> MissedRings:
        return cls(after, {})

    def missed(self, seat: str) -> bool:
        if self.after <= 0:
            return False
        count = self.counts.get(seat, 0) + 1
        if count >= self.after:
            self.counts.pop(seat, None)
            return True
        self.counts[seat] = count
        return False

    def reset(self, seat: str) -> None:
        self.counts.pop(seat, None)


# ------------------------------------------------------------------ reports

@dataclass(frozen=True)
class SeatEvent:
    """One change of a seat's state, as the seat journal stored it."""

    seat: str
    at: float                       # epoch seconds
    signed_in: bool
    paused: bool
    reason: str | None = None       # the pause reason while paused


def paused_seconds(events: Iterable[SeatEvent], start: float, end: float,
                   before: Mapping[str, SeatEvent] | None = None) -> dict[str, dict[str, float]]:
    """Seconds each seat spent paused within [start, end), per reason.

    `events` are the changes within the window (any order); `before` the last
    change of each seat before `start` (a seat paused before the window and
    still paused counts from `start`).  A seat still paused at `end` counts up
    to `end`.  A pause without a reason counts under DEFAULT_PAUSE_REASON.
    """
    totals: dict[str, dict[str, float]] = {}
    by_seat: dict[str, list[SeatEvent]] = {}
    for event in events:
        if start <= event.at < end:
            by_seat.setdefault(event.seat, []).append(event)
    for seat in before or {}:
        by_seat.setdefault(seat, [])
    for seat, changes in by_seat.items():
        changes.sort(key=lambda e: e.at)
        current = (before or {}).get(seat)
        since = start
        for change in changes:
            _add(totals, seat, current, since, change.at)
            current, since = change, change.at
        _add(totals, seat, current, since, end)
    return totals


def _add(totals: dict[str, dict[str, float]], seat: str, state: SeatEvent | None, since: float, until: float) -> None:
    if state is None or not (state.signed_in and state.paused) or until <= since:
        return
    reason = state.reason or DEFAULT_PAUSE_REASON
    per_reason = totals.setdefault(seat, {})
    per_reason[reason] = per_reason.get(reason, 0.0) + (until - since)
