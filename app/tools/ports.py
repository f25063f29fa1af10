"""A free local port for a listener a test or benchmark starts (I/O).

Not one the kernel hands out for `bind(0)`: those come from the ephemeral
range (/proc/sys/net/ipv4/ip_local_port_range), the same range every
outgoing connection takes its local port from — and on a busy machine (each
FastAGI request is a new connection from Asterisk) one of them could take the
port between the pick and the listener's bind: "address already in use".
A port below that range is only ever taken by a listener.

Nor one this process handed out before: a caller often picks several ports
and binds them later (a platform's web port, then a stand-in peer's), and a
port picked but not bound yet is free to the next pick — two listeners of
one test were once given the same port.
"""
from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

LOWEST = 10_000
RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")

_handed_out: set[int] = set()  # by this process, TCP and UDP alike
_lock = threading.Lock()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections (Linux; its default elsewhere)."""
    try:
        low, high = (int(part) for part in RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port(kind: int = socket.SOCK_STREAM, *, tries: int = 200) -> int:
    """A port of 127.0.0.1 nothing is bound to now (for `kind`: TCP by
    default, UDP for SIP) and that this process has not handed out before,
    below the ephemeral range; falls back to one from the kernel if that
    range leaves too little room below it."""
    low, _ = ephemeral_range()
    pick = random.SystemRandom()
    with _lock:
        if len(_handed_out) > (low - LOWEST) // 2:  # a process that picked half the range: start again
            _handed_out.clear()
        if low - LOWEST >= 1000:
            for _ in range(tries):
                port = pick.randrange(LOWEST, low)
                if port in _handed_out:
                    continue
                with socket.socket(socket.AF_INET, kind) as sock:
                    try:
                        sock.bind(("127.0.0.1", port))
                    except OSError:
                        continue
                _handed_out.add(port)
                return port
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        _handed_out.add(port)
        return port
