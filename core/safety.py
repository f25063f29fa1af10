"""Checks for values that reach AMI or the dialplan (pure).

AMI is a line protocol: a CR or LF inside a header value ends the header and
lets the rest be read as a new header or a new action.  Dialplan applications
split their arguments on `,` and `|`, and `${...}` is expanded.  Every
user-supplied value therefore passes through one of these checks first.
"""
from __future__ import annotations

import re
from typing import TypeGuard

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A dialable number: digits, `*`, `#`, an optional leading `+`, at most
# NUMBER_MAX.  The pattern is written so that Python's `re` and Asterisk's
# REGEX() (POSIX extended) read it alike — the dialplan checks numbers with
# it too — and without bounded repetition (`{1,32}`), which glibc compiles
# slowly, on every REGEX() call; the length is checked apart.
NUMBER_PATTERN = "^[+]?[0-9*#]+$"
NUMBER_MAX = 32
# Its digits as an Asterisk FILTER() set (the leading `+` apart), for the
# dialplan's test without REGEX() (core/fast_path.py `number_check`).
NUMBER_DIGITS = "0-9*#"
# A caller ID that is not a number is never turned into one: the seats are
# shown this instead (无效号码, "invalid number"), and what was presented is
# kept, escaped, for the audit — at most PRESENTED_MAX characters of it.
INVALID_NUMBER_LABEL = "无效号码"
PRESENTED_MAX = 200
_NUMBER = re.compile(NUMBER_PATTERN)
_TOKEN = re.compile(r"^[A-Za-z0-9_.+\-]{1,64}$")


# What Python's str.strip() takes away, spelled out for a document's patterns:
# JSON Schema reads `\s` the ECMAScript way, which leaves out U+0085 and U+001C-1F.
BLANKS = r"[\t-\r\x1c-\x20\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
NOT_BLANK = r"\t-\r\x1c-\x20\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class UnsafeValue(ValueError):
    """A value that must not reach AMI or the dialplan; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def check_line(field: str, value: str, *, max_len: int = 256) -> str:
    """Return `value` if it holds no control character (CR/LF included)."""
    if not isinstance(value, str):
        raise UnsafeValue(field, "must be a string")
    if _CONTROL.search(value):
        raise UnsafeValue(field, "contains a control character (CR/LF)")
    if len(value) > max_len:
        raise UnsafeValue(field, f"longer than {max_len} characters")
    return value


def check_number(field: str, value: str) -> str:
    """A dialable number: digits, `*`, `#`, optional leading `+`, at most 32."""
    check_line(field, value, max_len=32)
    if len(value) > NUMBER_MAX or not _NUMBER.fullmatch(value):
        raise UnsafeValue(field, "must be a phone number (digits, *, #, optional +)")
    return value


def check_token(field: str, value: str) -> str:
    """An identifier safe in a channel name, variable or queue name."""
    check_line(field, value, max_len=64)
    if not _TOKEN.match(value):
        raise UnsafeValue(field, "must match [A-Za-z0-9_.+-]{1,64}")
    return value


def is_number(value: str | None) -> TypeGuard[str]:
    return bool(value) and len(value or "") <= NUMBER_MAX and _NUMBER.fullmatch(value or "") is not None


_PRESENTED = re.compile(r"^[A-Za-z0-9%._~\-]*$")


def is_presented(value: str | None) -> TypeGuard[str]:
    """A caller ID as the dialplan keeps it escaped (URIENCODE: unreserved
    characters and %XX only), so it can reach a log or the database as is."""
    return value is not None and len(value) <= 3 * PRESENTED_MAX and _PRESENTED.fullmatch(value) is not None
