"""How the initiator's leg left its wait in `hotline-threeway-seat` (ringback
while the other centre rings), read from the AMI's Newexten events.

The leg is woken (`ChannelRedirect` to `join` or `gone`) by whatever changes
the phase; the loop there — one `Wait(1)` a round, then a read of the phase —
is only a safety net.  A wake-up can land while the loop is between two
waits (the ring's timeout and the loop's rounds both count whole seconds from
the same moment, so they often meet within milliseconds): the steps before
`join` then are the rest of that round, not the interrupted `Wait`.  What
tells a wake-up from the loop is that the loop never *decided*: none of its
`GotoIf`s was taken towards `gone` or `join`, and its bound did not run out.
(Newexten's Application can lag behind the step — `Set` is reported with the
previous application — so the steps are told apart by exten and AppData.)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.pbx import EventLog

SEAT_WAIT = "hotline-threeway-seat"

# AppData of the loop's own exits, variables substituted: a phase other than
# "ringing" read, or the bound on the wait run out
LOOP_EXITS = frozenset({"1?gone,1", "1?join,1", "join,1"})


def exten(event: dict[str, Any]) -> str:
    return str(event.get("Exten") or event.get("Extension"))


def waiting_steps(events: list[dict[str, Any]], channel: str | None = None) -> list[dict[str, Any]]:
    """The Newexten events of `hotline-threeway-seat` in `events` (of `channel` when given)."""
    return [e for e in events if e.get("Event") == "Newexten" and e.get("Context") == SEAT_WAIT
            and (channel is None or e.get("Channel") == channel)]


def described(steps: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    return [(exten(e), e.get("Application"), e.get("AppData")) for e in steps]


def assert_woken(steps: list[dict[str, Any]], into: str) -> None:
    """The leg went on to `into` (`join` or `gone`) woken, not by its safety loop."""
    assert any(exten(e) == into for e in steps), f"never reached {into}: {described(steps)}"
    decided = [e for e in steps if exten(e) == "s" and e.get("AppData") in LOOP_EXITS]
    assert not decided, f"the safety loop decided, no wake-up: {described(steps)}"


async def steps_until(events: EventLog, into: str, channel: str | None = None) -> list[dict[str, Any]]:
    """The waiting steps of `channel` (the first leg seen waiting when None)
    once the event that ends its wait is in the stream: its ConfbridgeJoin for
    `join`, its Hangup for `gone`.  Asterisk raises one channel's events in
    order, but an action's answer (the channel list, a conference's members)
    can overtake the events queued on the AMI session, so a test that saw the
    leg move by an action reads its steps only after that closing event."""
    if channel is None:
        first = await events.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Context") == SEAT_WAIT,
                                      what="a leg waiting")
        channel = str(first["Channel"])
    closing = "ConfbridgeJoin" if into == "join" else "Hangup"
    await events.wait_for(lambda e: e.get("Event") == closing and e.get("Channel") == channel,
                          what=f"{channel}: {closing}")
    return waiting_steps(events.find(lambda e: e.get("Event") == "Newexten"), channel)
