"""Run Asterisk from the rendered run directory (I/O: a child process).

`asterisk -C <run>/etc/asterisk.conf -f` keeps Asterisk in the foreground as
our child, so Ctrl-C on `hotline up` and the end of a test session stop it.
Readiness is `core waitfullybooted` over the remote console socket.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from core.settings import Settings

log = logging.getLogger(__name__)


class AsteriskNotInstalled(RuntimeError):
    pass


class AsteriskProcess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.binary = settings.paths.asterisk_prefix / "sbin" / "asterisk"
        self.conf = settings.paths.run_dir / "etc" / "asterisk.conf"
        self.proc: asyncio.subprocess.Process | None = None

    def check_installed(self) -> None:
        if not os.access(self.binary, os.X_OK):
            raise AsteriskNotInstalled(
                f"no Asterisk at {self.binary}: run `scripts/install-asterisk` "
                "(or `hotline install-asterisk`), or set HOTLINE_ASTERISK_PREFIX")

    async def start(self, timeout: float = 60.0) -> None:
        self.check_installed()
        log_path = self.settings.paths.run_dir / "log" / "console.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                str(self.binary), "-C", str(self.conf), "-f", "-n", "-q",
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        finally:
            out.close()
        log.info("asterisk started pid=%s conf=%s", self.proc.pid, self.conf)
        try:
            await asyncio.wait_for(self._wait_booted(), timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise RuntimeError(f"Asterisk did not boot within {timeout:.0f}s; see {log_path}") from None

    async def _wait_booted(self) -> None:
        assert self.proc is not None
        while True:
            if self.proc.returncode is not None:
                raise RuntimeError(
                    f"Asterisk exited with {self.proc.returncode}; see "
                    f"{self.settings.paths.run_dir / 'log' / 'console.log'}")
            rc, out = await self.rx("core waitfullybooted", timeout=10)
            if rc == 0 and "Asterisk has fully booted" in out:
                return
            await asyncio.sleep(0.2)  # the control socket is not there yet: retry

    async def rx(self, command: str, timeout: float = 10.0) -> tuple[int, str]:
        """Run one CLI command through the remote console socket."""
        p = await asyncio.create_subprocess_exec(
            str(self.binary), "-C", str(self.conf), "-rx", command,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(p.communicate(), timeout)
        except asyncio.TimeoutError:
            p.kill()
            await p.wait()
            return 124, ""
        return p.returncode or 0, out.decode(errors="replace")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        log.info("stopping asterisk pid=%s", self.proc.pid)
        await self.rx("core stop now", timeout=5)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()

    async def restart(self, timeout: float = 60.0) -> None:
        await self.stop()
        await self.start(timeout)


def asterisk_version_dir(prefix: Path) -> str:
    return str(prefix.resolve())
