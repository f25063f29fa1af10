"""SIP trunks between platforms, and the centres reached through them (pure).

A city links its platforms' PBXs by SIP trunks (DESIGN.md §8): the 12345
platform's Asterisk and the 110 platform's, a remote-seat PBX, a carrier.
`HOTLINE_TRUNKS` declares them, `HOTLINE_REMOTE_CENTRES` says which centre
lives behind which trunk:

    HOTLINE_TRUNKS=peer-110=sip:10.0.0.2:5060;match=10.0.0.2:5060;transport=udp;kind=peer
    HOTLINE_REMOTE_CENTRES=110=peer-110

A `peer` trunk links to another hotline platform: calls from it are trusted
(identity and X-Hotline-Handoff read), calls to it carry the citizen's number
in P-Asserted-Identity.  A `carrier` trunk faces the public network: nothing
arriving on it is trusted, and no internal identity is sent on it.

Several trunks are separated by `,`; a trunk's options by `;`:
`match=ip[:port]` (required: where its calls come from), `transport=udp|tcp`
(udp), `kind=peer|carrier` (peer), `qualify=<s>` (30; 0 is refused: every
trunk is watched), `auth=<user>:<ENV_VAR>` (outbound digest auth, the
password read from that variable; never written in the trunk's line),
`max=<n>` (1-1000: at most n remote-overflow calls at once over this trunk,
ringing or talking — its overflow members share it; unset: no limit but the
far side's).
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

TrunkKind = Literal["peer", "carrier"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
_USER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ENV = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_CENTRE = re.compile(r"^[0-9]{2,8}$")
# names the seats' endpoints and the rendered sections use
RESERVED = frozenset({"global", "transport-udp", "transport-tcp", "anonymous"})


class TrunkError(ValueError):
    """A trunk or remote centre is declared wrongly; `env` names the
    variable at fault when it is not the list's own (an auth secret)."""

    def __init__(self, reason: str, env: str | None = None) -> None:
        super().__init__(reason)
        self.env = env


@dataclass(frozen=True)
class Trunk:
    name: str
    host: str
    port: int
    match: str                 # ip or ip:port (identify)
    transport: Literal["udp", "tcp"] = "udp"
    kind: TrunkKind = "peer"
    qualify_s: int = 30
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    max_calls: int | None = None   # max=: concurrent remote-overflow calls over it (core/overflow.py)

    @property
    def contact(self) -> str:
        suffix = ";transport=tcp" if self.transport == "tcp" else ""
        return f"sip:{self.host}:{self.port}{suffix}"

    def dial(self, number: str) -> str:
        """The dial string of `number` over this trunk."""
        return f"PJSIP/{number}@{self.name}"


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise TrunkError(f"{what}: {text!r} is not a port (1-65535)")
    return int(text)


def _match(text: str, name: str) -> str:
    address, _, port = text.partition(":")
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        raise TrunkError(f"trunk {name}: match={text!r}: expected an IPv4 address, optionally :port") from None
    if port:
        _port(port, f"trunk {name} match")
    return text


def parse_trunks(spec: str, env: Mapping[str, str]) -> tuple[Trunk, ...]:
    """`HOTLINE_TRUNKS` → trunks.  Raises TrunkError."""
    trunks: list[Trunk] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        name, sep, rest = (x.strip() for x in part.partition("="))
        if not sep or not _NAME.match(name) or name in RESERVED:
            raise TrunkError(f"{part!r}: expected NAME=sip:HOST:PORT;match=IP[:PORT]... "
                             "(NAME lower-case letters, digits and -)")
        if any(t.name == name for t in trunks):
            raise TrunkError(f"trunk {name} declared twice")
        uri, *options = [o.strip() for o in rest.split(";")]
        m = re.fullmatch(r"sip:([^:;]+):([0-9]+)", uri)
        if m is None or not _HOST.match(m.group(1)):
            raise TrunkError(f"trunk {name}: {uri!r}: expected sip:HOST:PORT")
        opts: dict[str, str] = {}
        for option in options:
            key, eq, value = option.partition("=")
            if not eq or key not in ("match", "transport", "kind", "qualify", "auth", "max") or key in opts:
                raise TrunkError(f"trunk {name}: {option!r}: options are match, transport, kind, qualify, auth, "
                                 "max (each once)")
            opts[key] = value
        if "match" not in opts:
            raise TrunkError(f"trunk {name}: match=IP[:PORT] is required (where its calls come from)")
        transport = opts.get("transport", "udp")
        if transport not in ("udp", "tcp"):
            raise TrunkError(f"trunk {name}: transport={transport!r}: expected udp or tcp")
        kind = opts.get("kind", "peer")
        if kind not in ("peer", "carrier"):
            raise TrunkError(f"trunk {name}: kind={kind!r}: expected peer or carrier")
        qualify = opts.get("qualify", "30")
        if not qualify.isdigit() or not 1 <= int(qualify) <= 3600:
            raise TrunkError(f"trunk {name}: qualify={qualify!r}: seconds from 1 to 3600 (every trunk is watched)")
        max_calls = None
        if "max" in opts:
            if not opts["max"].isdigit() or not 1 <= int(opts["max"]) <= 1000:
                raise TrunkError(f"trunk {name}: max={opts['max']!r}: remote-overflow calls at once, 1 to 1000")
            max_calls = int(opts["max"])
        username = password = None
        if "auth" in opts:
            username, colon, variable = opts["auth"].partition(":")
            if not colon or not _USER.match(username) or not _ENV.match(variable):
                raise TrunkError(f"trunk {name}: auth={opts['auth']!r}: expected USER:ENV_VAR "
                                 "(the password in that variable)")
            password = env.get(variable) or ""
            if len(password) < 12 or any(c in password for c in "\r\n;#\"\\"):
                raise TrunkError(f"the password of trunk {name} must be set, at least 12 characters, "
                                 "without ; # quotes or backslashes", env=variable)
        trunks.append(Trunk(name=name, host=m.group(1), port=_port(m.group(2), f"trunk {name}"),
                            match=_match(opts["match"], name), transport=transport,  # type: ignore[arg-type]
                            kind=kind, qualify_s=int(qualify), username=username,  # type: ignore[arg-type]
                            password=password, max_calls=max_calls))
    return tuple(trunks)


def parse_remote_centres(spec: str, trunks: tuple[Trunk, ...]) -> dict[str, str]:
    """`HOTLINE_REMOTE_CENTRES`: `110=peer-110;119=peer-119` → {centre: trunk}.
    The trunk must be declared and a peer's (a carrier trunk carries no handoff)."""
    by_name = {t.name: t for t in trunks}
    centres: dict[str, str] = {}
    for part in [p.strip() for p in spec.split(";") if p.strip()]:
        centre, sep, trunk = (x.strip() for x in part.partition("="))
        if not sep or not _CENTRE.match(centre):
            raise TrunkError(f"{part!r}: expected CENTRE=TRUNK, e.g. 110=peer-110")
        if centre in centres:
            raise TrunkError(f"centre {centre} listed twice")
        if trunk not in by_name:
            raise TrunkError(f"centre {centre}: trunk {trunk!r} is not declared in HOTLINE_TRUNKS")
        if by_name[trunk].kind != "peer":
            raise TrunkError(f"centre {centre}: trunk {trunk} is a carrier trunk; a centre is reached "
                             "through a peer trunk")
        centres[centre] = trunk
    return centres


# X-Hotline-Handoff: <id>;src=<centre>;seat=<seat>[;order=<number>] — what the
# receiving dialplan accepts (POSIX ERE, read alike by Python's re).
HANDOFF_HEADER = "X-Hotline-Handoff"
# The order part: the sending platform's order number (12345-20261130-0001).
ORDER_NUMBER_PATTERN = "[-A-Za-z0-9]{1,40}"
HANDOFF_HEADER_PATTERN = ("^[A-Za-z0-9][-A-Za-z0-9._]{0,63};src=[0-9]{2,8};seat=[0-9]{1,32}"
                          f"(;order={ORDER_NUMBER_PATTERN})?$")
HANDOFF_HEADER_MAX = 160


def header_value(handoff_id: str, source_centre: str, seat: str, order: str | None = None) -> str:
    """The header's value from its parts, unchecked (the dialplan renders it
    from variable references: core/fast_path.py REMOTE_HEADER)."""
    return f"{handoff_id};src={source_centre};seat={seat}" + (f";order={order}" if order else "")


def handoff_header(handoff_id: str, source_centre: str, seat: str, order: str | None = None) -> str:
    """The X-Hotline-Handoff value; `order`: the sending platform's order
    number (its 工单/警单 number, `12345-20261130-0001`) when the order exists
    before the call moves.  Raises ValueError on an unsafe value."""
    value = header_value(handoff_id, source_centre, seat, order)
    if not is_handoff_header(value):
        raise ValueError(f"not a safe {HANDOFF_HEADER} value: {value!r}")
    return value


def is_handoff_header(value: str | None) -> bool:
    return bool(value) and len(value or "") <= HANDOFF_HEADER_MAX \
        and re.fullmatch(HANDOFF_HEADER_PATTERN, value or "") is not None


def is_order_number(value: str | None) -> bool:
    """An order number the header may carry (order=)."""
    return bool(value) and re.fullmatch(ORDER_NUMBER_PATTERN, value or "") is not None
