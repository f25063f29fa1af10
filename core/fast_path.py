"""The handoff key's fast path: when the dialplan hands a citizen over by itself (pure).

The handoff key (`*1`, `hotline-handoff-key,key`) runs on the seat's leg in
the bridge with the citizen.  In the common case the dialplan moves the
citizen at once, writing the order to the AstDB outbox
(`core.handoff.OutboxRecord`) without waiting for Python; in every other case
it asks the `handoff_key` AGI route, which decides with
`core.handoff.plan_handoff` (and explains a refusal).  This module is the one
place that says what the common case is:

* `GUARD`: the conditions, in order, each a named part carrying both its
  test on data (`holds`) and its Asterisk expression (`expression`), built
  from core's patterns and `core.channel_vars` names.  app/runtime/render.py
  renders one dialplan line per part; the first part that fails asks Python.
* `OUTBOX_SOURCES`: where the dialplan takes each field of the outbox
  record (`core.handoff.OUTBOX_FIELDS`, the list `parse_outbox` reads).

`takes_fast_path(press, centres)` answers what the rendered guard answers on
Asterisk for a key press given as data (`KeyPress`).  Whenever it says yes,
`plan_handoff` goes ahead to the same partner centre: the dialplan never
carries out what Python would refuse.  tests/support/handoff_cases.py holds
one table of cases that the unit tier runs through these functions and
`plan_handoff`, and the asterisk tier through the real dialplan.

No I/O here; nothing imports the web, AMI or AGI layers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from core import channel_vars as cv
from core.centres import Centre, centre_by_id, seat_by_extension
from core.handoff import (
    CALL_GUARD_FAMILY,
    CHANNEL_NAME_PATTERN,
    LINKEDID_PATTERN,
    OUTBOX_FIELDS,
    OUTBOX_ID_PATTERN,
    OUTBOX_VERSION,
    SEAT_CHANNEL_PATTERN,
    SEAT_NUMBER_PATTERN,
    is_channel_name,
    is_linkedid,
    is_outbox_id,
    partner_centre,
    seat_extension_of_channel,
)
from core.safety import NUMBER_PATTERN, is_number

# Rendered: one extension per configured seat (its centre's id in a NoOp):
# "this seat is one of ours" is DIALPLAN_EXISTS there.
SEATS_CONTEXT = "hotline-handoff-seats"

# ------------------------------------------------------------------ dialplan expressions

SEAT_LEG_NAME = "${CHANNEL(name)}"
PEER = "${BRIDGEPEER}"
LINKEDID = "${CHANNEL(linkedid)}"
UNIQUEID = "${CHANNEL(uniqueid)}"
MAX_CHANNEL_NAME = 128  # core.handoff CHANNEL_NAME_PATTERN's bound
KEY_PRESS_TIME = "${STRFTIME(,,%s.%6q)}"  # epoch seconds with microseconds


def var(name: str) -> str:
    """`${NAME}`."""
    return "${" + name + "}"


def per_centre(prefix: str) -> str:
    """A global rendered per centre, read for the call's centre: `${PREFIX${HOTLINE_CENTRE}}`."""
    return "${" + prefix + var(cv.CENTRE) + "}"


_BOUNDED = re.compile(r"\{([0-9]+),[0-9]+\}")


def regex(pattern: str, value: str, max_len: int | None = None) -> str:
    """`${REGEX("pattern" value)}`: 1 when `value` matches (POSIX extended).

    Asterisk compiles the pattern at every call, and glibc's regcomp of a
    bounded repetition (`{1,128}`) costs tens to hundreds of microseconds —
    on the citizen's path.  So the dialplan's pattern has each `{m,n}` as `+`
    (or `*` for m = 0) and the bound becomes one `LEN()` of the whole value
    (`max_len`, the same cap the Python side checks).  In a config file `;`
    starts a comment, so it is escaped; the pattern must not hold what the
    dialplan would expand or split on (quotes, `${`, `$[`, backslashes)."""
    if '"' in pattern or "\\" in pattern or "${" in pattern or "$[" in pattern:
        raise ValueError(f"pattern not safe in a dialplan REGEX(): {pattern!r}")
    cheap = _BOUNDED.sub(lambda m: "+" if int(m.group(1)) >= 1 else "*", pattern)
    test = '${REGEX("' + cheap.replace(";", "\\;") + '" ' + value + ")}"
    return test if max_len is None else f"{test} & ${{LEN({value})}} <= {max_len}"


# ------------------------------------------------------------------ the key press as data

@dataclass(frozen=True)
class KeyPress:
    """What the seat's leg knows when the handoff key is pressed: the facts the
    guard reads, named after their dialplan source."""

    seat_channel: str        # CHANNEL(name): the leg the key fired on
    seat: str                # HOTLINE_SEAT: the seat that leg belongs to ("" none)
    peer: str                # BRIDGEPEER: "" alone; several names joined by `,` in a bigger bridge
    citizen_number: str      # HOTLINE_CITIZEN ("" withheld)
    centre: str              # HOTLINE_CENTRE: the centre handling the call now
    linkedid: str            # CHANNEL(linkedid): the call
    uniqueid: str            # CHANNEL(uniqueid): the seat leg, the handoff's id on this path
    partner_logged_in: int   # QUEUE_MEMBER(<the partner's linkage queue>,logged)
    call_guard: str = ""     # DB(hotline-handoff-call/<linkedid>): the leg that handed the call over
    fast: bool = True        # HOTLINE_HANDOFF_FAST = yes (settings.handoff.fast_path)


@dataclass(frozen=True)
class GuardPart:
    label: str          # the dialplan priority label of its line
    says: str           # the condition, in words (the line's comment)
    expression: str     # an Asterisk `$[...]` expression, true when the part holds
    holds: Callable[[KeyPress, tuple[Centre, ...]], bool]


def _partner(press: KeyPress, centres: tuple[Centre, ...]) -> bool:
    # the global exists for each configured centre that has a partner (render.py)
    return centre_by_id(centres, press.centre) is not None and partner_centre(centres, press.centre) is not None


GUARD: tuple[GuardPart, ...] = (
    GuardPart("fast_on", "the fast path is on (settings.handoff.fast_path, rendered)",
              f'"{var(cv.HANDOFF_FAST)}" = "yes"',
              lambda p, c: p.fast),
    GuardPart("seat_leg", "this leg is a seat's (core.handoff SEAT_CHANNEL_PATTERN)",
              regex(SEAT_CHANNEL_PATTERN, SEAT_LEG_NAME, MAX_CHANNEL_NAME),
              lambda p, c: seat_extension_of_channel(p.seat_channel) is not None),
    GuardPart("seat_known", "the seat it carries (HOTLINE_SEAT) is a configured one",
              f"{regex(SEAT_NUMBER_PATTERN, var(cv.SEAT), 32)} & ${{DIALPLAN_EXISTS({SEATS_CONTEXT},{var(cv.SEAT)},1)}}",
              lambda p, c: re.fullmatch(SEAT_NUMBER_PATTERN, p.seat) is not None
              and seat_by_extension(c, p.seat) is not None),
    GuardPart("one_peer", "it has one peer (one channel name: a bigger bridge has several)",
              regex(CHANNEL_NAME_PATTERN, PEER, MAX_CHANNEL_NAME),
              lambda p, c: is_channel_name(p.peer)),
    GuardPart("citizen_peer", "that peer is a citizen, not a seat",
              f"!{regex(SEAT_CHANNEL_PATTERN, PEER)}",
              lambda p, c: seat_extension_of_channel(p.peer) is None),
    GuardPart("citizen_number", "the citizen has a number (a withheld one asks Python)",
              regex(NUMBER_PATTERN, var(cv.CITIZEN), 33),
              lambda p, c: is_number(p.citizen_number)),
    GuardPart("call_ids", "the call's and the leg's ids are safe AstDB keys",
              f"{regex(LINKEDID_PATTERN, LINKEDID, 64)} & {regex(OUTBOX_ID_PATTERN, UNIQUEID, 36)}",
              lambda p, c: is_linkedid(p.linkedid) and is_outbox_id(p.uniqueid)),
    GuardPart("partner", "the centre has a partner centre (core.handoff.partner_centre, rendered)",
              f'"{per_centre(cv.HANDOFF_PARTNER_PREFIX)}" != ""',
              _partner),
    GuardPart("partner_ready", "the partner centre has a seat logged in",
              f"0${{QUEUE_MEMBER({per_centre(cv.HANDOFF_PARTNER_QUEUE_PREFIX)},logged)}} > 0",
              lambda p, c: p.partner_logged_in > 0),
    GuardPart("not_under_way", "this leg is not handing the call over already (the call guard)",
              f'"${{DB({CALL_GUARD_FAMILY}/{LINKEDID})}}" != "{UNIQUEID}"',
              lambda p, c: p.call_guard != p.uniqueid),
)


def failing_part(press: KeyPress, centres: tuple[Centre, ...]) -> GuardPart | None:
    """The first part of the guard that does not hold (where the dialplan asks
    Python); None: the dialplan carries the handoff out."""
    return next((part for part in GUARD if not part.holds(press, centres)), None)


def takes_fast_path(press: KeyPress, centres: tuple[Centre, ...]) -> bool:
    return failing_part(press, centres) is None


# ------------------------------------------------------------------ what the fast path writes

# Each outbox field's source on the seat's leg, once the fast path has set
# HOTLINE_HANDOFF_PEER (BRIDGEPEER), HOTLINE_HANDOFF_TARGET (the partner) and
# HOTLINE_RELEASE_MODE (the centre's, rendered).
OUTBOX_SOURCES: dict[str, str] = {
    "pressed_at": KEY_PRESS_TIME,
    "seat_channel": SEAT_LEG_NAME,
    "citizen_channel": var(cv.HANDOFF_PEER),
    "citizen_number": var(cv.CITIZEN),
    "source_centre": var(cv.CENTRE),
    "source_seat": var(cv.SEAT),
    "target_centre": var(cv.HANDOFF_TARGET),
    "linkedid": LINKEDID,
    "release_mode": var(cv.RELEASE_MODE),
}
if tuple(OUTBOX_SOURCES) != OUTBOX_FIELDS:  # one field list: never render a record Python cannot read
    raise RuntimeError(f"OUTBOX_SOURCES {tuple(OUTBOX_SOURCES)} != OUTBOX_FIELDS {OUTBOX_FIELDS}")


def outbox_record_items() -> list[str]:
    """The outbox record as the dialplan builds it, item by item (to be joined by `|`)."""
    return [OUTBOX_VERSION] + [OUTBOX_SOURCES[name] for name in OUTBOX_FIELDS]
