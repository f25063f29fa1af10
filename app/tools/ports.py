"""A free local port for a listener a test or benchmark starts (I/O).

Not one the kernel hands out for `bind(0)`: those come from the ephemeral
range (/proc/sys/net/ipv4/ip_local_port_range), the same range every
outgoing connection takes its local port from — and on a busy machine (each
FastAGI request is a new connection from Asterisk) one of them could take the
port between the pick and the listener's bind: "address already in use".
A port below that range is only ever taken by a listener.
"""
from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10_000
RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of ports for outgoing connections (Linux; its default elsewhere)."""
    try:
        low, high = (int(part) for part in RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def free_port(kind: int = socket.SOCK_STREAM, *, tries: int = 200) -> int:
    """A port of 127.0.0.1 nothing is bound to now (for `kind`: TCP by
    default, UDP for SIP), below the ephemeral range; falls back to one from
    the kernel if that range leaves too little room below it."""
    low, _ = ephemeral_range()
    pick = random.SystemRandom()
    if low - LOWEST >= 1000:
        for _ in range(tries):
            port = pick.randrange(LOWEST, low)
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
