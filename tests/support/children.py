"""Processes a test starts (`hotline up`, `hotline web`, a stand-in peer): stopping them."""
from __future__ import annotations

import asyncio
import contextlib
import signal

from agi.background import wait_for


async def stop_child(proc: asyncio.subprocess.Process, *, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
    """Send `sig` to `proc` unless it has exited on its own (a child that
    failed to start: signalling it raised, and skipped the rest of a
    teardown), wait up to `timeout` s, then kill it.  Its exit code (0 if none)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # exited since: nothing to signal
            proc.send_signal(sig)
    try:
        await wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
    return proc.returncode or 0
