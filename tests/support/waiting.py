"""Poll for a condition with a deadline — the suite's only way to wait."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")


class Timeout(AssertionError):
    pass


@overload
async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 10.0,
                     interval: float = 0.05, what: str = "condition") -> T: ...


@overload
async def eventually(check: Callable[[], T], *, timeout: float = 10.0,
                     interval: float = 0.05, what: str = "condition") -> T: ...


async def eventually(check: Callable[[], Awaitable[T] | T], *, timeout: float = 10.0,
                     interval: float = 0.05, what: str = "condition") -> T:
    """Call `check` until it returns a truthy value; fail after `timeout` s.

    `check` may be sync or async and may raise AssertionError while the
    condition does not hold yet; the last error is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result  # type: ignore[return-value]
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise Timeout(f"{what} not reached within {timeout:.1f}s" + (f": {last}" if last else ""))
        await asyncio.sleep(interval)
