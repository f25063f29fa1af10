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
  the target): nothing moves, the seat hears `Refusal.prompt`.

The adapters (AGI route for the key, AMI for the button) apply the plan;
`app.handoff.services` records the order.  Nothing here does I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from core import channel_vars as cv
from core.centres import Centre, Seat, SeatMode, centre_by_id, seat_by_extension
from core.safety import is_number

ReleaseMode = Literal["on_answer", "immediate"]
RELEASE_MODES: tuple[str, ...] = ("on_answer", "immediate")
"""成功转 `on_answer` (default): the transferring seat hears ringback and is freed
the moment a target seat answers.  释放转 `immediate`: freed at once."""

# The diversion catalogues' destinations other than the two linked centres
# (Qinzhou annex 2, Pingliang annex 1).  Utilities are named by a token in the
# settings (e.g. `water`, `power`); any destination needs a configured route.
CATALOGUE_HOTLINES: tuple[str, ...] = ("119", "120", "122", "12315", "12348", "12365", "95598", "12123",
                                       "12320", "12328", "12305", "12119", "12313", "12395")

# What the seat hears when a transfer is refused or fails (core sounds that
# ship with Debian's asterisk-core-sounds-en).  Only these names ever reach
# Playback(): the dialplan plays what Python chose from this table.
PROMPTS: dict[str, str] = {
    "no_citizen": "feature-not-avail-line",     # nobody to hand over on this call
    "not_a_seat": "feature-not-avail-line",
    "own_centre": "pbx-invalid",                # the target is the seat's own centre
    "unknown_target": "pbx-invalid",
    "no_route": "cannot-complete-as-dialed",    # a catalogue destination with no route
    "no_seat_logged_in": "all-circuits-busy-now",
    "already_transferring": "beeperr",
    "error": "please-try-again",                # the AGI, database or AMI failed
    "no_answer": "number-not-answering",        # played to the seat the citizen comes back to
}

# AstDB family holding each live handoff's state (pending / accepted / returned);
# the dialplan's hold loop and hangup handler read it.
ASTDB_FAMILY = "hotline-handoff"
# The handoff key's outbox (hotline-handoff-key, key): one record per order
# decided in dialplan, written before the citizen moves, deleted once the
# order is in SQL.  And the per-call guard against a second press.
OUTBOX_FAMILY = "hotline-handoff-outbox"
CALL_GUARD_FAMILY = "hotline-handoff-call"
# The transferring seat leg's name, per handoff: a citizen that comes back rings that seat.
SEAT_LEG_FAMILY = "hotline-handoff-seat"
# How a fast-path handoff ended while its order was still in the outbox: the
# AstDB state then (pending / accepted / returned), or `lost` (the citizen
# hung up before the move).  The sweep applies it after recording the order.
ENDED_FAMILY = "hotline-handoff-ended"

_SEAT_CHANNEL = re.compile(
    r"^(?:Local/(?P<local>[0-9]{1,32})@hotline-seat-phones-[0-9a-f]+;[12]"
    r"|PJSIP/(?P<pjsip>[0-9]{1,32})-[0-9a-f]+)$")
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9/@;_.+:\-]{1,128}$")


def is_channel_name(value: str | None) -> bool:
    """A channel name safe to hand to AMI or EXPORT() (no `,`, `$`, CR/LF)."""
    return bool(value) and _CHANNEL_NAME.match(value or "") is not None


def seat_of_channel(centres: tuple[Centre, ...], channel: str | None) -> Seat | None:
    """The configured seat a channel belongs to: `PJSIP/1001-0000000a` (SIP
    seats) or `Local/1001@hotline-seat-phones-0000002a;1` (simulated seats)."""
    match = _SEAT_CHANNEL.match(channel or "")
    if match is None:
        return None
    return seat_by_extension(centres, match.group("local") or match.group("pjsip"))


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


@dataclass(frozen=True)
class Refusal:
    reason: str

    @property
    def prompt(self) -> str:
        return PROMPTS.get(self.reason, PROMPTS["error"])


@dataclass(frozen=True)
class HandoffPlan:
    """A handoff that goes ahead.  `order_*` fields are what the order records."""

    source_centre: str
    source_seat: Seat
    target: str                 # centre id or catalogue destination
    target_centre: str          # the centre id, or the destination for catalogue targets
    queue: str | None           # the target centre's linkage queue (centre targets)
    dial: str | None            # the destination's dial string (catalogue targets)
    citizen_number: str
    citizen_channel: str
    seat_channel: str
    release_mode: ReleaseMode
    timeout_s: int
    return_dial: str            # how the citizen rings the transferring seat again
    return_device: str          # that seat's device, to see whether it is free
    category: str | None = None
    note: str | None = None
    linkedid: str | None = None
    via: str = "key"

    @property
    def is_centre(self) -> bool:
        return self.queue is not None

    def citizen_variables(self, handoff_id: str) -> dict[str, str]:
        """Variables set on the citizen's channel before it is moved.

        `__HOTLINE_HANDOFF_ID` is inherited by every leg the citizen's channel
        creates, so the seat that answers carries the handoff id (its desktop
        pops the order).  HOTLINE_CENTRE becomes the target centre.
        """
        variables = {
            f"__{cv.HANDOFF_ID}": handoff_id,
            cv.HANDOFF_QUEUE: self.queue or "",
            cv.HANDOFF_DIAL: self.dial or "",
            cv.HANDOFF_TIMEOUT: str(self.timeout_s),
            cv.RETURN_CENTRE: self.source_centre,
            cv.RETURN_DIAL: self.return_dial,
            cv.RETURN_DEVICE: self.return_device,
        }
        if self.is_centre:
            variables[f"__{cv.CENTRE}"] = self.target_centre
        return variables


def seat_interfaces(seat: Seat, mode: SeatMode) -> tuple[str, str]:
    """(dial string, device) of a seat: how to ring it back, how to see it is free."""
    if mode == "sip":
        return f"PJSIP/{seat.extension}", f"PJSIP/{seat.extension}"
    return f"Local/{seat.extension}@hotline-seat-phones/n", f"Local/{seat.extension}@hotline-seat-phones"


def plan_handoff(
    request: HandoffRequest,
    *,
    centres: tuple[Centre, ...],
    seat_mode: SeatMode,
    routes: dict[str, str],
    release_modes: dict[str, str],
    timeout_s: int,
) -> HandoffPlan | Refusal:
    """Decide the handoff for `request` (see the module docstring).

    The citizen hears ringback while waiting; the target sees the citizen's
    number (HOTLINE_CITIZEN, the channel's own caller ID).  A withheld number
    is handed over as withheld (`0` in the order): the citizen is still served.
    """
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
        partner = partner_centre(centres, source.id)
        if partner is None:
            return Refusal("unknown_target")
        target = partner.id
    target_centre = centre_by_id(centres, target)
    if target_centre is not None and target_centre.id == source.id:
        return Refusal("own_centre")
    dial = None
    if target_centre is None:
        dial = routes.get(target)
        if dial is None:
            return Refusal("no_route")
    return_dial, return_device = seat_interfaces(seat, seat_mode)
    mode = release_modes.get(source.id, "on_answer")
    return HandoffPlan(
        source_centre=source.id,
        source_seat=seat,
        target=target,
        target_centre=target_centre.id if target_centre else target,
        queue=target_centre.linkage_queue if target_centre else None,
        dial=dial,
        citizen_number=request.citizen_number if is_number(request.citizen_number) else "0",
        citizen_channel=request.citizen_channel,
        seat_channel=request.seat_channel or "",
        release_mode="immediate" if mode == "immediate" else "on_answer",
        timeout_s=timeout_s,
        return_dial=return_dial,
        return_device=return_device,
        category=request.category or None,
        note=request.note or None,
        linkedid=request.linkedid or None,
        via=request.via,
    )


# ----------------------------------------------------------------- the outbox

# The transferring seat leg's uniqueid (`<epoch>.<n>`, with `<systemname>-`
# in front when asterisk.conf sets one): one handoff per seat leg.
_OUTBOX_ID = re.compile(r"^(?:[A-Za-z0-9_]{1,20}-)?[0-9]{9,12}\.[0-9]{1,10}$")


def is_outbox_id(value: str | None) -> bool:
    """An id the dialplan path gives a handoff: the seat leg's uniqueid."""
    return bool(value) and len(value or "") <= 36 and _OUTBOX_ID.match(value or "") is not None


@dataclass(frozen=True)
class OutboxRecord:
    """A handoff the dialplan decided and carried out (hotline-handoff-key, key).

    Written to AstDB `hotline-handoff-outbox/<id>` as
    `v1|<epoch.micro>|<seat channel>|<citizen channel>|<citizen number>|
    <source centre>|<seat>|<target centre>|<linkedid>|<release mode>`
    (`<seat>` may be empty: it is then read from the seat channel's name)
    before the citizen moved: the order must exist from that moment, so its
    created_at is the key press, not the time Python saw it.
    """

    handoff_id: str
    pressed_at: float        # epoch seconds of the key press
    seat_channel: str
    citizen_channel: str
    citizen_number: str
    source_centre: str
    source_seat: str
    target_centre: str
    linkedid: str
    release_mode: ReleaseMode


def parse_outbox(handoff_id: str, value: str | None) -> OutboxRecord | None:
    """The outbox record `value` stored under `handoff_id`; None if it is not one
    (never raises: a bad record is logged and left by the caller)."""
    parts = (value or "").split("|")
    if len(parts) != 10 or parts[0] != "v1" or not is_outbox_id(handoff_id):
        return None
    _, at, seat_channel, citizen_channel, number, source, seat, target, linkedid, mode = parts
    try:
        pressed_at = float(at)
    except ValueError:
        return None
    if not seat:  # the dialplan path leaves it to the seat leg's name
        match = _SEAT_CHANNEL.match(seat_channel)
        seat = (match.group("local") or match.group("pjsip")) if match else ""
    if not (is_channel_name(seat_channel) and is_channel_name(citizen_channel) and source and target
            and seat.isdigit() and mode in RELEASE_MODES and 0 < len(linkedid) <= 64):
        return None
    return OutboxRecord(handoff_id=handoff_id, pressed_at=pressed_at, seat_channel=seat_channel,
                        citizen_channel=citizen_channel,
                        citizen_number=number if is_number(number) else "0",
                        source_centre=source, source_seat=seat, target_centre=target, linkedid=linkedid,
                        release_mode="immediate" if mode == "immediate" else "on_answer")


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
