"""The whole product on one machine: Asterisk and one process with every role (I/O).

`hotline up` and `hotline demo` run a `Stack`: the Asterisk configuration
rendered, then a `Platform` with the agi, bridge and web roles around a
child Asterisk.  Production sites may instead run each role as its own
process (`hotline agi`, `hotline ami-bridge`, `hotline web`, the same
`Platform` with one role) and Asterisk under systemd.  Start order:
database migrations and the features' wiring, FastAGI (so the first call
finds it), Asterisk, the AMI link and its workers, web.  Stop order is the
reverse.

Supervision:

* One `hotline up` per state directory: it holds an exclusive lock on
  `<state>/hotline-up.lock` (its pid inside) for its whole life; a second one
  refuses at once, naming the owner (`StateDirBusy`).
* An Asterisk still running on the run directory when `hotline up` starts
  (the previous `hotline up` was killed; Asterisk runs in its own session and
  survives it) is adopted when it answers on its control socket — its calls
  go on, and it is supervised and stopped like our own — else stopped; both
  logged, never silent.
* Asterisk dying under `hotline up` is restarted (`max_restarts` within
  `restart_window_s`, with a growing pause, each attempt logged); the AMI
  link is told to reconnect at once.  Past the limit it gives up, loudly, and
  `/api/health` says the AMI link is down.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from pathlib import Path
from typing import IO

from agi.background import cancel_all
from app.runtime.asterisk import AsteriskProcess
from app.runtime.network import sip_server
from app.runtime.platform import Platform
from app.runtime.render import render
from core.settings import Settings

log = logging.getLogger(__name__)


class StateDirBusy(RuntimeError):
    """Another `hotline up` owns the state directory."""


class Stack:
    def __init__(self, settings: Settings, *, max_restarts: int = 5, restart_window_s: float = 300.0) -> None:
        self.settings = settings
        self.asterisk = AsteriskProcess(settings)
        self.platform = Platform(settings)
        self.secrets = self.platform.secrets
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self.restarts: list[float] = []  # monotonic times of the restarts so far
        self.gave_up = False
        self._lock: IO[str] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def lock_path(self) -> Path:
        return self.settings.paths.state_dir / "hotline-up.lock"

    def claim_state_dir(self) -> None:
        """Take the state directory's lock, or raise `StateDirBusy` naming its owner."""
        path = self.lock_path
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            handle.close()
            raise StateDirBusy(f"another `hotline up` (pid {owner}) owns the state directory "
                               f"{self.settings.paths.state_dir}; stop it first, or set HOTLINE_STATE_DIR") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def release_state_dir(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    async def start(self) -> None:
        """Everything, in order; if a part fails (a port taken, the database
        unreachable), what this start started is stopped again — an Asterisk
        it adopted, with calls of a previous `hotline up`, is left running for
        the next one — and the error raised."""
        self.claim_state_dir()
        started_asterisk = False
        try:
            self.asterisk.check_installed()
            await self.platform.wire()
            render(self.settings, self.secrets)
            await self.platform.start_agi()
            started_asterisk = await self._start_or_adopt_asterisk()
            await self.platform.start()
        except BaseException:
            if not started_asterisk:
                self.asterisk.disown()  # nor by a `stop` after this
            try:
                await self.platform.stop(before_agi=self.asterisk.stop)
            except Exception:  # the start's own error is the one to report
                log.exception("stopping what had started failed")
            finally:
                self.release_state_dir()
            raise
        self._watchdog = asyncio.get_running_loop().create_task(self._watch(), name="asterisk watchdog")
        log.info("hotline-link up: SIP %s, AMI 127.0.0.1:%s, FastAGI %s, web http://%s:%s/ (event loop %s)",
                 sip_server(self.settings), self.settings.ami.port,
                 self.settings.network.agi_url, self.settings.network.http_host, self.settings.network.http_port,
                 type(asyncio.get_running_loop()).__module__.split(".")[0])

    async def _start_or_adopt_asterisk(self) -> bool:
        """True when an Asterisk was started, False when one left running was adopted."""
        left = self.asterisk.running_instance()
        if left is not None:
            rc, out = await self.asterisk.rx("core waitfullybooted", timeout=5)
            if rc == 0 and "fully booted" in out and self.asterisk.running_instance() == left:
                log.warning("an Asterisk (pid %s) from a previous `hotline up` is still running on %s: "
                            "adopting it", left, self.settings.paths.run_dir)
                self.asterisk.adopt(left)
                await self.asterisk.rx("core reload", timeout=10)  # the configuration just rendered
                return False
            log.warning("an Asterisk (pid %s) from a previous `hotline up` is running on %s but does not "
                        "answer: stopping it", left, self.settings.paths.run_dir)
            await self.asterisk.stop_instance(left)
        await self.asterisk.start()
        return True

    async def _watch(self) -> None:
        """Restart Asterisk when it dies (bounded, logged)."""
        while not self._stopping:
            code = await self.asterisk.wait_exit()
            if self._stopping:
                return
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < self.restart_window_s]
            if len(self.restarts) >= self.max_restarts:
                self.gave_up = True
                log.critical("asterisk (pid %s) exited (%s): %d restarts within %.0f s already; giving up — "
                             "calls are not served until `hotline up` is restarted",
                             self.asterisk.pid, code, len(self.restarts), self.restart_window_s)
                return
            self.restarts.append(now)
            pause = min(0.5 * 2 ** (len(self.restarts) - 1), 8.0)
            log.error("asterisk (pid %s) exited unexpectedly (%s); restart %d of at most %d within %.0f s in %.1f s",
                      self.asterisk.pid, code, len(self.restarts), self.max_restarts, self.restart_window_s, pause)
            await asyncio.sleep(pause)
            if self._stopping:
                return
            try:
                await self.asterisk.start()
            except Exception:
                log.exception("asterisk restart %d failed", len(self.restarts))
                continue
            log.warning("asterisk restarted (pid %s)", self.asterisk.pid)
            if self.platform.ami is not None:
                self.platform.ami.reconnect_now()

    async def stop(self) -> None:
        self._stopping = True
        if self._watchdog is not None:
            await cancel_all([self._watchdog])
            self._watchdog = None
        try:
            await self.platform.stop(before_agi=self.asterisk.stop)
        finally:
            self.release_state_dir()
