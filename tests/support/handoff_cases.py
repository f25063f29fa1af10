"""One table of handoff-key cases, for both tiers (data only).

Each case is a situation when a seat presses the handoff key (or the
destination key and a number), and what must happen:

* `dialplan`  — the fast path carries the handoff out (core/fast_path.py GUARD holds);
* `python`    — the dialplan asks the `handoff_key` route, which hands the citizen over;
* `refused:<reason>` — the route refuses (core.handoff PROMPTS names what the seat hears).

tests/unit/test_handoff_key_table.py runs every case through
`core.fast_path.takes_fast_path` and `core.handoff.plan_handoff` (pure);
tests/asterisk/test_handoff_key_table.py stages it on the real Asterisk and
watches what the rendered dialplan does.  Both compare with `expect`.

The rig: three centres.  12315's partner is 12345 (two seats with phones);
12345's partner is 110, whose one seat (9) has no phone — the simulated
phones answer extensions of two digits or more — so nobody is logged in at
12345's partner (`LOGGED_IN`; the asterisk tier checks this premise first).

Cases marked `remote` run on two platforms instead (tests/support/platforms.py):
A serves only 12345 (`REMOTE_RIG_CENTRES`), whose partner 110 is served by B
behind the peer trunk `peer-110` (`REMOTE_CENTRES`).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.centres import SIMULATED_SEAT_CONTEXT, Centre, centre_by_id, parse_centres
from core.fast_path import KeyPress
from core.handoff import HandoffRequest, partner_centre

RIG_CENTRES = "12345:1001-1002;110:9;12315:3001-3002"
REMOTE_RIG_CENTRES = "12345:1001-1002"        # platform A of the remote cases
REMOTE_CENTRES = {"110": "peer-110"}          # ...and what it reaches over its peer trunk
LOGGED_IN = {"hotline-12345-linkage": 2, "hotline-110-linkage": 0, "hotline-12315-linkage": 2}
CITIZEN = "13800138000"
REMOTE_SEAT = "9001"  # a phone the rig answers that is no configured seat (as a remote overflow seat)
SEAT_PHONES = SIMULATED_SEAT_CONTEXT
DESTINATION_PHONE = "hotline-destination-phone"


@dataclass(frozen=True)
class KeyCase:
    name: str
    expect: str                 # "dialplan" | "python" | "refused:<reason>"
    centre: str = "12315"       # the centre the citizen dialled
    number: str = CITIZEN       # "": withheld
    seat: str | None = None     # the call put straight through to this seat; None: the centre's queue answers
    phones: str = SEAT_PHONES   # the context answering `seat` (the destination phone: a leg that is no seat's)
    peer: str = "citizen"       # who is at the other end: "citizen", or "seat" (seat 3001 calling)
    fast: bool = True           # HOTLINE_HANDOFF_FAST (settings.handoff.fast_path)
    under_way: bool = False     # the call guard already names this seat leg (a press or a click before)
    target: str | None = None   # typed after the destination key; None: the handoff key alone
    remote: bool = False        # on the two platforms: the partner is served on B, over the trunk


CASES: tuple[KeyCase, ...] = (
    KeyCase("a citizen, partner ready: the dialplan hands over", "dialplan"),
    KeyCase("fast path off: Python hands over", "python", fast=False),
    KeyCase("withheld number: Python hands over (as 0)", "python", number=""),
    KeyCase("nobody logged in at the partner: refused", "refused:no_seat_logged_in", centre="12345"),
    KeyCase("nobody logged in, fast path off: refused", "refused:no_seat_logged_in", centre="12345", fast=False),
    KeyCase("this leg is handing the call over already: refused", "refused:already_transferring", under_way=True),
    KeyCase("the peer is a seat: refused", "refused:no_citizen", seat="3002", peer="seat"),
    KeyCase("not one of our seats (remote): refused", "refused:not_a_seat", seat=REMOTE_SEAT),
    KeyCase("a leg that is no seat's: refused", "refused:not_a_seat", seat="120", phones=DESTINATION_PHONE),
    KeyCase("the destination key to the own centre: refused", "refused:own_centre", target="12315"),
    KeyCase("the destination key to the partner: Python hands over", "python", target="12345"),
    # the partner on another platform (its linkage queue is not here: the far side decides)
    KeyCase("remote partner: the dialplan hands over over the trunk", "dialplan", centre="12345", remote=True),
    KeyCase("remote partner, fast path off: Python hands over", "python", centre="12345", fast=False,
            remote=True),
    KeyCase("remote partner, withheld number: Python hands over (as 0)", "python", centre="12345", number="",
            remote=True),
    KeyCase("remote partner, this leg is handing over already: refused", "refused:already_transferring",
            centre="12345", under_way=True, remote=True),
    KeyCase("remote partner by the destination key: Python hands over", "python", centre="12345", target="110",
            remote=True),
)


def rig_centres(case: KeyCase) -> tuple[Centre, ...]:
    return parse_centres(REMOTE_RIG_CENTRES if case.remote else RIG_CENTRES)


def rig_remote(case: KeyCase) -> dict[str, str]:
    return dict(REMOTE_CENTRES) if case.remote else {}

# Channel names as the rig's calls have them (the hex counters aside).
SEAT_LEG = "Local/{seat}@{phones}-0000000a;1"
QUEUE_CITIZEN_LEG = "Local/{centre}@hotline-inbound-0000000b;2"   # a citizen through the centre's queue
STAGED_CITIZEN_LEG = "Local/talk@hotline-citizen-phone-0000000c;1"  # a citizen put straight through
STAGED_SEAT_CALLER = "3001"
LINKEDID = "citizen-0123456789ab"
UNIQUEID = "1764077500.12"


def answering_seat(case: KeyCase, centres: tuple[Centre, ...]) -> str:
    if case.seat is not None:
        return case.seat
    centre = centre_by_id(centres, case.centre)
    assert centre is not None and centre.seats
    return centre.seats[0].extension


def peer_channel(case: KeyCase) -> str:
    if case.peer == "seat":
        return SEAT_LEG.format(seat=STAGED_SEAT_CALLER, phones=SEAT_PHONES)
    return STAGED_CITIZEN_LEG if case.seat is not None else QUEUE_CITIZEN_LEG.format(centre=case.centre)


def key_press(case: KeyCase, centres: tuple[Centre, ...]) -> KeyPress:
    """What the seat's leg knows when the key is pressed in this case."""
    seat = answering_seat(case, centres)
    partner = partner_centre(centres, case.centre)
    return KeyPress(seat_channel=SEAT_LEG.format(seat=seat, phones=case.phones),
                    seat=seat if case.phones == SEAT_PHONES else "", peer=peer_channel(case),
                    citizen_number=case.number, centre=case.centre, linkedid=LINKEDID, uniqueid=UNIQUEID,
                    partner_logged_in=LOGGED_IN[partner.linkage_queue] if partner else 0,
                    call_guard=UNIQUEID if case.under_way else "", fast=case.fast)


def handoff_request(case: KeyCase, centres: tuple[Centre, ...]) -> HandoffRequest:
    """What the `handoff_key` route asks `plan_handoff` in this case."""
    press = key_press(case, centres)
    return HandoffRequest(seat_channel=press.seat_channel, citizen_channel=press.peer,
                          citizen_number=press.citizen_number or None, centre=press.centre, target=case.target,
                          linkedid=press.linkedid, via="key", seat_leg_id=press.uniqueid)
