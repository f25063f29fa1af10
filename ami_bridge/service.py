"""The AMI bridge service: wires the AMI link to the Redis live state.

One consumer task applies, in order, everything that changes the live
state: link up (-> full resync: `QueueStatus`, `CoreSettings`,
`CoreShowChannels`), events, link down (-> `connected=0`), periodic light
resyncs and Redis recovery flushes.
Serialising them keeps the model consistent without locks; events that arrive
while a resync waits for Asterisk are applied after the snapshot (they are
idempotent: joins/leaves by uniqueid, member and channel events carry the
full state).  Events already queued one behind another are applied as a
batch (in order) and written in one Redis transaction.

`run_bridge(settings, ami_secret)` is the entry the CLI awaits.  Tests and the
real-Asterisk tier build `AmiBridge` directly with a host/port/user/secret.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

from redis.asyncio import Redis

from agi.background import cancel_all
from ami_bridge.live_state import RedisLiveState
from ami_bridge.manager import AmiError, AmiManager, AmiMessage
from ami_bridge.translate import HANDLED_EVENTS, Directory
from core.settings import Settings

log = logging.getLogger(__name__)

# Events that change queues, seats or channels; QueueParams/QueueEntry/QueueMember
# only come inside a QueueStatus answer (matched by ActionID, never dispatched),
# CoreShowChannel only inside a CoreShowChannels answer (not in HANDLED_EVENTS).
# Newexten is not asked for: it comes at every dialplan step (most of what
# Asterisk would send) and only refreshes a channel's context/exten, which
# every other channel event and each resync carry too.  Nor NewCallerid and
# NewConnectedLine (a fifth of what a call sends): every other channel event
# carries the caller and the connected line as well, and nothing shown waits
# on them (a waiting citizen's number is the queue entry's, from
# QueueCallerJoin; a seat's party, AgentConnect's).  The link filters
# (AmiManager filter_events): Asterisk sends nothing else.
LIVE_EVENTS = tuple(sorted(HANDLED_EVENTS - {"QueueParams", "QueueEntry", "QueueMember", "Newexten",
                                             "NewCallerid", "NewConnectedLine"}))

# At most this many queued events are applied and written together.
EVENT_BATCH = 500

_Command = tuple[Literal["connected", "disconnected", "event", "resync", "flush"], Any]


class AmiBridge:
    """Mirrors Asterisk queues and seats into Redis; exposes the AMI link.

    `bridge.ami.send({...})` is how other code carries out actions.
    """

    def __init__(
        self,
        settings: Settings,
        ami_secret: str,
        *,
        ami_host: str | None = None,
        ami_port: int | None = None,
        redis: Redis | None = None,
        resync_interval_s: float = 15.0,
        redis_retry_s: float = 2.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 1.0,
        ping_interval_s: float = 10.0,
        action_timeout_s: float = 10.0,
        batch_window_s: float = 0.1,
    ) -> None:
        self.settings = settings
        # after an event, the ones arriving within this window are written with
        # it (the live view lags by as much, below what a wallboard shows; at
        # 20 calls/s a Redis transaction carries about a hundred events, and a
        # channel or seat that changed several times is written once)
        self.batch_window_s = batch_window_s
        self.ami = AmiManager(
            ami_host or settings.ami.host, ami_port or settings.ami.port,
            settings.ami.user, ami_secret,
            backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s,
            ping_interval_s=ping_interval_s, action_timeout_s=action_timeout_s,
            filter_events=True,
        )
        self._own_redis = redis is None
        self.redis = redis if redis is not None else Redis.from_url(
            settings.redis.url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.live = RedisLiveState(self.redis, settings.redis.prefix,
                                   Directory(settings.site.centres, settings.site.seat_mode))
        self.resync_interval_s = resync_interval_s
        self.redis_retry_s = redis_retry_s
        self.resyncs = 0
        self._commands: asyncio.Queue[_Command] = asyncio.Queue()
        self._resync_pending = False
        self._asterisk_version: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.ami.on_connect(self._on_connect)
        self.ami.on_disconnect(self._on_disconnect)
        for name in LIVE_EVENTS:
            self.ami.on_event(name, self._on_event)
        self.ami.on_event("FullyBooted", self._on_fully_booted)

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._consume(), name="ami-bridge-consumer"),
            asyncio.create_task(self._tick(), name="ami-bridge-ticker"),
        ]
        await self.ami.start()
        log.info("AMI bridge started: %s:%s as %s, Redis prefix %r",
                 self.ami.host, self.ami.port, self.ami.username, self.settings.redis.prefix)

    async def stop(self) -> None:
        await self.ami.close()
        tasks, self._tasks = self._tasks, []
        # A cancel that lands inside a Redis call can be swallowed there (seen
        # with redis-py: the consumer went back to waiting on its queue and
        # stop() hung forever): cancelled until every task has ended.
        await cancel_all(tasks)
        await self.live.disconnected()  # nobody keeps the state live any more
        if self._own_redis:
            await self.redis.aclose()
        log.info("AMI bridge stopped")

    # ------------------------------------------------------ link callbacks

    def _on_connect(self) -> None:
        self._commands.put_nowait(("connected", time.time()))
        self._request_resync("connect")

    def _on_disconnect(self) -> None:
        self._commands.put_nowait(("disconnected", None))

    def _on_event(self, event: AmiMessage) -> None:
        self._commands.put_nowait(("event", event))

    def _on_fully_booted(self, event: AmiMessage) -> None:
        # Sent right after login when Asterisk is up, or when a booting
        # Asterisk finishes loading queues: resync then.
        self._request_resync("FullyBooted")

    def _request_resync(self, reason: str) -> None:
        if not self._resync_pending:
            self._resync_pending = True
            self._commands.put_nowait(("resync", reason))

    # ------------------------------------------------------------- workers

    async def _consume(self) -> None:
        after: _Command | None = None  # met while taking a batch of events: handled next
        while True:
            if after is None:
                kind, arg = await self._commands.get()
            else:
                (kind, arg), after = after, None
            try:
                if kind == "event":
                    # The events already waiting (a call brings dozens) are
                    # applied together and written in one Redis transaction.
                    if self.batch_window_s > 0:
                        await asyncio.sleep(self.batch_window_s)
                    events = [arg]
                    while len(events) < EVENT_BATCH and not self._commands.empty():
                        command = self._commands.get_nowait()
                        if command[0] != "event":
                            after = command
                            break
                        events.append(command[1])
                    await self.live.handle_events(events)
                elif kind == "connected":
                    self._asterisk_version = None
                    await self.live.connected(arg)
                elif kind == "disconnected":
                    await self.live.disconnected()
                elif kind == "resync":
                    self._resync_pending = False
                    await self._resync(arg)
                elif kind == "flush":
                    await self.live.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("AMI bridge: %s failed; continuing", kind)

    async def _resync(self, reason: str) -> None:
        if not self.ami.connected:
            return
        try:
            status = await self.ami.send({"Action": "QueueStatus"})
            if self._asterisk_version is None:
                settings = await self.ami.send({"Action": "CoreSettings"})
                if isinstance(settings, dict):
                    self._asterisk_version = str(settings.get("AsteriskVersion", "")) or None
            listed = await self.ami.send({"Action": "CoreShowChannels"})
        except AmiError as exc:
            log.warning("resync (%s) failed: %s", reason, exc)
            return
        messages = status if isinstance(status, list) else [status]
        if messages and messages[0].get("Response") not in ("Success", None):
            log.error("resync (%s): QueueStatus refused: %s", reason, messages[0].get("Message"))
            return
        channels: list[AmiMessage] | None = listed if isinstance(listed, list) else [listed]
        if channels and channels[0].get("Response") not in ("Success", None):
            # Queues and seats still resync; the channels in memory are kept.
            log.error("resync (%s): CoreShowChannels refused: %s", reason, channels[0].get("Message"))
            channels = None
        await self.live.resync(messages, self._asterisk_version, channels=channels)
        self.resyncs += 1
        log.debug("resync (%s) done", reason)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        next_resync = loop.time() + self.resync_interval_s
        step = min(self.resync_interval_s, self.redis_retry_s)
        while True:
            await asyncio.sleep(step)
            if self.live.dirty:
                self._commands.put_nowait(("flush", None))
            if loop.time() >= next_resync:
                next_resync = loop.time() + self.resync_interval_s
                if self.ami.connected:
                    self._request_resync("periodic")


async def run_bridge(settings: Settings, ami_secret: str) -> None:
    """Run the AMI bridge until cancelled (the CLI's entry point)."""
    bridge = AmiBridge(settings, ami_secret)
    await bridge.start()
    try:
        await asyncio.Event().wait()
    finally:
        await bridge.stop()
