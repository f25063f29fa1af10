"""The double-press guard across processes: a short Redis lock per call (adapter).

`HandoffService.start` first claims the citizen's channel in its own process
(`core.handoff.ActiveHandoffs`), then, through this port, for every process:
a FastAGI server behind `hagi://` SRV, a classic AGI process, the web
service's button.  `RedisHandoffLock` is `SET key token NX PX ttl`, keyed by
the call (linkedid, else the citizen's channel); it is released by the same
token once the move is done or refused, and expires by itself if the holder
dies.

Redis must never block or refuse a transfer: every call is bounded by a
short timeout, any failure answers `None` ("unknown") and the service goes
on with its in-process guard alone; after a failure Redis is not asked again
for `RETRY_AFTER_S`, so a dead Redis costs one timeout, not one per press.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, Protocol

log = logging.getLogger(__name__)

LOCK_TTL_MS = 5000      # a handoff's set-up takes milliseconds; a dead holder's lock expires
TIMEOUT_S = 0.05        # the longest a press waits for Redis
RETRY_AFTER_S = 1.0

# Delete the key only if it still holds our token (never another holder's lock).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class HandoffLock(Protocol):
    async def acquire(self, key: str) -> bool | None:
        """True: ours; False: another process holds it; None: cannot tell."""

    async def release(self, key: str) -> None: ...


class RedisHandoffLock:
    def __init__(self, redis: Any, prefix: str, *, ttl_ms: int = LOCK_TTL_MS,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_ms = ttl_ms
        self.timeout_s = timeout_s
        self._tokens: dict[str, str] = {}
        self._down_until = 0.0

    @classmethod
    def from_url(cls, url: str, prefix: str) -> "RedisHandoffLock":
        from redis.asyncio import Redis

        client = Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                retry_on_timeout=False, decode_responses=True)
        return cls(client, prefix)

    def _key(self, key: str) -> str:
        return f"{self.prefix}handoff-lock:{key}"

    async def acquire(self, key: str) -> bool | None:
        if time.monotonic() < self._down_until:
            return None
        token = secrets.token_hex(8)
        try:
            got = await asyncio.wait_for(
                self.redis.set(self._key(key), token, nx=True, px=self.ttl_ms), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 — any Redis trouble: the in-process guard decides
            self._down_until = time.monotonic() + RETRY_AFTER_S
            log.warning("handoff lock %s: Redis unavailable (%s); in-process guard only",
                        key, exc or type(exc).__name__)
            return None
        if not got:
            return False
        self._tokens[key] = token
        return True

    async def release(self, key: str) -> None:
        token = self._tokens.pop(key, None)
        if token is None:
            return
        try:
            await asyncio.wait_for(self.redis.eval(_RELEASE, 1, self._key(key), token), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 — the lock expires by itself
            log.warning("handoff lock %s: release failed (%s); it expires in %d ms",
                        key, exc or type(exc).__name__, self.ttl_ms)

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        except Exception:  # noqa: BLE001
            pass
