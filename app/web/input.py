"""Request input: field specifications, their validation, and their OpenAPI schemas (HTTP layer).

One `Field` table per body or query serves twice: `parse_body` /
`parse_query` validate what a client sent and raise `BadInput(field,
reason)` on the first bad field; `schema_of` renders the same table as the
OpenAPI schema `app.web.openapi` serves, so the document and the checks cannot
drift apart.  Strings are checked for control characters (CR/LF included;
multi-line text allows newlines and tabs) and lone surrogates, which
neither PostgreSQL nor UTF-8 accept.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, Literal

from aiohttp import web

from app.web.errors import BadInput, UnsupportedMedia
from core.safety import NOT_BLANK

Kind = Literal["line", "text", "integer", "boolean", "datetime"]

_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

PHONE = r"^(\+[0-9*#]{1,31}|[0-9*#]{1,32})$"  # core.safety.check_number: 32 in all
DIVISION_CODE = r"^[0-9]{6}([0-9]{3}([0-9]{3})?)?$"  # 行政区划代码: 6, 9 or 12 digits
ORG_CODE = r"^([0-9A-HJ-NPQRTUWXY]{18}|[0-9A-Z]{8}-?[0-9X])$"  # 统一社会信用代码 or 组织机构代码
TOKEN = r"^[A-Za-z0-9_.+\-]{1,64}$"
# What the document promises about any other string (the checks below enforce it).
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# ...and about a required one, which must hold more than blanks.
LINE_REQUIRED = rf"^[^\x00-\x1f\x7f]*[^{NOT_BLANK}\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
TEXT_REQUIRED = (rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^{NOT_BLANK}\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
                 r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")
# Path keys: an order's id (a UUID or a call's uniqueid) or number, a name, a code.
KEY_PATTERN = r"^[0-9A-Za-z._\-]{1,64}$"


@dataclass(frozen=True)
class Field:
    kind: Kind
    description: str
    max_len: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    nullable: bool = False


def line(description: str, max_len: int, *, pattern: str | None = None,
         enum: tuple[str, ...] | None = None) -> Field:
    return Field("line", description, max_len=max_len, pattern=pattern, enum=enum)


def text(description: str, max_len: int) -> Field:
    return Field("text", description, max_len=max_len)


def integer(description: str, minimum: int, maximum: int) -> Field:
    return Field("integer", description, minimum=minimum, maximum=maximum)


def boolean(description: str) -> Field:
    return Field("boolean", description)


def when(description: str) -> Field:
    return Field("datetime", description)


def _check_string(name: str, value: object, spec: Field) -> str:
    if not isinstance(value, str):
        raise BadInput(name, "must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(name, "is not valid Unicode text") from None
    control = _CONTROL_LINE if spec.kind == "line" else _CONTROL_TEXT
    if control.search(value):
        raise BadInput(name, "contains a control character")
    if spec.max_len is not None and len(value) > spec.max_len:
        raise BadInput(name, f"longer than {spec.max_len} characters")
    if spec.enum is not None and value not in spec.enum:
        raise BadInput(name, f"{value!r}: expected one of {', '.join(spec.enum)}")
    if spec.pattern is not None and not re.match(spec.pattern, value):
        raise BadInput(name, f"does not match {spec.pattern}")
    return value


# Dates and times the API takes: years FIRST_YEAR to LAST_YEAR (a hotline
# has no orders before 1970, and year 1 or 9999 overflows once a time zone
# is applied).  The document states the same as the strings' pattern.
FIRST_YEAR, LAST_YEAR = 1970, 2999
_YEAR = r"(19[7-9][0-9]|2[0-9]{3})"
# Every real calendar day of those years, and no other (the pattern is exact,
# so what the document allows the API accepts): 31-, 30-day months, February
# to the 28th, and the 29th in leap years.
_LEAP = r"(19(7[26]|8[048]|9[26])|2[0-9]([02468][48]|[13579][26]|[2468]0)|2000|2400|2800)"
_DATE = (rf"({_YEAR}-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|{_YEAR}-(0[469]|11)-(0[1-9]|[12][0-9]|30)"
         rf"|{_YEAR}-02-(0[1-9]|1[0-9]|2[0-8])|{_LEAP}-02-29)")
_DATE_TIME = _DATE + r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
WHEN_PATTERN = f"^({_DATE}|{_DATE_TIME})$"


def parse_datetime(name: str, value: str, tz: tzinfo) -> datetime:
    """`YYYY-MM-DD` (the start of that day in `tz`) or an RFC 3339 date-time
    with an offset, years 1970 to 2999; UTC out."""
    if not isinstance(value, str) or len(value) > 40:
        raise BadInput(name, "must be a date (YYYY-MM-DD) or an ISO 8601 date-time with offset")
    if not re.match(WHEN_PATTERN, value):
        if re.match(r"^[0-9]{4}-", value) and not re.match(_YEAR, value):
            raise BadInput(name, f"{value!r}: out of range (years {FIRST_YEAR} to {LAST_YEAR})")
        raise BadInput(name, f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time with offset")
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tz).astimezone(UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadInput(name, f"{value!r} is not a valid date (YYYY-MM-DD) or date-time") from None


def check_value(name: str, value: object, spec: Field, tz: tzinfo = UTC) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise BadInput(name, "must not be null")
    if spec.kind in ("line", "text"):
        return _check_string(name, value, spec)
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            raise BadInput(name, "must be true or false")
        return value
    if spec.kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadInput(name, "must be a whole number")
        if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
            raise BadInput(name, f"must be from {spec.minimum} to {spec.maximum}")
        return value
    if spec.kind == "datetime":
        return parse_datetime(name, _check_string(name, value, Field("line", "", max_len=40)), tz)
    raise AssertionError(spec.kind)


def parse_body(data: object, fields: Mapping[str, Field], required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Validate a JSON object against `fields`; unknown keys are refused."""
    if not isinstance(data, dict):
        raise BadInput("body", "must be a JSON object")
    for name in data:
        if name not in fields:
            raise BadInput(str(name)[:64], "not a field of this request")
    for name in sorted(required):
        if name not in data or data[name] is None or (isinstance(data[name], str) and not data[name].strip()):
            raise BadInput(name, "is required")
    return {name: check_value(name, value, fields[name]) for name, value in data.items()}


def parse_query(query: Mapping[str, str], fields: Mapping[str, Field], tz: tzinfo,
                required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Validate query parameters (strings) against `fields`; unknown or repeated ones are refused."""
    seen: set[str] = set()
    result: dict[str, Any] = {}
    for name, raw in query.items():
        if name not in fields:
            raise BadInput(name[:64], "not a parameter of this request")
        if name in seen:
            raise BadInput(name, "given more than once")
        seen.add(name)
        spec = fields[name]
        if spec.kind == "boolean":
            if raw not in ("true", "false"):
                raise BadInput(name, "must be true or false")
            result[name] = raw == "true"
        elif spec.kind == "integer":
            if not re.fullmatch(r"-?[0-9]{1,12}", raw):
                raise BadInput(name, "must be a whole number")
            result[name] = check_value(name, int(raw), spec)
        else:
            result[name] = check_value(name, raw, spec, tz)
    for name in sorted(required):
        if name not in result:
            raise BadInput(name, "is required")
    return result


JSON_TYPES = frozenset({"application/json"})


async def json_body(request: web.Request, *, optional: bool = False) -> object:
    """The request's JSON body; an empty body is `{}` when `optional`.  A body
    sent as anything but `application/json` (text/plain, a form) is refused
    with `UnsupportedMedia` (415): a browser form or a `no-cors` request
    cannot then pass for an API call."""
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise BadInput("body", "a JSON object is required")
    if request.content_type not in JSON_TYPES:
        raise UnsupportedMedia("Content-Type", f"{request.content_type or 'none'}: send the body as application/json")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadInput("body", "is not valid JSON (UTF-8)") from None


def path_key(request: web.Request, name: str, max_len: int = 64, pattern: str = KEY_PATTERN) -> str:
    """A path parameter: letters, digits, `.`, `_`, `-` (`pattern`), as the document says."""
    return _check_string(name, request.match_info[name], Field("line", "", max_len=max_len, pattern=pattern))


def schema_of(fields: Mapping[str, Field], required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The OpenAPI (3.0) schema of a JSON object with these fields."""
    properties = {name: field_schema(spec, required=name in required) for name, spec in fields.items()}
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = sorted(required)
    return schema


def field_schema(spec: Field, *, required: bool = False) -> dict[str, Any]:
    s: dict[str, Any] = {"description": spec.description}
    if spec.kind in ("line", "text"):
        s["type"] = "string"
        if spec.max_len is not None:
            s["maxLength"] = spec.max_len
        if spec.enum is not None:
            s["enum"] = list(spec.enum)
        if spec.pattern is not None:
            s["pattern"] = spec.pattern
        elif spec.enum is None and required:
            s["pattern"] = LINE_REQUIRED if spec.kind == "line" else TEXT_REQUIRED
        elif spec.enum is None:
            s["pattern"] = LINE_PATTERN if spec.kind == "line" else TEXT_PATTERN
    elif spec.kind == "integer":
        s.update(type="integer", minimum=spec.minimum, maximum=spec.maximum)
    elif spec.kind == "boolean":
        s["type"] = "boolean"
    elif spec.kind == "datetime":
        s.update(type="string", maxLength=40, pattern=WHEN_PATTERN)
    if spec.nullable:
        s["nullable"] = True
    return s


def query_parameters(fields: Mapping[str, Field], required: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": name in required,
             "schema": field_schema(spec, required=name in required),
             "description": spec.description} for name, spec in fields.items()]
