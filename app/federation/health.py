"""Link health of each peer platform, for supervisors (adapter, I/O: Redis, SQL).

Per peer: the qualify state of the SIP trunk that reaches its centres (when
one is declared, `HOTLINE_TRUNKS` / `HOTLINE_REMOTE_CENTRES`), as the bridge's
`TrunkWatch` mirrors it into Redis from AMI (ContactStatus events; at each
(re)connect PJSIPShowEndpoint's ContactStatusDetail), and the push queue:
depth, failed items, the oldest unsent item and its age, the last error, the
last delivery.  One shape for `/api/live` (`federation` block), `GET
/api/federation/status` and `hotline federation status`.

`TrunkWatch` runs in the bridge role; nothing here decides anything.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from agi.background import cancel_all, wait_for
from app.federation.services import FederationService
from core.live import TRUNKS_KEY
from core.settings import Settings

log = logging.getLogger(__name__)

# ContactStatus / ContactStatusDetail values, as the dashboard names them
REACHABLE = frozenset({"Reachable", "Avail"})


def peer_trunks(settings: Settings, centres: tuple[str, ...]) -> list[str]:
    """The trunks that reach `centres` (declared remote centres), in order, once each."""
    names: list[str] = []
    for centre in centres:
        trunk = settings.trunks.trunk_of_centre(centre)
        if trunk is not None and trunk.name not in names:
            names.append(trunk.name)
    return names


async def trunk_states(redis: Redis | None, prefix: str, timeout_s: float = 2.0) -> dict[str, dict[str, Any]] | None:
    """Every watched trunk's last known state; None when Redis does not answer."""
    if redis is None:
        return None
    try:
        raw = await wait_for(redis.hgetall(prefix + TRUNKS_KEY), timeout_s)
    except (TimeoutError, RedisError, OSError) as exc:
        log.warning("trunk states not read from Redis: %s", exc)
        return None
    states: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        key = key.decode() if isinstance(key, bytes) else key
        try:
            parsed = json.loads(value)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            states[key] = parsed
    return states


async def link_status(service: FederationService, redis: Redis | None, now: datetime) -> list[dict[str, Any]]:
    """Per declared peer: its trunk(s) and its push queue."""
    settings = service.settings
    states = await trunk_states(redis, settings.redis.prefix)
    rows = []
    for health in await service.health():
        peer = settings.federation.peer(health.peer)
        assert peer is not None
        row = health.as_dict()
        row["mapping"] = peer.mapping.name if peer.mapping is not None else None
        row["centres"] = list(peer.centres)
        row["oldest_unsent_age_s"] = round((now - health.oldest_unsent_at).total_seconds(), 1) \
            if health.oldest_unsent_at else None
        trunks = []
        for name in peer_trunks(settings, peer.centres):
            state = (states or {}).get(name, {})
            status = state.get("status") or ("unknown" if states is not None else "no live state")
            trunks.append({"name": name, "status": status, "reachable": status in REACHABLE,
                           "rtt_ms": state.get("rtt_ms"), "since": state.get("at")})
        row["trunks"] = trunks
        # OK: nothing failed, no unsent item has failed a try or waited a minute, every trunk qualifies
        row["ok"] = health.failed == 0 and health.last_error is None and all(t["reachable"] for t in trunks) and (
            row["oldest_unsent_age_s"] is None or row["oldest_unsent_age_s"] < 60)
        rows.append(row)
    return rows


class TrunkWatch:
    """Mirrors the qualify state of the declared trunks into Redis (bridge role).

    ContactStatus events say when a trunk's contact becomes Reachable or
    Unreachable; at every (re)connect each trunk is asked once
    (PJSIPShowEndpoint → ContactStatusDetail), so a state that changed while
    the link was down is not missed.  The AMI link asks Asterisk for these
    events only (its filter).
    """

    def __init__(self, settings: Settings, ami: Any, redis: Redis | None = None) -> None:
        self.settings = settings
        self.ami = ami
        self.trunks = frozenset(t.name for t in settings.trunks.trunks)
        self._redis = redis
        self._own = redis is None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._redis is None:
            self._redis = Redis.from_url(self.settings.redis.url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.ami.on_event("ContactStatus", self._on_status)
        self.ami.on_connect(self._on_connect)
        if getattr(self.ami, "connected", False):
            self._on_connect()

    async def stop(self) -> None:
        self.ami.off_event("ContactStatus", self._on_status)
        if hasattr(self.ami, "off_connect"):
            self.ami.off_connect(self._on_connect)
        await cancel_all(list(self._tasks))
        if self._own and self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_connect(self, *_: Any) -> None:
        self._spawn(self.refresh())

    def _on_status(self, event: dict[str, Any]) -> None:
        aor = str(event.get("AOR", ""))
        status = str(event.get("ContactStatus", ""))
        if aor in self.trunks and status in ("Reachable", "Unreachable", "Unknown", "Unqualified", "Removed"):
            self._spawn(self._write(aor, status, event.get("RoundtripUsec")))

    async def refresh(self) -> None:
        """Ask Asterisk for each trunk's contact state now."""
        for name in sorted(self.trunks):
            try:
                reply = await self.ami.send({"Action": "PJSIPShowEndpoint", "Endpoint": name})
            except Exception as exc:  # noqa: BLE001 - the link went down again: the next connect asks again
                log.warning("trunk %s: state not read (%s)", name, exc)
                continue
            messages = reply if isinstance(reply, list) else [reply]
            details = [m for m in messages if m.get("Event") == "ContactStatusDetail" and m.get("AOR") == name]
            status = str(details[0].get("Status", "Unknown")) if details else "Unknown"
            await self._write(name, status, details[0].get("RoundtripUsec") if details else None)

    async def _write(self, trunk: str, status: str, rtt_usec: Any) -> None:
        try:
            rtt = round(int(str(rtt_usec)) / 1000, 2) if str(rtt_usec or "").isdigit() else None
        except ValueError:
            rtt = None
        state = {"status": status, "rtt_ms": rtt, "at": time.time()}
        assert self._redis is not None
        try:
            await self._redis.hset(self.settings.redis.prefix + TRUNKS_KEY, trunk, json.dumps(state))
        except (RedisError, OSError) as exc:
            log.warning("trunk %s state %s not written to Redis: %s", trunk, status, exc)
            return
        log.info("trunk %s: %s (rtt %s ms)", trunk, status, rtt)
