"""Ports for the listeners tests and benchmarks start (app/tools/ports.py)."""
from __future__ import annotations

import socket

import pytest

from app.tools import ports
from app.tools.ports import LOWEST, ephemeral_range, free_port


def _unused_port() -> int:
    """A port in free_port's range that it has not handed out and nothing is bound to."""
    for port in range(LOWEST, ephemeral_range()[0]):
        if port in ports._handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no unused port")


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
        busy.bind(("127.0.0.1", _unused_port()))  # bound by someone else: not one free_port handed out
        busy.listen()
        taken = busy.getsockname()[1]
        other = _unused_port()
        picks = iter([taken, other])

        class Picks:
            def randrange(self, _low: int, _high: int) -> int:
                return next(picks)

        monkeypatch.setattr("app.tools.ports.random.SystemRandom", Picks)
        assert free_port() == other


def test_a_port_handed_out_before_is_not_handed_out_again_before_it_is_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = free_port(), free_port()  # picked, neither bound yet (a web port, then a peer's)
    assert first != second
    fresh = _unused_port()
    picks = iter([first, second, fresh])

    class Picks:
        def randrange(self, _low: int, _high: int) -> int:
            return next(picks)

    monkeypatch.setattr("app.tools.ports.random.SystemRandom", Picks)
    assert free_port() == fresh  # the two repeats passed over, though nothing is bound to them
