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
  from core's patterns and `core.channel_vars` names.  If one fails, Python
  decides.  A pattern that is a character class is tested with FILTER() and
  LEN() (`CHECKS`: `only`, `number_check`, ...), not REGEX(), which
  compiles its pattern on every call; only the seat's pattern is a REGEX().
* `OUTBOX_SOURCES`: where the dialplan takes each field of the outbox
  record (`core.handoff.OUTBOX_FIELDS`, the list `parse_outbox` reads).
* `CHECKED_FACTS`, `CHECKED_PARTS`: the guard's parts that read only facts
  of the seat's leg and its peer, checked once when the seat answers (the
  handoff journal sets them on the leg: `checked_marker`); the key's first
  step (`checked_expression`) compares them instead of running those parts,
  and the whole guard runs only when they differ.
* `MOVE_TO`: where the guard's next step moves the citizen — nothing is
  set before the move; the destination carries the handoff's id and the
  seat (`ON_ARRIVAL`: the citizen's first step there reads them);
  `AFTER_MOVE`: what it sets on the seat leg right after (the outbox record
  among them); `TO_ASTDB`: what it then writes to AstDB (the outbox record,
  the state, the call guard).

app/runtime/render.py renders the guard as one GotoIf (`guard_expression`)
and each group of writes as one MSet (`mset`), each part and write named
in a comment above: every
dialplan step is time on the citizen's way to the target (about 0.25 ms
each on the 2-core test machine; one step per part made the transfer
benchmark's ratio 1.7 instead of 1.5), so the key takes as few steps as
before — the price is those generated lines' length.

The phone's own blind transfer (its Transfer button, `#1`) writes the same
outbox record from the citizen's side: `PHONE_GUARD`, `PHONE_WRITES` (the
section at the end).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from core import channel_vars as cv
from core.centres import Centre, centre_by_id, seat_by_extension
from core.contexts import KNOWN_SEATS
from core.handoff import (
    ASTDB_FAMILY,
    CALL_GUARD_FAMILY,
    CHANNEL_NAME_CHARS,
    CHANNEL_NAME_PATTERN,
    LINKEDID_CHARS,
    LINKEDID_MAX,
    OUTBOX_FAMILY,
    OUTBOX_FIELDS,
    OUTBOX_ID_CHARS,
    OUTBOX_ID_MAX,
    OUTBOX_VERSION,
    SEAT_CHANNEL_PATTERN,
    is_linkedid,
    is_outbox_id,
    partner_id,
    seat_extension_of_channel,
)
from core.safety import NUMBER_DIGITS, NUMBER_PATTERN
from core.trunks import header_value

# ------------------------------------------------------------------ dialplan expressions

SEAT_LEG_NAME = "${CHANNEL(name)}"
PEER_NAME = "BRIDGEPEER"
PEER = "${" + PEER_NAME + "}"
LINKEDID_NAME = "CHANNEL(linkedid)"
LINKEDID = "${" + LINKEDID_NAME + "}"
UNIQUEID_NAME = "CHANNEL(uniqueid)"
UNIQUEID = "${" + UNIQUEID_NAME + "}"
KEY_PRESS_TIME = "${STRFTIME(,,%s.%6q)}"  # epoch seconds with microseconds


def var(name: str) -> str:
    """`${NAME}`."""
    return "${" + name + "}"


def per_centre(prefix: str) -> str:
    """A global rendered per centre, read for the call's centre: `${PREFIX${HOTLINE_CENTRE}}`."""
    return "${" + prefix + var(cv.CENTRE) + "}"


def known_seat(extension: str) -> str:
    """1 when `extension` is a configured seat: the context KNOWN_SEATS holds
    the seats as extension patterns (rendered).  DIALPLAN_EXISTS with an
    empty extension answers for the context alone, hence the length test."""
    return f"${{LEN({extension})}} > 0 & ${{DIALPLAN_EXISTS({KNOWN_SEATS},{extension},1)}}"


def regex(pattern: str, value: str) -> str:
    """`${REGEX("pattern" value)}`: 1 when `value` matches (POSIX extended).

    In a config file `;` starts a comment, so it is escaped; the pattern must
    not hold what the dialplan would expand or split on (quotes, `${`, `$[`,
    backslashes)."""
    if '"' in pattern or "\\" in pattern or "${" in pattern or "$[" in pattern:
        raise ValueError(f"pattern not safe in a dialplan REGEX(): {pattern!r}")
    return '${REGEX("' + pattern.replace(";", "\\;") + '" ' + value + ")}"


# What a FILTER() set must not hold: what splits or ends its arguments or is
# expanded.  (`;` starts a comment in a config file: it is escaped.)
_FILTER_SET_UNSAFE = frozenset(',()${}[]"\\ ')


def filter_set(allowed: str) -> frozenset[str]:
    """The characters Asterisk's `FILTER(allowed,...)` keeps, as
    funcs/func_strings.c reads `allowed`: `x-y` is the range from x to y, any
    other character stands for itself (no backslash escapes are used here)."""
    if not allowed or _FILTER_SET_UNSAFE & set(allowed):
        raise ValueError(f"FILTER() set not safe in the dialplan: {allowed!r}")
    chars: set[str] = set()
    i = 0
    while i < len(allowed):
        if allowed[i + 1:i + 2] == "-":
            if i + 2 >= len(allowed) or allowed[i + 2] < allowed[i]:
                raise ValueError(f"FILTER() set with an open or backward range: {allowed!r}")
            chars.update(chr(c) for c in range(ord(allowed[i]), ord(allowed[i + 2]) + 1))
            i += 3
        else:
            chars.add(allowed[i])
            i += 1
    return frozenset(chars)


def _kept(allowed: str, value: str) -> str:
    """`${LEN(${FILTER(allowed,value)})}`: how many characters of `value` (an
    expansion) are in the set."""
    filter_set(allowed)
    return "${LEN(${FILTER(" + allowed.replace(";", "\\;") + "," + value + ")})}"


def one_piece(name: str) -> str:
    """1 when the value of `name` (a variable, or a function as FIELDQTY()
    reads one: `CHANNEL(linkedid)`) is not empty and holds no `)`.

    A value is expanded into the text of the function call around it before
    that call is read, and Asterisk reads `:` after an unmatched `)` as the
    start of a substring: `${LEN(${V})}` with V `1):0` is LEN(1), 1, as
    REGEX() would have matched `1` alone.  FIELDQTY() reads the variable
    itself, by its name: the other tests of a check count only when this
    holds.  (`)` is `\\x29`: a bare one would end FIELDQTY's arguments.)"""
    return f"${{FIELDQTY({name},\\x29)}} = 1"


def only(allowed: str, name: str) -> str:
    """1 when the value of `name` is not empty and each of its characters is
    in the FILTER() set `allowed`: a character class tested without
    REGEX(), which compiles its pattern on every call (some 25 us each on the
    2-core test machine: the larger part of the guard's time).  What reaches
    the expression is numbers only (FIELDQTY(), LEN()), whatever the value."""
    return f"{one_piece(name)} & {_kept(allowed, var(name))} = ${{LEN({var(name)})}}"


def number_check(name: str) -> str:
    """NUMBER_PATTERN (`^[+]?[0-9*#]+$`) on the variable `name`, without
    REGEX(): its digits (NUMBER_DIGITS), at least one, are the whole value
    but for one `+` in front (the first character, counted when it is `+`)."""
    digits = _kept(NUMBER_DIGITS, var(name))
    plus = _kept("+", "${" + name + ":0:1}")
    return f"{one_piece(name)} & {digits} > 0 & {digits} + {plus} = ${{LEN({var(name)})}}"


def outbox_id_check(name: str) -> str:
    """OUTBOX_ID_PATTERN (`^([A-Za-z0-9_]+-)?[0-9]+[.][0-9]+$`) and
    OUTBOX_ID_MAX on `name`, without REGEX().  Every character is one of
    OUTBOX_ID_CHARS, with one `.` and at most one `-`, not the first; after
    the `.` only digits, at least one; after the `-` only digits and the `.`
    (so the prefix before it has neither), and without a `-`, the whole
    value so; no `.` first, nor right after the `-`."""
    value = var(name)
    dashes = _kept("-", value)
    after_dash = var(f"CUT({name},-,2)")  # "" without one
    return " & ".join([
        only(OUTBOX_ID_CHARS, name), f"${{LEN({value})}} <= {OUTBOX_ID_MAX}",
        f"{_kept('.', value)} = 1", f"{dashes} <= 1", _kept("-", "${" + name + ":0:1}") + " = 0",
        only("0-9", f"CUT({name},.,2)"),
        f"{_kept('0-9.', after_dash)} = ${{LEN({after_dash})}}",
        f"(${{LEN({value})}} - {_kept('0-9.', value)}) * (1 - {dashes}) = 0",
        f"{_kept('.', '${' + name + ':0:1}')} + {_kept('.', '${CUT(' + name + ',-,2):0:1}')} = 0",
    ])


def call_id_check(name: str) -> str:
    """LINKEDID_PATTERN and LINKEDID_MAX on `name`, without REGEX()."""
    return f"{only(LINKEDID_CHARS, name)} & ${{LEN({var(name)})}} <= {LINKEDID_MAX}"


def channel_name_check(name: str) -> str:
    """CHANNEL_NAME_PATTERN on `name` (one channel name), without REGEX()."""
    return only(CHANNEL_NAME_CHARS, name)


# The checks above by name, each a function of the variable it reads: the
# test rig renders each on one value (hotline-rig-checks), and
# tests/asterisk/test_dialplan_checks.py compares what Asterisk answers with
# the pattern the check stands for, on values made to trip them.
CHECKS: dict[str, Callable[[str], str]] = {
    "channel_name": channel_name_check,
    "linkedid": call_id_check,
    "number": number_check,
    "outbox_id": outbox_id_check,
}

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
    partner_logged_in: int   # QUEUE_MEMBER(<the partner's linkage queue>,logged) (a local partner's)
    call_guard: str = ""     # DB(hotline-handoff-call/<linkedid>): the leg that handed the call over
    fast: bool = True        # HOTLINE_HANDOFF_FAST = yes (settings.handoff.fast_path)


Remote = Mapping[str, str]  # centres served on another platform -> their peer trunk (settings.trunks)


@dataclass(frozen=True)
class GuardPart:
    label: str          # the dialplan priority label of its line
    says: str           # the condition, in words (the line's comment)
    expression: str     # an Asterisk `$[...]` expression, true when the part holds
    holds: Callable[[KeyPress, tuple[Centre, ...], Remote], bool]


def partner_of(centres: tuple[Centre, ...], remote: Remote, centre: str) -> str | None:
    """The partner the fast path hands `centre`'s calls to (the global
    rendered per configured centre): core.handoff.partner_id, local or remote."""
    if centre_by_id(centres, centre) is None:
        return None
    return partner_id(centres, dict(remote), centre)


def partner_is_remote(centres: tuple[Centre, ...], remote: Remote, centre: str) -> bool:
    partner = partner_of(centres, remote, centre)
    return partner is not None and centre_by_id(centres, partner) is None and partner in remote


def _partner_ready(press: KeyPress, centres: tuple[Centre, ...], remote: Remote) -> bool:
    # a remote partner: the far platform decides (it refuses at once, busy,
    # when nobody is logged in there; a trunk down fails at once): the same
    # as Python's plan, which asks nothing of a remote centre before dialling
    return partner_is_remote(centres, remote, press.centre) or press.partner_logged_in > 0


# The global the partner_ready part reads through (`${${...}}`: Asterisk
# expands the inner name first, then reads the variable or calls the
# function it names).  Per centre, rendered: a local partner's
# `QUEUE_MEMBER(<its linkage queue>,logged)`; a remote partner's
# `REMOTE_READY` (a global holding 1).  So no queue that does not exist here
# is ever asked, and the guard stays one expression for every centre.
REMOTE_READY = cv.HANDOFF_REMOTE_READY


def partner_ready_source(centres: tuple[Centre, ...], remote: Remote, centre: str) -> str | None:
    """What `${HOTLINE_HANDOFF_PARTNER_READY_<centre>}` holds (None: no partner)."""
    partner = partner_of(centres, remote, centre)
    if partner is None:
        return None
    if partner_is_remote(centres, remote, centre):
        return REMOTE_READY
    local = centre_by_id(centres, partner)
    assert local is not None
    return f"QUEUE_MEMBER({local.linkage_queue},logged)"


GUARD: tuple[GuardPart, ...] = (
    GuardPart("fast_on", "the fast path is on (settings.handoff.fast_path, rendered)",
              f'"{var(cv.HANDOFF_FAST)}" = "yes"',
              lambda p, c, r: p.fast),
    GuardPart("seat_leg", "this leg is a seat's (core.handoff SEAT_CHANNEL_PATTERN)",
              regex(SEAT_CHANNEL_PATTERN, SEAT_LEG_NAME),
              lambda p, c, r: seat_extension_of_channel(p.seat_channel) is not None),
    GuardPart("seat_known", "the seat it carries (HOTLINE_SEAT) is a configured one (patterns, rendered)",
              known_seat(var(cv.SEAT)),
              lambda p, c, r: seat_by_extension(c, p.seat) is not None),
    GuardPart("one_peer", "it has one peer (one channel name: a bigger bridge has several)",
              channel_name_check(PEER_NAME),
              lambda p, c, r: re.fullmatch(CHANNEL_NAME_PATTERN, p.peer) is not None),  # names: <= 80 chars
    GuardPart("citizen_peer", "that peer is a citizen, not a seat",
              f"!{regex(SEAT_CHANNEL_PATTERN, PEER)}",
              lambda p, c, r: seat_extension_of_channel(p.peer) is None),
    GuardPart("citizen_number", "the citizen has a number (a withheld one asks Python)",
              number_check(cv.CITIZEN),
              # a number over NUMBER_MAX digits goes too: the order says 0 (parse_outbox), as on Python's path
              lambda p, c, r: re.fullmatch(NUMBER_PATTERN, p.citizen_number) is not None),
    GuardPart("call_id", "the call's id (linkedid) is a safe AstDB key and fits the order",
              call_id_check(LINKEDID_NAME),
              lambda p, c, r: is_linkedid(p.linkedid)),
    GuardPart("leg_id", "this leg's id (uniqueid: the handoff's id) is a safe AstDB key and fits the order",
              outbox_id_check(UNIQUEID_NAME),
              lambda p, c, r: is_outbox_id(p.uniqueid)),
    GuardPart("partner", "the centre has a partner centre, here or remote (core.handoff.partner_id, rendered)",
              f'"{per_centre(cv.HANDOFF_PARTNER_PREFIX)}" != ""',
              lambda p, c, r: partner_of(c, r, p.centre) is not None),
    GuardPart("partner_ready", "a local partner has a seat logged in in its linkage queue (a remote one: "
              "its platform decides)",
              "0${" + per_centre(cv.HANDOFF_PARTNER_READY_PREFIX) + "} > 0",
              _partner_ready),
    GuardPart("not_under_way", "this leg is not handing the call over already (the call guard)",
              f'"${{DB({CALL_GUARD_FAMILY}/{LINKEDID})}}" != "{UNIQUEID}"',
              lambda p, c, r: p.call_guard != p.uniqueid),
)


def failing_part(press: KeyPress, centres: tuple[Centre, ...], remote: Remote | None = None) -> GuardPart | None:
    """The first part of the guard that does not hold (where the dialplan asks
    Python); None: the dialplan carries the handoff out.  `remote`: the
    centres served on other platforms (settings.trunks.remote_centres)."""
    return next((part for part in GUARD if not part.holds(press, centres, remote or {})), None)


def takes_fast_path(press: KeyPress, centres: tuple[Centre, ...], remote: Remote | None = None) -> bool:
    return failing_part(press, centres, remote) is None


# ------------------------------------------------------------------ the leg's checked facts

# Most of the guard's time (some 170 of 200 us a press on the 2-core test
# machine) goes to the parts that read only facts of the seat's leg and its
# peer, which do not change while the two are bridged: the two REGEX() of
# the seat's pattern and the checks of the ids.  So they are checked once,
# off the citizen's way: when a seat of a queue answers, the handoff journal
# (app/handoff/journal.py) runs those parts' `holds` on the facts AMI's
# AgentConnect gives and, when all hold, sets them on the seat's leg,
# URI-encoded (KEY_CHECKED).  The key's first step (`checked_expression`)
# then tests those parts as one comparison — the facts now are the facts
# checked — with the other parts, read live.  If anything differs (Python
# away, a press before the journal's Setvar, another peer or a bigger
# bridge) the whole guard runs, as before: nothing is decided on a fact
# that was not checked.
#
# Each fact by the name FIELDQTY() reads it by and the KeyPress field it is.
CHECKED_FACTS: tuple[tuple[str, str], ...] = (
    ("CHANNEL(name)", "seat_channel"),
    (PEER_NAME, "peer"),
    (cv.CITIZEN, "citizen_number"),
    (LINKEDID_NAME, "linkedid"),
    (UNIQUEID_NAME, "uniqueid"),
)
CHECKED_PARTS: tuple[str, ...] = ("seat_leg", "one_peer", "citizen_peer", "citizen_number", "call_id", "leg_id")
if not set(CHECKED_PARTS) <= {part.label for part in GUARD}:
    raise RuntimeError(f"CHECKED_PARTS {CHECKED_PARTS} not all parts of GUARD")
FACTS_SEPARATOR = "|"
# What Asterisk's URIENCODE() leaves as it is (main/utils.c ast_uri_encode,
# ast_uri_http: letters, digits and RFC 2396's marks); any other byte is
# %XX.  No `"` and no space: the encoded facts are safe in a quoted string
# of an Asterisk expression.
URI_UNENCODED_MARKS = "-_.!~*'()"


def encode_facts(facts: str) -> str:
    """`facts` as Asterisk's URIENCODE() gives them."""
    return quote(facts, safe=URI_UNENCODED_MARKS)


def facts_of(press: KeyPress) -> str:
    """The checked facts of a key press, joined as the dialplan joins them."""
    return FACTS_SEPARATOR.join(getattr(press, field) for _, field in CHECKED_FACTS)


def checked_marker(press: KeyPress, centres: tuple[Centre, ...], remote: Remote | None = None) -> str | None:
    """What the journal sets as KEY_CHECKED on the seat's leg: its facts,
    encoded, when every part of CHECKED_PARTS holds for them; None when one
    does not (the key then runs the whole guard)."""
    parts = [part for part in GUARD if part.label in CHECKED_PARTS]
    if not all(part.holds(press, centres, remote or {}) for part in parts):
        return None
    return encode_facts(facts_of(press))


def answered_leg(seat_channel: str, peer: str, citizen_number: str, linkedid: str, uniqueid: str) -> KeyPress:
    """A key press as far as its checked facts go (the seat's leg just
    answered: the other fields are read live at the press)."""
    return KeyPress(seat_channel=seat_channel, seat="", peer=peer, citizen_number=citizen_number, centre="",
                    linkedid=linkedid, uniqueid=uniqueid, partner_logged_in=0)


def facts_checked() -> str:
    """The Asterisk expression: KEY_CHECKED holds the facts as they are now.

    Each fact is first tested to be one piece (not empty, no `)`): URIENCODE()
    then reads the whole join, and a fact holding a `)` cannot end its
    arguments early.  KEY_CHECKED must hold no `"` (it is compared as a
    quoted string; the journal's value never does)."""
    joined = FACTS_SEPARATOR.join(var(name) for name, _ in CHECKED_FACTS)
    return " & ".join(
        [one_piece(name) for name, _ in CHECKED_FACTS]
        + [f"${{FIELDQTY({cv.KEY_CHECKED},\\x22)}} = 1",
           f'"{var(cv.KEY_CHECKED)}" = "${{URIENCODE({joined})}}"'])


def checked_expression() -> str:
    """The key's first step: the guard's parts not in CHECKED_PARTS, in order,
    and `facts_checked` in place of those."""
    live = [part.expression for part in GUARD if part.label not in CHECKED_PARTS]
    return " & ".join([*live, facts_checked()])


# ------------------------------------------------------------------ what the fast path writes

PARTNER = per_centre(cv.HANDOFF_PARTNER_PREFIX)        # the partner centre's id
RELEASE = per_centre(cv.HANDOFF_RELEASE_PREFIX)        # the centre's release mode
# The citizen's channel, on the seat leg after the move: a blind transfer sets
# the transferer's BLINDTRANSFER to its BRIDGEPEER at the move (Asterisk's
# main/bridge.c set_transfer_variables_all), the peer the guard checked.  A
# move that failed sets it to the peer the leg still has, if any
# (hotline-handoff-key, after `yield`), so the record says whom it did not move.
MOVED_PEER = "${BLINDTRANSFER}"

# Each outbox field's source on the seat's leg right after the move (the
# citizen's channel: MOVED_PEER — the bridge is empty by then).
# (The record is set by one MSet, which expands every value before it sets
# any: no source may read a variable the same MSet sets.)
OUTBOX_SOURCES: dict[str, str] = {
    "pressed_at": KEY_PRESS_TIME,
    "seat_channel": SEAT_LEG_NAME,
    "citizen_channel": MOVED_PEER,
    "citizen_number": var(cv.CITIZEN),
    "source_centre": var(cv.CENTRE),
    "source_seat": var(cv.SEAT),
    "target_centre": PARTNER,
    "linkedid": LINKEDID,
    "release_mode": RELEASE,
}
if tuple(OUTBOX_SOURCES) != OUTBOX_FIELDS:  # one field list: never render a record Python cannot read
    raise RuntimeError(f"OUTBOX_SOURCES {tuple(OUTBOX_SOURCES)} != OUTBOX_FIELDS {OUTBOX_FIELDS}")


def outbox_record_items() -> list[str]:
    """The outbox record as the dialplan builds it, item by item (to be joined by `|`)."""
    return [OUTBOX_VERSION] + [OUTBOX_SOURCES[name] for name in OUTBOX_FIELDS]


@dataclass(frozen=True)
class Write:
    target: str     # a variable or a function (DB(), EXPORT()) as MSet sets it
    value: str
    says: str


# The fast path sets nothing before the citizen moves: each variable set
# there is a channel snapshot Asterisk publishes (manager.conf names
# channelvars; stasis.conf declines the VarSet message itself), which its
# one manager thread handles before the move's own event (an AMI event is
# stamped then), and each AstDB write takes Asterisk's one AstDB mutex, which
# its commit thread holds through an fsync.  On the citizen's path that cost
# milliseconds on a busy machine (the transfer benchmark with 40 calls in
# progress: the largest part of the gap to Asterisk's own blind transfer).
# So the guard's next step is the move, and what the citizen must carry
# before it rings anyone travels in the move's destination itself
# (`MOVE_TO`): BlindTransfer sends its channel to hotline-handoff,
# `to-<partner>*<seat>*<handoff id>`, where its first step reads them
# (`ON_ARRIVAL`).  The seat and the id are the guard's (seat_known,
# leg_id): digits, and a uniqueid (OUTBOX_ID_PATTERN), neither holding the
# separator.  The phone's own transfer goes on to the same destination
# (`phone_move_to`).  The seat leg learns the citizen's channel after the
# move, from Asterisk (`MOVED_PEER`).
#
# Nothing is less safe for it.  AstDB commits about once a second, so a
# record written before the move was never on disk before the move either:
# what keeps an order through a kill -9 of Asterisk is the
# HotlineHandoffCreated event, which carries the record to the journal right
# after the writes below; what keeps it while Python is away is AstDB,
# written below before that event.  A citizen hanging up within the instant
# between the move and those writes finds no state and no record (its
# hangup handler reports nothing): the order, recorded from the record
# written next, is settled by the reconciler — its call is gone
# (core/reconcile.py), as for a state written after that handler read it.
MOVE_SEPARATOR = "*"


def move_to(centre: str, seat: str, handoff_id: str) -> str:
    """The move's destination in hotline-handoff: `to-<centre>*<seat>*<id>`."""
    return MOVE_SEPARATOR.join((f"to-{centre}", seat, handoff_id))


MOVE_TO = move_to(PARTNER, var(cv.SEAT), UNIQUEID)
MOVED_SEAT = f"${{CUT(EXTEN,{MOVE_SEPARATOR},2)}}"
MOVED_ID = f"${{CUT(EXTEN,{MOVE_SEPARATOR},3)}}"


def move_pattern(centre_id: str) -> str:
    """The extension of hotline-handoff that `MOVE_TO` (and `phone_move_to`)
    reach for `centre_id`: `to-<centre>*` then the seat (digits) and the id.
    Asterisk ignores `-` when it matches an extension; `*` is matched as
    itself, so no centre's pattern matches another's destination."""
    if not centre_id.isdigit():
        raise ValueError(f"centre id {centre_id!r}: digits only")
    return f"_to-{centre_id}{MOVE_SEPARATOR}X."


# The citizen's first step in `to-<centre>*...`, in its one MSet with the
# rest of that step: what it carries from the move's destination.
ON_ARRIVAL: tuple[Write, ...] = (
    Write(f"__{cv.HANDOFF_ID}", MOVED_ID,
          "the handoff's id (the key's: its seat leg's uniqueid): the legs it rings inherit it"),
    Write(cv.RETURN_SEAT, MOVED_SEAT, "the seat it comes back to if nobody answers"),
)

# After the move, on the seat leg, off the citizen's way to the target: the
# leg first pushes its hangup handler (hotline-handoff-key, unwritten: if it
# hangs up before the writes below, that handler does them) and waits
# HOTLINE_HANDOFF_YIELD (core/settings.py HandoffSettings.yield_ms: a few
# ms), so that the citizen's channel enters the target queue and its first
# seat rings without these steps, their channel snapshots and their events
# sharing the machine and Asterisk's one manager thread with it (the
# transfer benchmark with 40 calls in progress, four runs: 0.95-1.12x the
# built-in's time to ringing at p50 with a 4 ms pause, 1.14-1.20x without in
# three; README "Benchmarks").  Then, in this order
# and in two steps, each one MSet (which
# expands all its values before it sets any, so none reads a variable the
# same step sets): first the seat leg's own variables, the outbox record
# among them; then AstDB — the record first, so that a hangup handler
# finding a record but no state yet takes the handoff for pending
# (hotline-handoff, h).  If the move failed (the citizen hung up first),
# `moved` deletes the state and the call guard again and reports the order
# lost.  A state written after the citizen's hangup handler read it is a
# stale key, which the reconciler deletes (core/reconcile.py: the call is
# gone).
AFTER_MOVE: tuple[Write, ...] = (
    Write(cv.HANDOFF_PEER, MOVED_PEER, "the citizen's channel (the record's, and the seat leg waits on it, 成功转)"),
    Write(cv.HANDOFF_RECORD, "|".join(outbox_record_items()),
          "the order's outbox record: core.handoff.OUTBOX_FIELDS, as parse_outbox reads them"),
    Write(cv.HANDOFF_ID, UNIQUEID, "the handoff's id: this seat leg's uniqueid (one handoff per leg)"),
    Write(cv.HANDOFF_TARGET, PARTNER, "the partner centre"),
    Write(cv.RELEASE_MODE, RELEASE, "成功转 on_answer or 释放转 immediate, the centre's"),
)
TO_ASTDB: tuple[Write, ...] = (
    Write(f"DB({OUTBOX_FAMILY}/{UNIQUEID})", var(cv.HANDOFF_RECORD),
          "the order's outbox record (the sweep records it if the journal does not)"),
    Write(f"DB({ASTDB_FAMILY}/{UNIQUEID})", "pending", "the handoff's state (hold loop, hangup handler)"),
    Write(f"DB({CALL_GUARD_FAMILY}/{LINKEDID})", UNIQUEID,
          "the call guard names this leg (a second press, the route or the button sees it)"),
    Write(cv.HANDOFF_WRITTEN, UNIQUEID, "and on this leg, that it has written them (its hangup handler reads it)"),
)

def guard_expression() -> str:
    """The whole guard as one Asterisk expression: the parts in order, joined by `&`."""
    return " & ".join(part.expression for part in GUARD)


def mset(writes: tuple[Write, ...]) -> str:
    """The arguments of one MSet doing `writes`."""
    return ",".join(f"{w.target}={w.value}" for w in writes)


# ------------------------------------------------------------------ to a remote partner

# The X-Hotline-Handoff value the citizen's channel sends when the fast path
# hands it to a partner on another platform (hotline-handoff, to-<remote
# centre>): built on the citizen's channel from what the fast path gave it —
# the handoff id (the seat leg's uniqueid: the guard's leg_id part), the
# centre (the guard's partner part: a configured centre) and the seat to
# come back to (seat_known: a configured seat).  No order number: on this
# path the order is numbered after the citizen has moved (the journal); the
# far side keys on the handoff id.
REMOTE_HEADER = header_value(var(cv.HANDOFF_ID), var(cv.CENTRE), var(cv.RETURN_SEAT))


# ------------------------------------------------------------------ the phone's own transfer

# A seat's phone transfers the citizen blind — its Transfer button (SIP
# REFER) or Asterisk's `#1` (features.conf blindxfer) — to the number of the
# other centre: Asterisk moves the citizen's own channel to that number in
# the seat leg's TRANSFER_CONTEXT (`hotline-phone-transfer`, set by the
# pre-dial handler hotline-seat-leg), with BLINDTRANSFER naming the seat leg.
# There, on the citizen's channel, the same outbox record as the key's is
# written and the citizen goes into the same `hotline-handoff,to-<centre>`:
# one mechanism (the journal records the order, the queue's answer accepts
# it, `back` brings the citizen to the seat, `h` ends it).  The differences
# come from where it runs:
#
# * the seat leg is gone or going (the phone let go: that is what a blind
#   transfer is), so nothing of it is read but its name, BLINDTRANSFER, and
#   the seat's extension in that name (`PHONE_SEAT_STEPS`: a seat leg's name
#   is `PJSIP/<ext>-<n>` or `Local/<ext>@<ctx>-<n>;1`, both 6 characters
#   before the extension);
# * the handoff's id cannot be the seat leg's uniqueid (reading it from a
#   leg being hung up races with its hangup): it is `p<n>-<time>`, n the
#   citizen channel's uniqueid counter and the time in microseconds — unique
#   per citizen channel and moment, and of OUTBOX_ID_PATTERN's form;
# * the seat does not stay on the line, whatever HOTLINE_RELEASE_MODES says:
#   the record says 释放转 `immediate`, because that is what happened (the
#   return path still brings the citizen back to that seat if nobody answers);
# * there is no Python path to fall back on (HOTLINE_HANDOFF_FAST_PATH=no does
#   not apply): the citizen has left the seat already, so a failing guard part
#   sends it on without an order (the linkage queue, then the safe path).
TRANSFERER = "${BLINDTRANSFER}"
PHONE_SEAT = "${xfer_seat}"
PHONE_HANDOFF_ID_NAME = "xfer_id"
PHONE_HANDOFF_ID = "${" + PHONE_HANDOFF_ID_NAME + "}"
CITIZEN_CHANNEL_NAME = "CHANNEL(name)"
CITIZEN_CHANNEL = "${" + CITIZEN_CHANNEL_NAME + "}"
DIALLED = "${EXTEN}"
PHONE_RELEASE_MODE = "immediate"

# Dialplan steps that set PHONE_SEAT and PHONE_HANDOFF_ID (each an MSet or Set
# argument list; every value of one step is expanded before it sets any).
PHONE_SEAT_STEPS: tuple[str, ...] = (
    "xfer_leg=${BLINDTRANSFER:6},xfer_uid=${CHANNEL(uniqueid)}",
    "xfer_seat=${CUT(xfer_leg,-,1)},xfer_id=p${CUT(xfer_uid,.,2)}-" + KEY_PRESS_TIME,
    "xfer_seat=${CUT(xfer_seat,@,1)}",
)


def _on_phone_seat(part: GuardPart) -> str:
    """`part`'s expression about the seat leg's HOTLINE_SEAT, made about the
    seat the phone's transfer found in BLINDTRANSFER: one test of "a seat
    of ours", however the key's guard spells it."""
    if var(cv.SEAT) not in part.expression:
        raise RuntimeError(f"guard part {part.label} does not read {var(cv.SEAT)}: {part.expression}")
    return part.expression.replace(var(cv.SEAT), PHONE_SEAT)


PHONE_GUARD: tuple[tuple[str, str], ...] = (
    ("the transferer is a seat's leg (core.handoff SEAT_CHANNEL_PATTERN)",
     regex(SEAT_CHANNEL_PATTERN, TRANSFERER)),
    ("of a configured seat (the key's own seat_known part, on the seat named by the transferer)",
     _on_phone_seat(next(part for part in GUARD if part.label == "seat_known"))),
    ("the number dialled is the partner of the citizen's centre (core.handoff.partner_centre, rendered)",
     f'"{per_centre(cv.HANDOFF_PARTNER_PREFIX)}" = "{DIALLED}"'),
    ("the citizen's channel name is safe in the record (CHANNEL_NAME_PATTERN)",
     channel_name_check(CITIZEN_CHANNEL_NAME)),
    ("the call's id (linkedid) is a safe AstDB key and fits the order",
     call_id_check(LINKEDID_NAME)),
    ("the handoff's id is a safe AstDB key and fits the order",
     outbox_id_check(PHONE_HANDOFF_ID_NAME)),
)

PHONE_OUTBOX_SOURCES: dict[str, str] = {
    "pressed_at": KEY_PRESS_TIME,
    "seat_channel": TRANSFERER,
    "citizen_channel": CITIZEN_CHANNEL,
    "citizen_number": var(cv.CITIZEN),
    "source_centre": var(cv.CENTRE),
    "source_seat": PHONE_SEAT,
    "target_centre": DIALLED,
    "linkedid": LINKEDID,
    "release_mode": PHONE_RELEASE_MODE,
}
if tuple(PHONE_OUTBOX_SOURCES) != OUTBOX_FIELDS:
    raise RuntimeError(f"PHONE_OUTBOX_SOURCES {tuple(PHONE_OUTBOX_SOURCES)} != OUTBOX_FIELDS {OUTBOX_FIELDS}")

PHONE_WRITES: tuple[Write, ...] = (
    Write(f"DB({CALL_GUARD_FAMILY}/{LINKEDID})", PHONE_HANDOFF_ID,
          "the call guard: a handoff of this call is under way"),
    Write(f"DB({ASTDB_FAMILY}/{PHONE_HANDOFF_ID})", "pending", "the handoff's state (hangup handler, return path)"),
    Write(f"DB({OUTBOX_FAMILY}/{PHONE_HANDOFF_ID})",
          "|".join([OUTBOX_VERSION] + [PHONE_OUTBOX_SOURCES[name] for name in OUTBOX_FIELDS]),
          "the order's outbox record, as the key's (core.handoff.OUTBOX_FIELDS)"),
)


def phone_move_to(centre_id: str) -> str:
    """Where the phone's transfer sends the citizen on, in hotline-handoff: the
    key's own destination (`MOVE_TO`, `move_pattern`), whose first step sets
    the handoff's id and the seat to come back to on the citizen (`ON_ARRIVAL`)."""
    return move_to(centre_id, PHONE_SEAT, PHONE_HANDOFF_ID)


def phone_guard_expression() -> str:
    return " & ".join(expression for _, expression in PHONE_GUARD)
