"""Run Asterisk from the rendered run directory (I/O: a child process).

`asterisk -C <run>/etc/asterisk.conf -f` keeps Asterisk in the foreground as
our child, so Ctrl-C on `hotline up` and the end of a test session stop it.
Readiness is `core waitfullybooted` over the remote console socket, counted
only once Asterisk's pid file names our child: the control socket of an older
instance on the same run directory must not pass for ours.

An Asterisk left running on the run directory (its `hotline up` was killed:
Asterisk runs in its own session, so it survives) is found by its pid file
(`running_instance`); the owner then adopts it (`adopt`: its calls go on) or
stops it — never silently.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import BinaryIO

from agi.background import wait_for
from core.settings import Settings

log = logging.getLogger(__name__)


# An Asterisk stopped before it has fully booted has no call to lose, and one
# sent SIGTERM while it loads its modules may not act on it (it was seen to
# wait until killed): it gets this long, then SIGKILL.
BOOTING_STOP_S = 2.0


class AsteriskNotInstalled(RuntimeError):
    pass


class AsteriskProcess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.binary = settings.paths.asterisk_prefix / "sbin" / "asterisk"
        self.conf = settings.paths.run_dir / "etc" / "asterisk.conf"
        self.proc: asyncio.subprocess.Process | None = None
        self.adopted_pid: int | None = None  # an instance we did not start (see `adopt`)
        self.starts = 0  # instances started by this object (restarts included)

    @property
    def pid_file(self) -> Path:
        return self.settings.paths.run_dir / "run" / "asterisk.pid"

    @property
    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        return self.adopted_pid

    def running_instance(self) -> int | None:
        """The pid of an Asterisk running on this run directory (its pid file names
        a live `asterisk` process whose command line holds our configuration), or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_asterisk_of(pid, str(self.conf)) else None

    def adopt(self, pid: int) -> None:
        """Supervise an instance this object did not start (left by a killed
        `hotline up`): `running`, `wait_exit` and `stop` then act on it."""
        self.proc = None
        self.adopted_pid = pid
        log.warning("adopted asterisk pid=%s already running on %s (its calls go on)", pid, self.conf)

    def disown(self) -> None:
        """Stop supervising an adopted instance and leave it running (with its
        calls): the next `hotline up` adopts it again."""
        if self.adopted_pid is not None:
            log.warning("asterisk pid=%s left running on %s (its calls go on)", self.adopted_pid, self.conf)
        self.adopted_pid = None

    async def stop_instance(self, pid: int, timeout: float = 15.0) -> None:
        """Stop an instance by pid (not our child): `core stop now`, then SIGKILL."""
        log.warning("stopping asterisk pid=%s left running on %s", pid, self.conf)
        await self.rx("core stop now", timeout=5)
        if not await _gone(pid, timeout):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await _gone(pid, 5.0)

    async def wait_exit(self) -> int | None:
        """Wait until the supervised Asterisk exits; its exit code (None when adopted)."""
        if self.proc is not None:
            return await self.proc.wait()
        while self.adopted_pid is not None and _alive(self.adopted_pid):  # noqa: ASYNC110 - not our child: polled
            await asyncio.sleep(0.2)
        return None

    def check_installed(self) -> None:
        if not os.access(self.binary, os.X_OK):
            raise AsteriskNotInstalled(
                f"no Asterisk at {self.binary}: run `scripts/install-asterisk` "
                "(or `hotline install-asterisk`), or set HOTLINE_ASTERISK_PREFIX")

    async def start(self, timeout: float = 60.0) -> None:
        self.check_installed()
        log_path = self.settings.paths.run_dir / "log" / "console.log"
        out = await asyncio.to_thread(open_log, log_path)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                str(self.binary), "-C", str(self.conf), "-f", "-n", "-q",
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        finally:
            out.close()
        self.adopted_pid = None
        self.starts += 1
        log.info("asterisk started pid=%s conf=%s", self.proc.pid, self.conf)
        try:
            await wait_for(self._wait_booted(), timeout)
        except TimeoutError:
            await self.stop(timeout=BOOTING_STOP_S)
            raise RuntimeError(f"Asterisk did not boot within {timeout:.0f}s; see {log_path}") from None
        except BaseException:  # cancelled while booting (Ctrl-C, SIGTERM) or it exited: not left running
            await self.stop(timeout=BOOTING_STOP_S)
            raise

    async def _wait_booted(self) -> None:
        assert self.proc is not None
        while True:
            if self.proc.returncode is not None:
                raise RuntimeError(
                    f"Asterisk exited with {self.proc.returncode}; see "
                    f"{self.settings.paths.run_dir / 'log' / 'console.log'}")
            if self._pid_in_file() != self.proc.pid:  # not ours yet (or another instance's)
                await asyncio.sleep(0.05)
                continue
            rc, out = await self.rx("core waitfullybooted", timeout=10)
            if rc == 0 and "Asterisk has fully booted" in out and self._pid_in_file() == self.proc.pid \
                    and self.proc.returncode is None:
                return
            await asyncio.sleep(0.2)  # the control socket is not there yet: retry

    async def rx(self, command: str, timeout: float = 10.0) -> tuple[int, str]:
        """Run one CLI command through the remote console socket."""
        p = await asyncio.create_subprocess_exec(
            str(self.binary), "-C", str(self.conf), "-rx", command,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await wait_for(p.communicate(), timeout)
        except TimeoutError:
            p.kill()
            await p.wait()
            return 124, ""
        return p.returncode or 0, out.decode(errors="replace")

    def _pid_in_file(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def running(self) -> bool:
        if self.adopted_pid is not None:
            return _alive(self.adopted_pid)
        return self.proc is not None and self.proc.returncode is None

    async def stop(self, timeout: float = 15.0) -> None:
        if self.adopted_pid is not None:
            pid, self.adopted_pid = self.adopted_pid, None
            if _alive(pid):
                await self.stop_instance(pid, timeout)
            return
        if self.proc is None or self.proc.returncode is not None:
            return
        log.info("stopping asterisk pid=%s", self.proc.pid)
        rc, _ = await self.rx("core stop now", timeout=5)
        if rc != 0 and self.proc.returncode is None:  # no control socket yet (still booting): its signal
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            log.warning("asterisk pid=%s did not stop within %.0f s; killed", self.proc.pid, timeout)
            os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()

    async def restart(self, timeout: float = 60.0) -> None:
        await self.stop()
        await self.start(timeout)


def open_log(path: Path) -> BinaryIO:
    """`path` opened for appending, its directory made: a child's stdout and stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "ab")


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _is_asterisk_of(pid: int, conf: str) -> bool:
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and os.path.basename(cmdline[0]).startswith(b"asterisk") and conf.encode() in cmdline


async def _gone(pid: int, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _alive(pid):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def asterisk_version_dir(prefix: Path) -> str:
    return str(prefix.resolve())
