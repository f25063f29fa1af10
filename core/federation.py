"""Orders across two platforms (工单⇄警单): documents, statuses, signatures, codes (pure).

Two hotline-link platforms — 12345 on one, 110 on the other, each with its
own order database — exchange orders over HTTP (`app.federation`).  This
module holds the rules both ends share, with no I/O:

* **Peers** (`PeerSpec`, `parse_peers`): who this platform talks to, which
  centres each peer runs, where it listens and which variable holds the
  shared secret.
* **Documents** (`order_document`, `status_document`, `check_order_document`,
  `check_status_document`): what is pushed.  An `order` document hands an
  order over (seq 1); a `status` document reports a change of it (seq 2, 3,
  ... from the sender of the order; 1, 2, ... from its receiver).  `seq` is
  per order and per sending side; the receiver applies seq n only after
  n-1, so replays change nothing and reordering is refused until the gap is
  filled (`seq_verdict`).
* **Statuses** (`PUSHED_BY`, `pushed_status`): which local transitions of a
  linked order the peer must learn — the receiver's 签收 signed, on_site,
  反馈 feedback, 退单 returned, 办结 closed; the sender's re-dispatch after
  a return and its withdrawal (voided).  The peer's status is applied as the
  same status of the peer's own order when the state machine allows it.
* **Signatures** (`canonical_request`, `sign`, `check_timestamp`):
  HMAC-SHA256 over method, path, timestamp, nonce and the body's SHA-256.
* **Codes**: 行政区划代码 (GB/T 2260, 6/9/12 digits) and 统一社会信用代码
  (GB 32100, 18 characters with its check character).

Errors: `DocumentError(field, reason)` for a bad document, `PeerError` for
bad peer configuration (both ValueErrors).
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

VERSION = 1

Side = Literal["out", "in"]
"""`out`: this platform sent the order to the peer; `in`: received it from the peer."""

# Statuses a side reports to the other, by the side whose order changed.
PUSHED_BY: dict[str, frozenset[str]] = {
    # the receiving platform (110 for a 12345 handoff): 签收, on site, 反馈, 退单, 办结
    "in": frozenset({"signed", "on_site", "feedback", "returned", "closed"}),
    # the sending platform: sends it again after a 退单, or withdraws it
    "out": frozenset({"dispatched", "voided"}),
}
# What the receiver of a status document may apply: the other side's list.
APPLIED_BY: dict[str, frozenset[str]] = {"out": PUSHED_BY["in"], "in": PUSHED_BY["out"]}

STATUS_LABELS = {"signed": "签收", "on_site": "到场", "feedback": "反馈", "returned": "退单", "closed": "办结",
                 "dispatched": "重新派发", "voided": "撤回"}

HEADER_PEER = "X-Hotline-Peer"
HEADER_TIMESTAMP = "X-Hotline-Timestamp"
HEADER_NONCE = "X-Hotline-Nonce"
HEADER_SIGNATURE = "X-Hotline-Signature"
SIGNATURE_PREFIX = "v1="

_TOKEN = re.compile(r"^[A-Za-z0-9_.+\-]{1,64}$")
_NONCE = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")
_DIVISION = re.compile(r"^[1-9][0-9]{5}(?:[0-9]{3}(?:[0-9]{3})?)?$")
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VAR = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class DocumentError(ValueError):
    """A pushed document is malformed; `field` is its dotted path."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class PeerError(ValueError):
    """A peer declaration is malformed."""


# --- codes -----------------------------------------------------------------

def is_division_code(value: str) -> bool:
    """行政区划代码: 6 digits (county and above), 9 (township) or 12 (village), not starting with 0."""
    return bool(_DIVISION.match(value))


def uscc_check_char(first17: str) -> str:
    """The 18th character of a 统一社会信用代码 (GB 32100-2015: weights 3^i mod 31)."""
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def is_org_code(value: str) -> bool:
    """An 18-character 统一社会信用代码 whose check character is right."""
    if len(value) != 18 or any(c not in _USCC_CHARS for c in value):
        return False
    return uscc_check_char(value[:17]) == value[17]


# --- peers -----------------------------------------------------------------

@dataclass(frozen=True)
class PeerSpec:
    """A peer as declared: `name` (how it signs its requests, and how this
    platform signs to it is `Settings.federation.name`), the centres it runs,
    its base URL, and the environment variable holding the shared secret."""

    name: str
    url: str
    centres: tuple[str, ...]
    secret_env: str
    mapping: str | None = None  # a foreign peer's field mapping (data/federation/<mapping>.json)


def parse_peers(text: str) -> tuple[PeerSpec, ...]:
    """`name=URL centres=110,122 secret_env=VAR [mapping=NAME]; name2=URL ...`.

    `mapping=NAME`: the peer does not run hotline-link; it speaks the field
    names of `data/federation/NAME.json` (`core.federation_mapping`).

    Peers are separated by `;`; within one, the first item is `name=URL`
    and the others `key=value`, separated by spaces.  Raises `PeerError`
    saying which peer and what is wrong.
    """
    peers: list[PeerSpec] = []
    for index, chunk in enumerate(c.strip() for c in text.split(";")):
        if not chunk:
            continue
        head, *rest = chunk.split()
        name, sep, url = head.partition("=")
        where = f"peer {index + 1} ({name or head!r})"
        if not sep or not _TOKEN.match(name):
            raise PeerError(f"{where}: must start with NAME=URL, NAME of [A-Za-z0-9_.+-]")
        if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(?::[0-9]{1,5})?(/[A-Za-z0-9._~/\-]*)?$", url):
            raise PeerError(f"{where}: {url!r} is not an http:// or https:// base URL")
        items: dict[str, str] = {}
        for item in rest:
            key, sep, value = item.partition("=")
            if not sep or key not in ("centres", "secret_env", "mapping"):
                raise PeerError(f"{where}: {item!r}: expected centres=A,B, secret_env=VARIABLE or mapping=NAME")
            items[key] = value
        centres = tuple(c for c in items.get("centres", "").split(",") if c)
        if not centres or any(not _TOKEN.match(c) for c in centres):
            raise PeerError(f"{where}: centres=ID[,ID] is required (the centres the peer runs)")
        secret_env = items.get("secret_env", "")
        if not _VAR.match(secret_env):
            raise PeerError(f"{where}: secret_env=VARIABLE is required (the variable holding the shared secret)")
        if any(p.name == name for p in peers):
            raise PeerError(f"{where}: declared twice")
        taken = {c for p in peers for c in p.centres} & set(centres)
        if taken:
            raise PeerError(f"{where}: centre {sorted(taken)[0]} belongs to another peer")
        mapping = items.get("mapping")
        if mapping is not None and not re.match(r"^[a-z0-9][a-z0-9_.\-]{0,63}$", mapping):
            raise PeerError(f"{where}: mapping={mapping!r}: the name of a file in data/federation (without .json)")
        peers.append(PeerSpec(name=name, url=url.rstrip("/"), centres=centres, secret_env=secret_env,
                              mapping=mapping))
    return tuple(peers)


def parse_schedule(text: str) -> tuple[float, ...]:
    """Retry delays in seconds, comma-separated: `5,15,30,60`.  Raises ValueError."""
    try:
        delays = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{text!r}: expected seconds separated by commas, e.g. 5,15,30,60") from None
    if not delays or any(not 0 < d <= 86400 for d in delays):
        raise ValueError(f"{text!r}: at least one delay, each from 0 (excluded) to 86400 seconds")
    return delays


def retry_delay(attempts: int, schedule: tuple[float, ...], jitter: float, draw: float) -> float | None:
    """Seconds to wait after the `attempts`-th failed try, or None when the
    schedule is spent (the item is then failed).  `draw` in [0, 1) spreads
    the delay by up to ±`jitter` of itself, so peers coming back are not hit
    by every sender at once."""
    if attempts < 1 or attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return max(0.0, base * (1 + jitter * (2 * draw - 1)))


# --- signatures ------------------------------------------------------------

def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """What is signed: one line each for method, path (no query), timestamp,
    nonce and the body's SHA-256 in hex."""
    return "\n".join((method.upper(), path, timestamp, nonce, body_digest(body))).encode("utf-8")


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes, *,
         prefix: str = SIGNATURE_PREFIX) -> str:
    mac = hmac.new(secret.encode("utf-8"), canonical_request(method, path, timestamp, nonce, body), hashlib.sha256)
    return prefix + mac.hexdigest()


def signature_matches(secret: str, signature: str, method: str, path: str, timestamp: str, nonce: str,
                      body: bytes, *, prefix: str = SIGNATURE_PREFIX) -> bool:
    return hmac.compare_digest(sign(secret, method, path, timestamp, nonce, body, prefix=prefix).encode(),
                               signature.encode())


def check_timestamp(timestamp: str, now: float, window_s: float) -> str | None:
    """None if `timestamp` (Unix seconds) is within `window_s` of `now`; else why not."""
    if not timestamp.isdigit() or len(timestamp) > 12:
        return "timestamp must be Unix seconds"
    if abs(int(timestamp) - now) > window_s:
        return f"timestamp outside the {window_s:g} s window"
    return None


def check_nonce(nonce: str) -> str | None:
    return None if _NONCE.match(nonce) else "nonce must be 16-64 characters of [A-Za-z0-9_-]"


# --- documents -------------------------------------------------------------

ORDER_FIELDS: dict[str, int] = {
    # field: max length (text); the others are typed below
    "id": 36, "number": 40, "mode": 20, "order_class": 10, "citizen_number": 32, "citizen_name": 64,
    "category": 32, "content": 4000, "address": 256, "source_centre": 16, "target_centre": 16,
    "source_seat": 32, "linkedid": 64, "division_code": 12, "created_at": 40,
}
ORDER_REQUIRED = frozenset({"id", "number", "mode", "citizen_number", "source_centre", "target_centre",
                            "created_at"})


def order_document(*, seq: int, sender: Mapping[str, Any], order: Mapping[str, Any], sent_at: datetime,
                   by: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `order` document: the order handed over, and who hands it over
    (`sender`: platform, org_code, division_code, unit; `by`: the actor who
    made the order, e.g. `seat:1001`)."""
    doc = {"version": VERSION, "kind": "order", "seq": seq, "sent_at": sent_at.isoformat(),
           "sender": dict(sender),
           "order": {k: v for k, v in order.items() if k in ORDER_FIELDS or k == "emergency"}}
    if by:
        doc["by"] = dict(by)
    return doc


def status_document(*, seq: int, sender: Mapping[str, Any], status: str, at: datetime, order: Mapping[str, Any],
                    your_order: Mapping[str, Any], by: Mapping[str, Any], reason: str | None = None,
                    handling: str | None = None, result: str | None = None) -> dict[str, Any]:
    """The `status` document: `order` (the sender's id and number) moved to
    `status` at `at`; `your_order` is the receiver's order (id, number) as
    far as the sender knows it; `by` who did it (name, unit, unit_code).
    退单 carries `reason`; 反馈 carries `handling` (处置情况) and `result`."""
    doc: dict[str, Any] = {"version": VERSION, "kind": "status", "seq": seq, "status": status,
                           "at": at.isoformat(), "sender": dict(sender), "order": dict(order),
                           "your_order": dict(your_order), "by": dict(by)}
    for key, value in (("reason", reason), ("handling", handling), ("result", result)):
        if value is not None:
            doc[key] = value
    return doc


def _text(doc: Mapping[str, Any], key: str, path: str, limit: int, *, required: bool = False) -> str | None:
    value = doc.get(key)
    if value is None:
        if required:
            raise DocumentError(f"{path}{key}", "is required")
        return None
    if not isinstance(value, str) or (required and not value):
        raise DocumentError(f"{path}{key}", "must be a non-empty string" if required else "must be a string")
    if len(value) > limit:
        raise DocumentError(f"{path}{key}", f"longer than {limit} characters")
    if re.search(r"[\x00\x7f]" if key in ("content", "handling", "result") else r"[\x00-\x1f\x7f]", value):
        raise DocumentError(f"{path}{key}", "contains a control character")
    return value


def _object(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise DocumentError(key, "must be an object")
    return value


def _common(doc: object, kind: str) -> Mapping[str, Any]:
    if not isinstance(doc, dict):
        raise DocumentError("body", "must be a JSON object")
    if doc.get("version") != VERSION:
        raise DocumentError("version", f"must be {VERSION}")
    if doc.get("kind") != kind:
        raise DocumentError("kind", f"must be {kind!r}")
    seq = doc.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= 1_000_000:
        raise DocumentError("seq", "must be a whole number from 1")
    sender = _object(doc, "sender")
    _text(sender, "platform", "sender.", 64, required=True)
    _text(sender, "unit", "sender.", 128)
    code = _text(sender, "org_code", "sender.", 18)
    if code is not None and not is_org_code(code):
        raise DocumentError("sender.org_code", "not a valid 18-character 统一社会信用代码")
    division = _text(sender, "division_code", "sender.", 12)
    if division is not None and not is_division_code(division):
        raise DocumentError("sender.division_code", "must be a 行政区划代码 of 6, 9 or 12 digits")
    return doc


def check_order_document(doc: object) -> Mapping[str, Any]:
    """`doc` if it is a well-formed `order` document; else `DocumentError`."""
    checked = _common(doc, "order")
    if checked["seq"] != 1:
        raise DocumentError("seq", "an order document is seq 1")
    if checked.get("by") is not None:
        _text(_object(checked, "by"), "name", "by.", 64)
    order = _object(checked, "order")
    for key, limit in ORDER_FIELDS.items():
        # citizen_number is always sent, "" when the caller ID was withheld or not a number
        _text(order, key, "order.", limit, required=key in ORDER_REQUIRED and key != "citizen_number")
    if not _TOKEN.match(order["id"]):
        raise DocumentError("order.id", "must match [A-Za-z0-9_.+-]{1,64}")
    if order.get("citizen_number") is None:
        raise DocumentError("order.citizen_number", "is required")
    if not re.match(r"^(\+?[0-9*#]{1,32})?$", order["citizen_number"]):
        raise DocumentError("order.citizen_number", "must be a phone number, or empty (withheld or not a number)")
    for key in ("source_centre", "target_centre"):
        if not _TOKEN.match(order[key]):
            raise DocumentError(f"order.{key}", "must be a centre id")
    if order.get("division_code") is not None and not is_division_code(order["division_code"]):
        raise DocumentError("order.division_code", "must be a 行政区划代码 of 6, 9 or 12 digits")
    if "emergency" in order and not isinstance(order["emergency"], bool):
        raise DocumentError("order.emergency", "must be true or false")
    _datetime(order["created_at"], "order.created_at")
    return checked


def check_status_document(doc: object) -> Mapping[str, Any]:
    """`doc` if it is a well-formed `status` document; else `DocumentError`."""
    checked = _common(doc, "status")
    status = checked.get("status")
    if status not in STATUS_LABELS:
        raise DocumentError("status", f"{status!r}: expected one of {', '.join(STATUS_LABELS)}")
    _datetime(_text(checked, "at", "", 40, required=True) or "", "at")
    order = _object(checked, "order")
    _text(order, "id", "order.", 64, required=True)
    _text(order, "number", "order.", 40)
    your = _object(checked, "your_order")
    _text(your, "id", "your_order.", 64)
    _text(your, "number", "your_order.", 40)
    by = _object(checked, "by")
    _text(by, "name", "by.", 64)
    _text(by, "unit", "by.", 128)
    code = _text(by, "unit_code", "by.", 18)
    if code is not None and not is_org_code(code):
        raise DocumentError("by.unit_code", "not a valid 18-character 统一社会信用代码")
    _text(checked, "reason", "", 256, required=status == "returned")
    _text(checked, "handling", "", 4000)
    _text(checked, "result", "", 4000, required=status == "feedback")
    return checked


def _datetime(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DocumentError(field, "must be an ISO 8601 time with offset") from None
    if parsed.tzinfo is None:
        raise DocumentError(field, "must carry a UTC offset")
    return parsed


def parse_time(value: str) -> datetime:
    return _datetime(value, "at")


SeqVerdict = Literal["apply", "duplicate", "gap"]


def seq_verdict(seq: int, last_applied: int | None) -> SeqVerdict:
    """Whether a document numbered `seq` is the next one after `last_applied`:
    `duplicate` (already applied: answer OK, change nothing), `gap` (an
    earlier one is missing: refuse, the sender retries in order) or `apply`."""
    last = last_applied or 0
    if seq <= last:
        return "duplicate"
    return "apply" if seq == last + 1 else "gap"


def pushed_status(side: str, to_status: str) -> bool:
    """Whether a local transition to `to_status` of an order linked on `side` goes to the peer."""
    return to_status in PUSHED_BY.get(side, frozenset())
