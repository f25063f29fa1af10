"""One-key number-carrying transfer (一键携号转接): the handoff plan (pure).

A seat in a call with a citizen presses the handoff key (or clicks the
desktop button).  `plan_handoff` decides, from data only, what happens:

* to the other centre (12345 ⇄ 110): the citizen's *own* channel is moved into
  `hotline-handoff` and waits, hearing ringback, in the target centre's
  linkage queue; the target seat sees the citizen's number because it is the
  citizen's channel that rings it (never an attended transfer, which would
  present the transferring seat's number);
* to a catalogue destination (119, 120, 122, 12315, 95598, a utility...): the
  citizen's channel dials the route configured for it, presenting the
  citizen's number;
* refused (no citizen on the call, own centre, no route, nobody logged in at
  the target): nothing moves, the seat hears the `core.refusals.Refusal`'s prompt.

The adapters (AGI route for the key, AMI for the button) apply the plan;
`app.handoff.services` records the order.  Nothing here does I/O.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import Generic, Literal, TypeVar

from core import channel_vars as cv
from core.centres import (
    SIMULATED_SEAT_CONTEXT,
    Centre,
    Seat,
    SeatMode,
    centre_by_id,
    seat_by_extension,
)
from core.refusals import Refusal
from core.safety import is_number, is_presented
from core.trunks import handoff_header, is_order_number

ReleaseMode = Literal["on_answer", "immediate"]
RELEASE_MODES: tuple[str, ...] = ("on_answer", "immediate")
"""成功转 `on_answer` (default): the transferring seat hears ringback and is freed
the moment a target seat answers.  释放转 `immediate`: freed at once."""

# The diversion catalogues' destinations other than the two linked centres
# (Qinzhou annex 2, Pingliang annex 1).  Utilities are named by a token in the
# settings (e.g. `water`, `power`); any destination needs a configured route.
CATALOGUE_HOTLINES: tuple[str, ...] = ("119", "120", "122", "12315", "12348", "12365", "95598", "12123",
                                       "12320", "12328", "12305", "12119", "12313", "12395")

# AstDB families (Asterisk's AstDB: the dialplan and Python both read them).
# Each live handoff's state (pending / accepted / returned): the dialplan's
# hold loop and hangup handler read it.
ASTDB_FAMILY = "hotline-handoff"
# where the transferring seat waits on hold (成功转); woken to its `released` exten
# (dialplan/hotline-handoff.conf.j2)
HOLD_CONTEXT = "hotline-handoff-hold"
# The handoff key's outbox (hotline-handoff-key, key): one record per order
# decided in dialplan, written as the citizen moves (the phone's own
# transfer: before; the key: right after), deleted once the order is in SQL
# (`OutboxRecord`).
OUTBOX_FAMILY = "hotline-handoff-outbox"
# The one double-press guard, per call (key: the call's linkedid), holding
# the uniqueid of the seat leg that handed the call over (the fast path's
# handoff id).  The fast path, the `handoff_key` route and the desktop button
# all check it and set it before anything moves: a leg it names does not
# hand the call over again (a second press, key and button together).  Another
# leg may — the seat that accepted the citizen hands it back — and the
# citizen's hangup, its return or a failed move deletes it.
CALL_GUARD_FAMILY = "hotline-handoff-call"
# How a handoff ended, kept until its order says so: the AstDB state then
# (pending / accepted / returned), or `lost` (the citizen hung up before the
# move).  The dialplan writes it before the route that reports the end (which
# deletes it), and next to an outbox record Python could not take; the sweep
# applies it after recording the order, the reconciler once the call is gone.
ENDED_FAMILY = "hotline-handoff-ended"

# Patterns the dialplan checks too (core/fast_path.py renders the seat's
# into REGEX() calls, the others into FILTER() and LEN() tests: its CHECKS):
# each is written so that Python's `re` and Asterisk's POSIX extended regular
# expressions read it alike (no `\\`, no `(?...)`), and without bounded
# repetition: Asterisk compiles a REGEX() pattern on every call, and glibc
# compiles `x{1,128}` some 40 times slower than `x+`.  Where a length
# matters it is a separate check (`*_MAX`, LEN() in the dialplan).
# A seat's leg: `PJSIP/1001-0000000a` (SIP seats) or the ;1 half of a
# simulated seat's Local channel, `Local/1001@hotline-seat-phones-0000002a;1`
# (its ;2 half is the simulated phone).  Group 2 or 3 is the extension.
SEAT_CHANNEL_PATTERN = (f"^(Local/([0-9]+)@{SIMULATED_SEAT_CONTEXT}-[0-9a-f]+;[12]"
                        "|PJSIP/([0-9]+)-[0-9a-f]+)$")
# One channel name, safe to hand to AMI, EXPORT() or an outbox record (no `,`,
# `|`, `$`, quotes, spaces, CR/LF): a bridge with several peers fails it.
# (Asterisk's own names are at most 80 characters, AST_CHANNEL_NAME.)
CHANNEL_NAME_PATTERN = "^[-A-Za-z0-9/@;_.+:]+$"
CHANNEL_NAME_MAX = 128
# A call's linkedid as an AstDB key and an outbox field (orders.linkedid).
LINKEDID_PATTERN = "^[-A-Za-z0-9._]+$"
LINKEDID_MAX = 64
# The same classes as Asterisk FILTER() sets (`x-y` a range, any other
# character itself): the handoff key's guard tests a class with FILTER() and
# LEN() — numbers only — instead of REGEX(), which compiles its pattern on
# every call (core/fast_path.py `only`).  tests/unit/test_fast_path.py checks
# each set against its pattern's class.
CHANNEL_NAME_CHARS = "-./0-9:;@A-Z_a-z+"
LINKEDID_CHARS = "-.0-9A-Z_a-z"

_SEAT_CHANNEL = re.compile(SEAT_CHANNEL_PATTERN)
_CHANNEL_NAME = re.compile(CHANNEL_NAME_PATTERN)
_LINKEDID = re.compile(LINKEDID_PATTERN)


def is_channel_name(value: str | None) -> bool:
    """A channel name safe to hand to AMI or EXPORT() (no `,`, `$`, CR/LF)."""
    return bool(value) and len(value or "") <= CHANNEL_NAME_MAX and _CHANNEL_NAME.fullmatch(value or "") is not None


def is_linkedid(value: str | None) -> bool:
    """A call's linkedid usable as an AstDB key (the call guard) and outbox field."""
    return bool(value) and len(value or "") <= LINKEDID_MAX and _LINKEDID.fullmatch(value or "") is not None


def seat_extension_of_channel(channel: str | None) -> str | None:
    """The extension in a seat leg's channel name (configured or not); None
    when the name is not a seat leg's."""
    match = _SEAT_CHANNEL.fullmatch(channel or "")
    return (match.group(2) or match.group(3)) if match else None


def seat_of_channel(centres: tuple[Centre, ...], channel: str | None) -> Seat | None:
    """The configured seat a channel belongs to: `PJSIP/1001-0000000a` (SIP
    seats) or `Local/1001@hotline-seat-phones-0000002a;1` (simulated seats)."""
    extension = seat_extension_of_channel(channel)
    return seat_by_extension(centres, extension) if extension else None


def partner_centre(centres: tuple[Centre, ...], centre_id: str) -> Centre | None:
    """The centre the one-key transfer hands a call to: 12345 ⇄ 110.

    With other centres configured, the other one of the pair is still the
    partner; a centre outside the pair hands to 12345 if present, else to the
    first other centre.
    """
    pair = {"12345": "110", "110": "12345"}
    wanted = pair.get(centre_id)
    if wanted is not None and centre_by_id(centres, wanted) is not None:
        return centre_by_id(centres, wanted)
    others = [c for c in centres if c.id != centre_id]
    return next((c for c in others if c.id == "12345"), others[0] if others else None)


def partner_id(centres: tuple[Centre, ...], remote: dict[str, str], centre_id: str) -> str | None:
    """The partner centre's id, local (`partner_centre`) or, when none is
    served here, remote (`remote`: centre id -> the trunk it is reached
    through, settings.trunks.remote_centres): 12345 ⇄ 110 first, else the
    first remote centre."""
    local = partner_centre(centres, centre_id)
    if local is not None:
        return local.id
    wanted = {"12345": "110", "110": "12345"}.get(centre_id)
    if wanted in remote:
        return wanted
    return next((c for c in remote if c != centre_id), None)


@dataclass(frozen=True)
class HandoffRequest:
    """What the key or the button knows when the seat asks for a transfer."""

    seat_channel: str | None      # the seat's leg in the bridge with the citizen
    citizen_channel: str | None   # the other leg (BRIDGEPEER), None if there is none
    citizen_number: str | None    # HOTLINE_CITIZEN
    centre: str | None            # HOTLINE_CENTRE: the centre handling the call now
    target: str | None = None     # None/"": the partner centre; else a centre id or destination
    category: str | None = None
    note: str | None = None
    linkedid: str | None = None
    via: Literal["key", "button"] = "key"
    seat_leg_id: str | None = None  # the seat leg's uniqueid (the call guard names it)
    citizen_presented: str | None = None  # HOTLINE_CITIZEN_PRESENTED: a caller ID that is no number, escaped


@dataclass(frozen=True)
class HandoffPlan:
    """A handoff that goes ahead.  `order_*` fields are what the order records."""

    source_centre: str
    source_seat: Seat
    target: str                 # centre id or catalogue destination
    target_centre: str          # the centre id, or the destination for catalogue targets
    queue: str | None           # the target centre's linkage queue (centre targets)
    dial: str | None            # the destination's dial string (catalogue targets)
    citizen_number: str         # "" when the caller ID is withheld or not a number (never another number)
    citizen_channel: str
    seat_channel: str
    release_mode: ReleaseMode
    timeout_s: int
    category: str | None = None
    note: str | None = None
    linkedid: str | None = None
    via: str = "key"
    seat_leg_id: str | None = None
    trunk: str | None = None    # a remote centre's trunk: `dial` goes over it, with the handoff's headers
    citizen_presented: str | None = None  # the caller ID as presented, escaped, when it is not a number
    order_number: str | None = None  # the order's number once recorded: X-Hotline-Handoff's order=

    @property
    def is_centre(self) -> bool:
        return self.queue is not None

    def citizen_variables(self, handoff_id: str) -> dict[str, str]:
        """Variables set on the citizen's channel before it is moved.

        `__HOTLINE_HANDOFF_ID` is inherited by every leg the citizen's channel
        creates, so the seat that answers carries the handoff id (its desktop
        pops the order).  HOTLINE_CENTRE becomes the target centre.
        HOTLINE_RETURN_SEAT names the seat a citizen nobody answered comes
        back to (the dialplan rings it with `seat_interfaces`), as the fast
        path sets it.
        """
        variables = {
            f"__{cv.HANDOFF_ID}": handoff_id,
            cv.HANDOFF_QUEUE: self.queue or "",
            cv.HANDOFF_DIAL: self.dial or "",
            cv.HANDOFF_TIMEOUT: str(self.timeout_s),
            cv.RETURN_CENTRE: self.source_centre,
            cv.RETURN_SEAT: self.source_seat.extension,
        }
        if self.is_centre:
            variables[f"__{cv.CENTRE}"] = self.target_centre
        if self.trunk is not None:
            # X-Hotline-Handoff on the INVITE over the peer trunk (hotline-trunk-out)
            variables[cv.HANDOFF_HEADER] = handoff_header(
                handoff_id, self.source_centre, self.source_seat.extension,
                self.order_number if is_order_number(self.order_number) else None)
        return variables


def seat_interfaces(extension: str, mode: SeatMode) -> tuple[str, str]:
    """(dial string, device) of seat `extension`: how a citizen coming back
    rings it, how to see it is free.  The dialplan's return path is rendered
    from this with `${HOTLINE_RETURN_SEAT}` as the extension."""
    if mode == "sip":
        return f"PJSIP/{extension}", f"PJSIP/{extension}"
    return f"Local/{extension}@{SIMULATED_SEAT_CONTEXT}/n", f"Local/{extension}@{SIMULATED_SEAT_CONTEXT}"


def plan_handoff(
    request: HandoffRequest,
    *,
    centres: tuple[Centre, ...],
    seat_mode: SeatMode,
    routes: dict[str, str],
    release_modes: dict[str, str],
    timeout_s: int,
    remote: dict[str, str] | None = None,
) -> HandoffPlan | Refusal:
    """Decide the handoff for `request` (see the module docstring).

    The citizen hears ringback while waiting; the target sees the citizen's
    number (HOTLINE_CITIZEN, the channel's own caller ID).  A withheld number
    is handed over as withheld (`0` in the order): the citizen is still served.
    `remote`: centres served on another platform, reached through a peer
    trunk (centre -> trunk name): the citizen's channel dials
    `PJSIP/<centre>@<trunk>` with the handoff's header.
    """
    remote = remote or {}
    seat = seat_of_channel(centres, request.seat_channel)
    if seat is None:
        return Refusal("not_a_seat")
    if not request.citizen_channel or not is_channel_name(request.citizen_channel) \
            or seat_of_channel(centres, request.citizen_channel) is not None:
        # no peer, a multi-party bridge, or a seat-to-seat call: nobody to hand over
        return Refusal("no_citizen")
    source = centre_by_id(centres, request.centre or "") or centre_by_id(centres, seat.centre)
    assert source is not None
    target = (request.target or "").strip()
    if target == "":
        partner = partner_id(centres, remote, source.id)
        if partner is None:
            return Refusal("unknown_target")
        target = partner
    target_centre = centre_by_id(centres, target)
    if target_centre is not None and target_centre.id == source.id:
        return Refusal("own_centre")
    dial = None
    trunk = remote.get(target) if target_centre is None else None
    if trunk is not None:
        dial = f"PJSIP/{target}@{trunk}"
    elif target_centre is None:
        dial = routes.get(target)
        if dial is None:
            return Refusal("no_route")
    mode = release_modes.get(source.id, "on_answer")
    return HandoffPlan(
        source_centre=source.id,
        source_seat=seat,
        target=target,
        target_centre=target_centre.id if target_centre else target,
        queue=target_centre.linkage_queue if target_centre else None,
        dial=dial,
        citizen_number=request.citizen_number if is_number(request.citizen_number) else "",
        citizen_presented=request.citizen_presented if is_presented(request.citizen_presented) else None,
        citizen_channel=request.citizen_channel,
        seat_channel=request.seat_channel or "",
        release_mode="immediate" if mode == "immediate" else "on_answer",
        timeout_s=timeout_s,
        category=request.category or None,
        note=request.note or None,
        linkedid=request.linkedid or None,
        via=request.via,
        seat_leg_id=request.seat_leg_id or None,
        trunk=trunk,
    )


# ----------------------------------------------------------------- the outbox

# The transferring seat leg's uniqueid (`<epoch>.<n>`, with `<systemname>-`
# in front when asterisk.conf sets one): one handoff per seat leg.
# At most OUTBOX_ID_MAX characters (an order id's length): the dialplan checks
# the same pattern and length before it writes the record.
OUTBOX_ID_PATTERN = "^([A-Za-z0-9_]+-)?[0-9]+[.][0-9]+$"
OUTBOX_ID_MAX = 36
OUTBOX_ID_CHARS = LINKEDID_CHARS  # all its characters (core/fast_path.py `outbox_id_check` says where)
_OUTBOX_ID = re.compile(OUTBOX_ID_PATTERN)


def is_outbox_id(value: str | None) -> bool:
    """An id the dialplan path gives a handoff: the seat leg's uniqueid."""
    return bool(value) and len(value or "") <= OUTBOX_ID_MAX and _OUTBOX_ID.fullmatch(value or "") is not None


@dataclass(frozen=True)
class OutboxRecord:
    """A handoff the dialplan decided and carried out (hotline-handoff-key, key).

    Written to AstDB `hotline-handoff-outbox/<id>` right after the key moved
    the citizen, or by the phone's transfer as the citizen arrives (the
    order exists from that moment, so its created_at is that moment, a
    fraction of a millisecond after the press, not the time Python saw it),
    as `OUTBOX_VERSION` then the fields below except the id, in this order
    (`OUTBOX_FIELDS`), joined by `|`.  The dialplan's record is rendered
    from the same list (core/fast_path.py).
    """

    handoff_id: str          # the AstDB key, not a field of the value
    pressed_at: float        # epoch seconds (microseconds) of the handoff: the move, just after the press
    seat_channel: str
    citizen_channel: str
    citizen_number: str
    source_centre: str
    source_seat: str         # empty in records of an older dialplan: read from seat_channel
    target_centre: str
    linkedid: str
    release_mode: ReleaseMode


OUTBOX_VERSION = "v1"
OUTBOX_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(OutboxRecord) if f.name != "handoff_id")


def parse_outbox(handoff_id: str, value: str | None) -> OutboxRecord | None:
    """The outbox record `value` stored under `handoff_id`; None if it is not one
    (never raises: a bad record is logged and left by the caller)."""
    parts = (value or "").split("|")
    if len(parts) != 1 + len(OUTBOX_FIELDS) or parts[0] != OUTBOX_VERSION or not is_outbox_id(handoff_id):
        return None
    raw = dict(zip(OUTBOX_FIELDS, parts[1:], strict=True))
    try:
        pressed_at = float(raw["pressed_at"])
    except ValueError:
        return None
    seat = raw["source_seat"] or seat_extension_of_channel(raw["seat_channel"]) or ""
    if not (is_channel_name(raw["seat_channel"]) and is_channel_name(raw["citizen_channel"])
            and raw["source_centre"] and raw["target_centre"] and seat.isdigit()
            and raw["release_mode"] in RELEASE_MODES and is_linkedid(raw["linkedid"])):
        return None
    return OutboxRecord(
        handoff_id=handoff_id, pressed_at=pressed_at, seat_channel=raw["seat_channel"],
        citizen_channel=raw["citizen_channel"],
        citizen_number=raw["citizen_number"] if is_number(raw["citizen_number"]) else "",
        source_centre=raw["source_centre"], source_seat=seat, target_centre=raw["target_centre"],
        linkedid=raw["linkedid"], release_mode="immediate" if raw["release_mode"] == "immediate" else "on_answer")


# ----------------------------------------------------------------- the phone's attended transfer

@dataclass(frozen=True)
class AttendedTransfer:
    """What Asterisk's AttendedTransfer event says about a transfer a phone
    completed (consult, then "transfer": SIP REFER with Replaces; the
    ami_bridge reads it, core decides)."""

    result: str                 # Result: Success, Fail, Invalid, Not Permitted
    transferer_channel: str     # OrigTransfererChannel: the seat's leg in the call with the citizen
    transferer_uniqueid: str    # OrigTransfererUniqueid
    consult_channel: str        # SecondTransfererChannel: the same seat's leg of the consultation
    transferee_channel: str     # TransfereeChannel: who was on the first call (the citizen)
    citizen_number: str         # TransfereeChanVariable HOTLINE_CITIZEN
    centre: str                 # TransfereeChanVariable HOTLINE_CENTRE: the centre handling the call
    linkedid: str               # TransfereeLinkedid: the citizen's call
    target_channel: str         # TransferTargetChannel: who was on the consultation


@dataclass(frozen=True)
class PhoneHandoff:
    """A handoff the seat's phone carried out itself and the target has
    answered already (an attended transfer): the order to record, accepted."""

    handoff_id: str             # the seat leg's uniqueid, as the key's fast path names a handoff
    source_centre: str
    source_seat: str
    target_centre: str
    target_seat: str
    seat_channel: str
    citizen_channel: str
    citizen_number: str         # "0" when withheld
    linkedid: str
    target_channel: str


def phone_attended_handoff(centres: tuple[Centre, ...], transfer: AttendedTransfer) -> PhoneHandoff | None:
    """A seat consulted a seat of another centre on its phone and completed the
    transfer: the citizen now talks to that seat (its display shows the
    citizen's number: Asterisk updates its connected line).  That is a
    handoff, accepted by that seat at once.  None for anything else — a
    failed transfer, a consultation with a colleague of the same centre, a
    transfer of a call with no citizen, names or ids not safe to record."""
    if transfer.result != "Success":
        return None
    seat = seat_of_channel(centres, transfer.transferer_channel)
    if seat is None or seat_extension_of_channel(transfer.consult_channel) != seat.extension:
        return None
    target = seat_of_channel(centres, transfer.target_channel)
    if target is None or target.centre == seat.centre:
        return None
    if not is_channel_name(transfer.transferee_channel) or seat_of_channel(centres, transfer.transferee_channel):
        return None
    if not (is_outbox_id(transfer.transferer_uniqueid) and is_linkedid(transfer.linkedid)
            and is_channel_name(transfer.transferer_channel) and is_channel_name(transfer.target_channel)):
        return None
    source = centre_by_id(centres, transfer.centre)
    return PhoneHandoff(
        handoff_id=transfer.transferer_uniqueid, source_centre=source.id if source else seat.centre,
        source_seat=seat.extension, target_centre=target.centre, target_seat=target.extension,
        seat_channel=transfer.transferer_channel, citizen_channel=transfer.transferee_channel,
        citizen_number=transfer.citizen_number if is_number(transfer.citizen_number) else "0",
        linkedid=transfer.linkedid, target_channel=transfer.target_channel)


# ----------------------------------------------------------------- outcomes

Outcome = Literal["accepted", "returned", "abandoned", "none"]


def outcome_of_end(state: str | None) -> Outcome:
    """The citizen's channel ended inside `hotline-handoff`: what the order becomes.

    `state` is the handoff's AstDB state: still `pending` means nobody answered
    before the citizen hung up (abandoned); `accepted` means the answer was
    seen (make sure the order says so); `returned` was recorded already.
    """
    if state == "pending":
        return "abandoned"
    if state == "accepted":
        return "accepted"
    return "none"


def return_reason(status: str | None) -> str:
    """The order's outcome_reason when the citizen comes back, from Queue's
    QUEUESTATUS or Dial's DIALSTATUS."""
    return {
        "TIMEOUT": "no_answer",
        "JOINEMPTY": "no_seat_logged_in",
        "LEAVEEMPTY": "no_seat_logged_in",
        "JOINUNAVAIL": "no_seat_logged_in",
        "LEAVEUNAVAIL": "no_seat_logged_in",
        "FULL": "target_full",
        "NOANSWER": "no_answer",
        "BUSY": "destination_busy",
        "CONGESTION": "destination_unreachable",
        "CHANUNAVAIL": "destination_unreachable",
        # over a peer trunk (hotline-handoff, trunk): the far platform
        # refused (busy, 4xx/5xx) or could not be reached (qualify, no route)
        "REJECTED": "rejected",
        "UNREACHABLE": "unreachable",
    }.get((status or "").upper(), "no_answer")


@dataclass(frozen=True)
class Acceptance:
    target_seat: str | None
    wait_ms: int


def acceptance(centres: tuple[Centre, ...], answering_channel: str | None, waited_ms: float) -> Acceptance:
    """Who accepted the handoff (the seat of the answering leg; None for an
    outside destination) and how long the citizen waited."""
    seat = seat_of_channel(centres, answering_channel)
    return Acceptance(seat.extension if seat else None, max(0, int(waited_ms)))


@dataclass
class ActiveHandoffs:
    """Citizen channels with a handoff being set up in this process: pressing
    twice (or key and button together) makes one order, not two."""

    channels: set[str] = field(default_factory=set)

    def claim(self, channel: str) -> bool:
        if channel in self.channels:
            return False
        self.channels.add(channel)
        return True

    def release(self, channel: str) -> None:
        self.channels.discard(channel)


# ----------------------------------------------------------------- settings

_DIAL = re.compile(r"^(?:PJSIP|Local|IAX2|DAHDI)/[A-Za-z0-9_.@+/:;\-]{1,200}$")
_DESTINATION = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def parse_routes(spec: str) -> dict[str, str]:
    """`120=PJSIP/120@city-trunk;95598=Local/95598@power-co/n` → {dest: dial string}.

    A dial string is one channel technology and resource, with no `,`, `$`,
    `(`, `&` or spaces: it goes into Dial() unchanged.  Raises ValueError.
    """
    routes: dict[str, str] = {}
    for part in [p.strip() for p in spec.split(";") if p.strip()]:
        dest, sep, dial = (x.strip() for x in part.partition("="))
        if not sep:
            raise ValueError(f"{part!r}: expected DESTINATION=DIALSTRING")
        if not _DESTINATION.match(dest):
            raise ValueError(f"destination {dest!r}: expected a number such as 120 or a name such as water")
        if dest in routes:
            raise ValueError(f"destination {dest} listed twice")
        if not _DIAL.match(dial):
            raise ValueError(f"{dest}: {dial!r} is not a dial string such as PJSIP/120@trunk or Local/120@ctx/n")
        routes[dest] = dial
    return routes


def parse_release_modes(spec: str, centre_ids: tuple[str, ...]) -> dict[str, str]:
    """`12345:on_answer;110:immediate` → {centre: mode}; centres left out use on_answer."""
    modes: dict[str, str] = {}
    for part in [p.strip() for p in spec.split(";") if p.strip()]:
        cid, sep, mode = (x.strip() for x in part.partition(":"))
        if not sep or mode not in RELEASE_MODES:
            raise ValueError(f"{part!r}: expected CENTRE:on_answer or CENTRE:immediate")
        if cid not in centre_ids:
            raise ValueError(f"{cid!r} is not a configured centre")
        modes[cid] = mode
    return modes


# how many ids a process remembers of what it wrote lately (`Recent`)
RECENT_KEPT = 10_000
V = TypeVar("V")


class Recent(Generic[V]):
    """The last `size` ids put, with a value each (oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, V] = OrderedDict()

    def put(self, key: str, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, key: str) -> V | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items
