"""Refusals: why a seat's request does not go ahead, and what the seat hears (pure).

One type for every feature a seat drives from its call: the one-key transfer
(`core.handoff.plan_handoff`), the three-way call (`core.threeway.plan_start`
and the keys inside the conference, `ThreeWay.can_leave` / `can_cancel`), and
the refusals the services add (a second press, nobody logged in at the
target).  A refused key leaves the call as it was: the key's AGI route sets
`Refusal.prompt` on the seat's leg and the dialplan plays it; the desktop
button answers 409 with `Refusal.reason` (`app.web.errors.Refused`).

Only the names in `PROMPTS` ever reach Playback(): the dialplan plays what
Python chose from this table, never a value it was handed.  They are core
sounds that ship with Debian's asterisk-core-sounds-en.
"""
from __future__ import annotations

from dataclasses import dataclass

# reason -> the prompt the seat hears.  Shared reasons mean the same for every feature.
PROMPTS: dict[str, str] = {
    # nobody to hand over or bring in on this call (no peer, a multi-party
    # bridge, a seat-to-seat call), or the key was not pressed on a seat's leg
    "no_citizen": "feature-not-avail-line",
    "not_a_seat": "feature-not-avail-line",
    # the target is the seat's own centre, or there is no other centre
    "own_centre": "pbx-invalid",
    "unknown_target": "pbx-invalid",
    "no_route": "cannot-complete-as-dialed",       # a catalogue destination with no route
    "no_seat_logged_in": "all-circuits-busy-now",  # nobody at the target could answer
    # a second press while the first is under way
    "already_transferring": "beeperr",
    "already_three_way": "beeperr",
    # the keys inside a three-way call
    "not_initiator": "beeperr",   # only the initiator may cancel
    "last_seat": "beeperr",       # the last seat cannot leave the citizen alone
    "not_joined": "beeperr",      # nobody to drop, nobody to hand to
    "decided": "beeperr",
    "ended": "beeperr",
    # the AGI, database or AMI failed
    "error": "please-try-again",
    # played to the seat a transferred citizen comes back to (nobody answered)
    "no_answer": "number-not-answering",
}

REASONS: tuple[str, ...] = tuple(PROMPTS)


@dataclass(frozen=True)
class Refusal:
    """A request that does not go ahead; nothing moved."""

    reason: str

    @property
    def prompt(self) -> str:
        """What the seat hears: the reason's prompt, `please-try-again` for a reason not in the table."""
        return PROMPTS.get(self.reason, PROMPTS["error"])
