"""The pusher: delivers the outbox to the peer platforms (worker, I/O: HTTP client).

Runs in the `web` role (`app.federation.plugin`): the process that serves
the peers' pushes also makes ours, so one `hotline web` (or `hotline up`)
is the whole federation link, and its HTTP client lives next to its HTTP
server.  Several web processes on one database are safe: an item is claimed
before it is pushed (`store.claim`).

Each round takes the due items (at most one per order: the next unsent one),
signs each (`core.federation.sign`, a fresh timestamp and nonce per try) and
posts it with `timeout_s`.  2xx: sent (for an order, the peer's order id and
number are recorded on ours).  Anything else — refused, timed out, peer down,
a gap the peer reports — is a failed try: the next one waits
`retry_delay(...)` (the configured schedule, with jitter); after the last the
item is failed and stays so until an admin retries it, holding back its
order's later items so the peer never sees them out of order.  The pusher
sleeps `poll_s` between rounds unless an order change wakes it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp

from agi.background import end_loop, wait_for
from app.federation import store
from app.federation.services import FederationService
from app.runtime.models import FederationOutbox
from core.federation import body_digest, retry_delay, sign
from core.federation_mapping import HOTLINE_AUTH, AuthHeaders, status_to_foreign

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(seconds=60)


def _actor(document: dict) -> str | None:
    by = document.get("by")
    return by.get("name") if isinstance(by, dict) and isinstance(by.get("name"), str) else None


class FederationPusher:
    def __init__(self, service: FederationService, *, draw: Callable[[], float] = random.random,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.settings = service.settings
        self._draw = draw
        self._wall = wall_clock  # signature timestamps: real time, whatever the orders' clock says
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._http: aiohttp.ClientSession | None = None
        self.pushed = 0
        self._pruned_at: datetime | None = None

    def wake(self) -> None:
        self._event.set()

    async def start(self) -> None:
        if self._task is not None:
            return
        fed = self.settings.federation
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=fed.timeout_s))
        self.service.wake = self.wake
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="federation-pusher")
        log.info("federation pusher started: peers %s", ", ".join(p.name for p in fed.peers) or "none")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        await end_loop(task, self._event)  # the wake-up ends the round's wait
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.service.wake = lambda: None

    async def _run(self) -> None:
        poll = self.settings.federation.poll_s
        while not self._stopping:
            try:
                busy = await self.push_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("federation pusher round failed; next round in %.1f s", poll)
                busy = 0
            if busy and not self._stopping:
                continue
            try:
                await wait_for(self._event.wait(), poll)
            except TimeoutError:
                pass
            self._event.clear()

    async def push_due(self) -> int:
        """One round: push every due item once; how many were tried.  Once a
        minute (of the orders' clock) the round also prunes the nonces and the
        audit log (`FederationService.prune`)."""
        now = self.service.orders.now()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            await self.service.prune()
        sessions = self.service.sessions
        async with sessions.begin() as session:
            due = await store.due_items(session, now)
            claimed = []
            for item in due:
                if await store.claim(session, item, store.lease(now, self.settings.federation.timeout_s)):
                    claimed.append(item)
        if claimed:
            await asyncio.gather(*(self._push(item) for item in claimed))
        return len(claimed)

    def request_of(self, item: FederationOutbox) -> tuple[str, bytes, AuthHeaders] | None:
        """Where and what `item` is pushed as: our document to a hotline-link
        peer, or its translation in a foreign peer's field names (None: the
        peer's mapping takes no such document)."""
        peer = self.settings.federation.peer(item.peer)
        assert peer is not None
        if peer.mapping is None:
            return item.path, json.dumps(item.document, ensure_ascii=False, sort_keys=True).encode("utf-8"), \
                HOTLINE_AUTH
        translated = status_to_foreign(item.document, peer.mapping) if item.kind == "status" else None
        if translated is None:
            return None
        path, body = translated
        return path, json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8"), peer.mapping.auth

    async def _push(self, item: FederationOutbox) -> None:
        peer = self.settings.federation.peer(item.peer)
        error: str | None = None
        answer: dict | None = None
        next_at = None
        status_code: int | None = None
        body, path, nonce = b"", item.path, ""
        request = self.request_of(item) if peer is not None else None
        if peer is None or self.settings.federation.name is None:
            error = f"peer {item.peer} is not configured here"
        elif request is None:
            pass  # nothing the peer takes: done
        else:
            path, body, names = request
            timestamp, nonce = str(int(self._wall())), secrets.token_urlsafe(18)
            headers = {"Content-Type": "application/json", names.peer: self.settings.federation.name,
                       names.timestamp: timestamp, names.nonce: nonce,
                       names.signature: sign(peer.secret, "POST", path, timestamp, nonce, body, prefix=names.prefix)}
            assert self._http is not None
            try:
                async with self._http.post(peer.url + path, data=body, headers=headers) as response:
                    status_code = response.status
                    text = await response.text()
                    if 200 <= response.status < 300:
                        try:
                            answer = json.loads(text)
                        except ValueError:
                            answer = {}
                    else:
                        error = f"HTTP {response.status}: {text[:300]}"
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        now = self.service.orders.now()
        async with self.service.sessions.begin() as session:
            if request is not None or error is not None:
                await store.record_exchange(session, peer=item.peer, direction="out", at=now, method="POST",
                                            path=path, nonce=nonce, body_sha256=body_digest(body),
                                            answer=status_code, note=error, order_id=item.order_id, kind=item.kind,
                                            actor=_actor(item.document))
            if error is None:
                await store.mark_sent(session, item.id, now)
            else:
                delay = retry_delay(item.attempts + 1, self.settings.federation.retry_s,
                                    self.settings.federation.jitter, self._draw())
                next_at = None if delay is None else now + timedelta(seconds=delay)
                await store.mark_failed_try(session, item.id, error, next_at)
        if error is None:
            self.pushed += 1
            log.info("pushed %s %d of order %s to %s", item.kind, item.seq, item.order_id, item.peer)
            if item.kind == "order" and isinstance(answer, dict) and peer is not None and peer.mapping is None:
                await self.service.acknowledged(item, answer)
        elif next_at is None:
            log.error("push of %s %d of order %s to %s FAILED after %d tries: %s (hotline federation failed)",
                      item.kind, item.seq, item.order_id, item.peer, item.attempts + 1, error)
        else:
            log.warning("push of %s %d of order %s to %s failed (try %d): %s; next at %s", item.kind, item.seq,
                        item.order_id, item.peer, item.attempts + 1, error, next_at.isoformat())
