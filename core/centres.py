"""Centres and seats: the two hotlines and the people who answer them (pure).

A *centre* is one hotline desk: the 12345 government-service hotline or the
110 police desk.  Each centre has a public queue (citizens dialling it) and a
linkage queue (calls handed over from the other centre, answered first).
A *seat* is one call-taker position, identified by its extension.
"""
from __future__ import annotations

from collections.abc import Iterable
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


# A provincial platform runs a few thousand seats: the cap only stops a typo
# (`1001-100100`) from rendering a configuration nobody meant.
MAX_SEATS = 10_000
SEAT_MAX_DIGITS = 20


def parse_centres(spec: str) -> tuple[Centre, ...]:
    """Parse `12345:1001-1004,1010;110:2001-2002` into centres.  A range
    `LOW-HIGH` is every number from LOW to HIGH (`1001-1200`: 200 seats);
    at most MAX_SEATS seats in all.

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
                lo, hi = lo.strip(), hi.strip()
                if not (_is_extension(lo) and _is_extension(hi)) or int(lo) > int(hi):
                    raise UnsafeValue("HOTLINE_CENTRES", f"bad seat range {item!r}")
                if len(seen_ext) + len(exts) + int(hi) - int(lo) + 1 > MAX_SEATS:
                    raise UnsafeValue("HOTLINE_CENTRES", f"more than {MAX_SEATS} seats")
                exts.extend(str(n) for n in range(int(lo), int(hi) + 1))
            elif _is_extension(item):
                exts.append(item)
            else:
                raise UnsafeValue("HOTLINE_CENTRES", f"bad seat {item!r}")
        if not exts:
            raise UnsafeValue("HOTLINE_CENTRES", f"centre {cid} has no seats")
        if len(seen_ext) + len(exts) > MAX_SEATS:
            raise UnsafeValue("HOTLINE_CENTRES", f"more than {MAX_SEATS} seats")
        for ext in exts:
            if ext in seen_ext:
                raise UnsafeValue("HOTLINE_CENTRES", f"seat {ext} belongs to two centres")
            if ext == cid:
                raise UnsafeValue("HOTLINE_CENTRES", f"seat {ext} collides with centre number")
            seen_ext.add(ext)
        centres.append(Centre(cid, tuple(Seat(e, cid) for e in exts)))
    if not centres:
        raise UnsafeValue("HOTLINE_CENTRES", "no centre configured")
    clash = sorted(seen_ext & {c.id for c in centres})
    if clash:  # a seat's phone dials a centre by its number
        raise UnsafeValue("HOTLINE_CENTRES", f"seat {clash[0]} collides with centre number")
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


def _is_extension(value: str) -> bool:
    return value.isdigit() and value.isascii() and len(value) <= SEAT_MAX_DIGITS


def extension_runs(extensions: Iterable[str]) -> list[tuple[str, str]]:
    """Consecutive numbers of the same length as (first, last), in order:
    `1001 1002 1003 1010` → (1001, 1003), (1010, 1010)."""
    runs: list[tuple[str, str]] = []
    for ext in extensions:
        if runs:
            first, last = runs[-1]
            if len(ext) == len(last) and int(ext) == int(last) + 1 and str(int(ext)) == ext:
                runs[-1] = (first, ext)
                continue
        runs.append((ext, ext))
    return runs


def centres_spec(centres: tuple[Centre, ...]) -> str:
    """The inverse of `parse_centres`, consecutive seats as ranges:
    2,000 seats in a few dozen characters."""
    def seats(c: Centre) -> str:
        return ",".join(lo if lo == hi else f"{lo}-{hi}" for lo, hi in extension_runs(s.extension for s in c.seats))
    return ";".join(f"{c.id}:{seats(c)}" for c in centres)


def extension_patterns(extensions: Iterable[str]) -> list[str]:
    """Asterisk extension patterns matching exactly `extensions` (digits):
    `1001`…`1200` → `_100[1-9]`, `_10[1-9]X`, `_11XX`, `1200`.  The dialplan
    then knows 2,000 seats in a handful of lines."""
    return [p for lo, hi in extension_runs(extensions) for p in _range_patterns(lo, hi)]


def _range_patterns(lo: str, hi: str) -> list[str]:
    """Patterns for every number from `lo` to `hi` (same length)."""
    if lo == hi:
        return [lo]
    common = 0
    while lo[common] == hi[common]:
        common += 1
    prefix, lo_rest, hi_rest = lo[:common], lo[common:], hi[common:]
    if set(lo_rest) == {"0"} and set(hi_rest) == {"9"}:
        return ["_" + prefix + "X" * len(lo_rest)]
    if len(lo_rest) == 1:
        return ["_" + prefix + f"[{lo_rest}-{hi_rest}]"]
    tail = len(lo_rest) - 1
    out: list[str] = []
    first, last = int(lo_rest[0]), int(hi_rest[0])
    if set(lo_rest[1:]) != {"0"}:  # lo's first digit only partly: from lo to lo[0]99…
        out += _range_patterns(lo, prefix + lo_rest[0] + "9" * tail)
        first += 1
    whole_last = set(hi_rest[1:]) == {"9"}
    middle_end = last if whole_last else last - 1
    if first <= middle_end:  # whole blocks of the digit after the prefix
        digit = str(first) if first == middle_end else f"[{first}-{middle_end}]"
        out.append("_" + prefix + digit + "X" * tail)
    if not whole_last:
        out += _range_patterns(prefix + hi_rest[0] + "0" * tail, hi)
    return out
