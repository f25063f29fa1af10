"""Ports for the listeners tests and benchmarks start (app/tools/ports.py)."""
from __future__ import annotations

import socket

import pytest

from app.tools.ports import LOWEST, ephemeral_range, free_port


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_a_free_port_is_below_the_range_outgoing_connections_take_theirs_from_and_can_be_bound(kind: int) -> None:
    low, high = ephemeral_range()
    assert 0 < low <= high
    for _ in range(20):
        port = free_port(kind)
        assert LOWEST <= port < low
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        taken = busy.getsockname()[1]
        other = free_port()
        picks = iter([taken, other])

        class Picks:
            def randrange(self, _low: int, _high: int) -> int:
                return next(picks)

        monkeypatch.setattr("app.tools.ports.random.SystemRandom", Picks)
        assert free_port() == other
