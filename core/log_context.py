"""What a log line is about: the handoff id, channel, seat and order number (pure).

`bind(channel=..., handoff_id=...)` sets fields for the code it wraps (a
`contextvars` context, so each asyncio task — each FastAGI request, each AMI
event handler — keeps its own); a log call may also name them itself with
`extra=`.  The JSON log format (`HOTLINE_LOG_FORMAT=json`,
`app.runtime.logs`) writes them as fields; the text format leaves them out.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

FIELDS = ("handoff_id", "channel", "seat", "order", "route")

_current: ContextVar[Mapping[str, str]] = ContextVar("hotline_log_fields", default=MappingProxyType({}))


def current() -> Mapping[str, str]:
    """The fields bound here (empty when none)."""
    return _current.get()


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Add `fields` (names from FIELDS; None or "" leaves a field out) for the wrapped code."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log field(s) {sorted(unknown)}: expected {', '.join(FIELDS)}")
    token = _current.set({**_current.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _current.reset(token)
