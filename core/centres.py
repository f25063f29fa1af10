"""Centres and seats: the two hotlines and the people who answer them (pure).

A *centre* is one hotline desk: the 12345 government-service hotline or the
110 police desk.  Each centre has a public queue (citizens dialling it) and a
linkage queue (calls handed over from the other centre, answered first).
A *seat* is one call-taker position, identified by its extension.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from core.safety import UnsafeValue, check_token

SeatMode = Literal["sip", "simulated"]

# Simulated seats' phones (demo and tests): the test rig's dialplan context
# (dialplan/hotline-test-rig.conf.j2) a simulated seat's Local channel rings.
SIMULATED_SEAT_CONTEXT = "hotline-seat-phones"

CENTRE_NAMES = {
    "12345": "12345政务服务便民热线",
    "110": "110报警服务台",
}


@dataclass(frozen=True)
class Seat:
    extension: str
    centre: str

    def interface(self, mode: SeatMode) -> str:
        """The queue-member interface Asterisk dials for this seat.

        `sip`: the seat's PJSIP endpoint (a softphone registers to it).
        `simulated`: a Local channel into the `hotline-seat-phones` context,
        which answers like a phone would (demo and tests); `/n` keeps the
        Local channel from optimising away so its ;2 half stays the seat.
        """
        if mode == "sip":
            return f"PJSIP/{self.extension}"
        return f"Local/{self.extension}@{SIMULATED_SEAT_CONTEXT}/n"


@dataclass(frozen=True)
class Centre:
    id: str
    seats: tuple[Seat, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return CENTRE_NAMES.get(self.id, self.id)

    @property
    def queue(self) -> str:
        """Queue that citizens dialling this centre wait in."""
        return f"hotline-{self.id}"

    @property
    def linkage_queue(self) -> str:
        """Queue for calls handed over by the other centre (answered first)."""
        return f"hotline-{self.id}-linkage"


def parse_centres(spec: str) -> tuple[Centre, ...]:
    """Parse `12345:1001-1004,1010;110:2001-2002` into centres.

    Raises `UnsafeValue` naming the part that is wrong.
    """
    centres: list[Centre] = []
    seen_ext: set[str] = set()
    for part in [p.strip() for p in spec.split(";") if p.strip()]:
        if ":" not in part:
            raise UnsafeValue("HOTLINE_CENTRES", f"{part!r}: expected CENTRE:SEATS")
        cid, seats_spec = (x.strip() for x in part.split(":", 1))
        check_token("HOTLINE_CENTRES", cid)
        if not cid.isdigit():
            raise UnsafeValue("HOTLINE_CENTRES", f"centre {cid!r} must be a number such as 12345 or 110")
        if any(c.id == cid for c in centres):
            raise UnsafeValue("HOTLINE_CENTRES", f"centre {cid} listed twice")
        exts: list[str] = []
        for item in [s.strip() for s in seats_spec.split(",") if s.strip()]:
            if "-" in item:
                lo, hi = item.split("-", 1)
                if not (lo.isdigit() and hi.isdigit()) or int(lo) > int(hi) or int(hi) - int(lo) > 999:
                    raise UnsafeValue("HOTLINE_CENTRES", f"bad seat range {item!r}")
                exts.extend(str(n) for n in range(int(lo), int(hi) + 1))
            elif item.isdigit():
                exts.append(item)
            else:
                raise UnsafeValue("HOTLINE_CENTRES", f"bad seat {item!r}")
        if not exts:
            raise UnsafeValue("HOTLINE_CENTRES", f"centre {cid} has no seats")
        for ext in exts:
            if ext in seen_ext:
                raise UnsafeValue("HOTLINE_CENTRES", f"seat {ext} belongs to two centres")
            if ext == cid:
                raise UnsafeValue("HOTLINE_CENTRES", f"seat {ext} collides with centre number")
            seen_ext.add(ext)
        centres.append(Centre(cid, tuple(Seat(e, cid) for e in exts)))
    if not centres:
        raise UnsafeValue("HOTLINE_CENTRES", "no centre configured")
    return tuple(centres)


def seat_by_extension(centres: tuple[Centre, ...], extension: str) -> Seat | None:
    for centre in centres:
        for seat in centre.seats:
            if seat.extension == extension:
                return seat
    return None


def centre_by_id(centres: tuple[Centre, ...], cid: str) -> Centre | None:
    return next((c for c in centres if c.id == cid), None)


def centre_by_queue(centres: tuple[Centre, ...], queue: str) -> Centre | None:
    return next((c for c in centres if queue in (c.queue, c.linkage_queue)), None)


def centres_spec(centres: tuple[Centre, ...]) -> str:
    """The inverse of `parse_centres` (seats listed one by one)."""
    return ";".join(f"{c.id}:{','.join(s.extension for s in c.seats)}" for c in centres)
