"""Domain errors of the service and their one mapping to HTTP (service layer).

Raise these anywhere in `app/` below the HTTP handlers; `app.web.app`'s error
middleware is the only place that turns them into responses, through
`to_http`.  This module must not import aiohttp or touch I/O.

    HotlineError                      500  (a bug or an unexpected failure)
    ├── NotFound(kind, key)           404  {"error", "kind", "key"}
    ├── BadInput(field, reason)       400  {"error", "field"}
    ├── Forbidden(field, reason)      403  {"error", "field"}
    ├── UnsupportedMedia(field, reason)
    │                                 415  {"error", "field"}
    ├── Conflict(reason, field=None)  409  {"error", "field" when given}
    ├── Refused(action, reason, order)
    │                                 409  {"error", "reason", "order" when there is one}
    └── Unavailable(service, reason)  503  {"error", "service"}

`core.safety.UnsafeValue(field, reason)` (a value unfit for AMI/dialplan)
is bad input too and maps to 400 with its field;
`core.orders.IllegalTransition(current, wanted)` maps to 409 with the
order's current status.  The order a `Refused` carries is shown as the caller
may see it: the middleware passes `show_order`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.orders import IllegalTransition
from core.safety import UnsafeValue


class HotlineError(Exception):
    """Base of the service's domain errors."""


class NotFound(HotlineError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class BadInput(HotlineError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UnsupportedMedia(HotlineError):
    """A body sent as something other than the JSON the route reads (`field`: the header)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Forbidden(HotlineError):
    """The caller's role may not use `field` (a masked role filtering on a citizen's number)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Conflict(HotlineError):
    """The request is well formed but clashes with the state it meets;
    `field`, when given, names the part that clashes."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class Refused(HotlineError):
    """A seat's request did not go ahead and nothing moved: a transfer, a
    three-way call or one of its keys.  `action` names it in the message
    (`transfer`, `three-way`); `reason` is the `core.refusals.Refusal`'s
    reason; `order` the order that records the refusal, when there is one
    (nobody was logged in at the target)."""

    def __init__(self, action: str, reason: str, order: Any | None = None) -> None:
        super().__init__(f"{action} refused: {reason}")
        self.action = action
        self.reason = reason
        self.order = order


class Unavailable(HotlineError):
    """A backing service (database, redis, ami) cannot answer right now."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} unavailable: {reason}")
        self.service = service
        self.reason = reason


def to_http(exc: BaseException, show_order: Callable[[Any], dict[str, Any]] | None = None,
            ) -> tuple[int, dict[str, Any]] | None:
    """Status and JSON body for a domain error; None if it is not one.

    `show_order`: how the caller sees an order (its role decides what is
    masked); without it a refusal's order is left out."""
    if isinstance(exc, NotFound):
        return 404, {"error": str(exc), "kind": exc.kind, "key": exc.key}
    if isinstance(exc, BadInput):
        return 400, {"error": exc.reason, "field": exc.field}
    if isinstance(exc, Forbidden):
        return 403, {"error": exc.reason, "field": exc.field}
    if isinstance(exc, UnsupportedMedia):
        return 415, {"error": exc.reason, "field": exc.field}
    if isinstance(exc, UnsafeValue):
        return 400, {"error": exc.reason, "field": exc.field}
    if isinstance(exc, IllegalTransition):
        return 409, {"error": str(exc), "current_status": exc.current, "wanted_status": exc.wanted}
    if isinstance(exc, Conflict):
        return 409, {"error": exc.reason, **({"field": exc.field} if exc.field else {})}
    if isinstance(exc, Refused):
        body: dict[str, Any] = {"error": str(exc), "reason": exc.reason}
        if exc.order is not None and show_order is not None:
            body["order"] = show_order(exc.order)
        return 409, body
    if isinstance(exc, Unavailable):
        return 503, {"error": str(exc), "service": exc.service}
    return None
