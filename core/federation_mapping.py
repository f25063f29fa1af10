"""Foreign peers: a 110 command-centre system that does not run hotline-link (pure).

Such a system pushes its 接警单 (JJD) as JSON in its own (GA-style) field
names and takes back 退回 / 反馈 documents in those names.  What it calls
each field, the status codes it uses, where it listens and the headers it
signs with are *data*: a mapping file under `data/federation/<name>.json`,
named in the peer's declaration (`HOTLINE_PEERS=... mapping=ga-110`) and
checked when the settings are read (`parse_mapping` raises `MappingError`
naming the key at fault).

This module translates in both directions, with no I/O:

* `jjd_to_order_document`: the peer's 接警单 → our `order` document
  (`core.federation.order_document`'s shape), which then goes through the
  same checks and the same (peer, peer order id) key as a hotline-link
  peer's: re-sending it gives the same order.  A missing or malformed field
  is a `DocumentError` naming the peer's field (`BJDH`, `BJSJ`, ...).
* `status_to_foreign`: our `status` document (签收, 退回, 反馈, 办结) → the
  path on the peer and the body in its field names, or None for a status
  the mapping does not send.
* `answer_to_foreign`: what we answer its push with (our order number...).

Signatures are the same HMAC-SHA256 over method, path, timestamp, nonce and
the body's digest (`core.federation.canonical_request`) under the header
names the mapping declares (`AuthHeaders`); the peer is named by the URL
(`/api/federation/peers/{peer}/...`) rather than by a header.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from core.federation import (
    HEADER_NONCE,
    HEADER_PEER,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SIGNATURE_PREFIX,
    STATUS_LABELS,
    VERSION,
    DocumentError,
)

_FOREIGN_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_HEADER = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
_PATH = re.compile(r"^/[A-Za-z0-9._~/\-]{0,199}$")
_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,16}$")
_OFFSET = re.compile(r"^[+-](0[0-9]|1[0-4]):[0-5][0-9]$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")

# Our order fields a 接警单 field may fill (`order` document fields, and a few
# kept in the order's audit event only).
ORDER_TARGETS = frozenset({"id", "number", "citizen_number", "citizen_name", "created_at", "address", "content",
                           "category", "order_class", "division_code", "target_centre"})
DETAIL_TARGETS = frozenset({"category_name", "unit_code", "unit_name", "receiving_unit_code",
                            "receiving_unit_name", "serial", "confidential"})
REQUIRED_TARGETS = frozenset({"id", "citizen_number", "created_at"})
# What an outgoing document's field may take: a path into our status document, or `code`.
STATUS_SOURCES = frozenset({"order.id", "order.number", "your_order.id", "your_order.number", "status", "code",
                            "label", "at", "by.name", "by.unit", "by.unit_code", "reason", "handling", "result",
                            "sender.platform", "sender.org_code", "sender.division_code", "sender.unit"})
ANSWER_SOURCES = frozenset({"id", "number", "status", "peer_order_id", "code"})


class MappingError(ValueError):
    """A mapping file is malformed; `key` is the dotted key at fault."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class AuthHeaders:
    """The header names a peer signs with (and we sign with to it)."""

    peer: str = HEADER_PEER
    timestamp: str = HEADER_TIMESTAMP
    nonce: str = HEADER_NONCE
    signature: str = HEADER_SIGNATURE
    prefix: str = SIGNATURE_PREFIX


HOTLINE_AUTH = AuthHeaders()


@dataclass(frozen=True)
class StatusOut:
    code: str
    path: str
    fields: tuple[tuple[str, str], ...]   # (foreign field, source)


@dataclass(frozen=True)
class FieldMapping:
    name: str
    title: str
    auth: AuthHeaders
    time_format: str
    utc_offset: timedelta
    order_fields: tuple[tuple[str, str], ...]      # (foreign field, our target)
    required: tuple[str, ...]                      # foreign fields that must be there
    true_values: frozenset[str]
    answer: tuple[tuple[str, str], ...]            # (foreign field, source)
    statuses: dict[str, StatusOut] = field(default_factory=dict)

    def sends(self, status: str) -> bool:
        return status in self.statuses

    @property
    def tz(self) -> timezone:
        return timezone(self.utc_offset)


def _obj(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(key, "must be an object")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str] | None = None,
         *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise MappingError(f"{where}{key}", "must be a non-empty string")
    if pattern is not None and value and not pattern.match(value):
        raise MappingError(f"{where}{key}", f"{value!r} does not match {pattern.pattern}")
    return value


def _pairs(obj: Any, where: str, allowed: frozenset[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for foreign, ours in _obj(obj, where).items():
        if not _FOREIGN_FIELD.match(foreign):
            raise MappingError(f"{where}.{foreign}", "a field name is a letter then up to 31 of [A-Za-z0-9_]")
        if ours not in allowed:
            raise MappingError(f"{where}.{foreign}", f"{ours!r}: expected one of {', '.join(sorted(allowed))}")
        pairs.append((foreign, ours))
    if not pairs:
        raise MappingError(where, "names no field")
    return tuple(pairs)


def parse_mapping(obj: Any, name: str) -> FieldMapping:
    """A mapping file's JSON → `FieldMapping`; raises `MappingError`."""
    m = _obj(obj, "mapping")
    if m.get("name") != name or not _NAME.match(name):
        raise MappingError("name", f"must be the file's name, {name!r}")
    auth = _obj(m.get("auth"), "auth")
    headers = AuthHeaders(peer=HEADER_PEER,
                          timestamp=_str(auth, "timestamp", "auth.", _HEADER),
                          nonce=_str(auth, "nonce", "auth.", _HEADER),
                          signature=_str(auth, "signature", "auth.", _HEADER),
                          prefix=_str(auth, "signature_prefix", "auth.", re.compile(r"^[A-Za-z0-9=:]{0,8}$"),
                                      required=False))
    if auth.get("scheme") != "hmac-sha256":
        raise MappingError("auth.scheme", "must be hmac-sha256 (over method, path, timestamp, nonce, body digest)")
    time_format = _str(m, "time_format", "")
    if not all(d in time_format for d in ("%Y", "%m", "%d", "%H", "%M")):
        raise MappingError("time_format", "must carry %Y %m %d %H %M")
    offset = _str(m, "utc_offset", "", _OFFSET)
    sign = -1 if offset[0] == "-" else 1
    utc_offset = sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    order_in = _obj(m.get("order_in"), "order_in")
    fields = _pairs(order_in.get("fields"), "order_in.fields", ORDER_TARGETS | DETAIL_TARGETS)
    targets = {ours for _, ours in fields}
    missing = REQUIRED_TARGETS - targets
    if missing:
        raise MappingError("order_in.fields", f"no field fills {', '.join(sorted(missing))}")
    required = order_in.get("required", [])
    if not isinstance(required, list) or any(r not in dict(fields) for r in required):
        raise MappingError("order_in.required", "must list fields named in order_in.fields")
    true_values = order_in.get("true_values", ["1"])
    if not isinstance(true_values, list) or not all(isinstance(v, str) for v in true_values):
        raise MappingError("order_in.true_values", "must be a list of strings")
    answer = _pairs(order_in.get("answer"), "order_in.answer", ANSWER_SOURCES)
    statuses: dict[str, StatusOut] = {}
    for status, spec in _obj(m.get("status_out"), "status_out").items():
        where = f"status_out.{status}."
        if status not in STATUS_LABELS:
            raise MappingError(f"status_out.{status}", f"expected one of {', '.join(STATUS_LABELS)}")
        spec = _obj(spec, f"status_out.{status}")
        statuses[status] = StatusOut(code=_str(spec, "code", where, _CODE), path=_str(spec, "path", where, _PATH),
                                     fields=_pairs(spec.get("fields"), f"{where}fields", STATUS_SOURCES))
    for needed in ("returned", "feedback"):
        if needed not in statuses:
            raise MappingError("status_out", f"must say how a {needed} ({STATUS_LABELS[needed]}) document is sent")
    return FieldMapping(name=name, title=str(m.get("title") or name), auth=headers, time_format=time_format,
                        utc_offset=utc_offset, order_fields=fields, required=tuple(required),
                        true_values=frozenset(true_values), answer=answer, statuses=statuses)


def _foreign_time(value: str, mapping: FieldMapping, field_name: str) -> str:
    try:
        parsed = datetime.strptime(value, mapping.time_format)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise DocumentError(field_name, f"must be a time as {mapping.time_format}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=mapping.tz)
    return parsed.isoformat()


def jjd_to_order_document(doc: object, mapping: FieldMapping, *, platform: str, source_centre: str,
                          target_centre: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The peer's 接警单 → (our `order` document, what goes to the audit event only).
    `source_centre` is the peer's centre, `target_centre` ours (the document
    may name another of ours)."""
    if not isinstance(doc, dict):
        raise DocumentError("body", "must be a JSON object")
    for name in mapping.required:
        if doc.get(name) in (None, ""):
            raise DocumentError(name, "is required")
    order: dict[str, Any] = {"mode": "transfer", "source_centre": source_centre, "target_centre": target_centre}
    extra: dict[str, Any] = {"mapping": mapping.name}
    for foreign, ours in mapping.order_fields:
        value = doc.get(foreign)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise DocumentError(foreign, "must be a string")
        text = str(value)
        if ours == "created_at":
            text = _foreign_time(text, mapping, foreign)
            extra["peer_created_at"] = text  # 报警时间: when the citizen called the peer
        if ours == "confidential":
            extra[ours] = text in mapping.true_values
        elif ours in DETAIL_TARGETS:
            extra[ours] = text[:128]
        else:
            order[ours] = text
    if "number" not in order and "id" in order:
        order["number"] = order["id"]
    document = {"version": VERSION, "kind": "order", "seq": 1, "sender": {"platform": platform}, "order": order}
    return document, extra


def foreign_field(mapping: FieldMapping, ours: str) -> str:
    """The peer's name of our order field `ours` (for error messages)."""
    return next((f for f, o in mapping.order_fields if o == ours), ours)


def _source(doc: Mapping[str, Any], source: str, code: str) -> Any:
    if source == "code":
        return code
    if source == "label":
        return STATUS_LABELS.get(str(doc.get("status")), "")
    value: Any = doc
    for part in source.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def status_to_foreign(doc: Mapping[str, Any], mapping: FieldMapping) -> tuple[str, dict[str, Any]] | None:
    """Our `status` document → (path on the peer, body in its field names), or
    None when the mapping sends no document for that status."""
    out = mapping.statuses.get(str(doc.get("status")))
    if out is None:
        return None
    body: dict[str, Any] = {}
    for foreign, source in out.fields:
        value = _source(doc, source, out.code)
        if source == "at" and isinstance(value, str):
            value = datetime.fromisoformat(value).astimezone(mapping.tz).strftime(mapping.time_format)
        body[foreign] = value if value is not None else ""
    return out.path, body


def answer_to_foreign(view: Mapping[str, Any], mapping: FieldMapping, code: str = "0") -> dict[str, Any]:
    """What we answer the peer's push with, in its field names."""
    return {foreign: (code if source == "code" else view.get(source)) for foreign, source in mapping.answer}
