"""Several platforms on loopback: the project's own rigs (tests/support/pbx.py),
each with its own Asterisk, ports, state dir, Redis prefix and database,
linked by PJSIP trunks told apart by port (DESIGN.md §8).

    A  serves 12345 (seats 1001-1002), trunk `peer-110` to B
    B  serves 110   (seats 2001-2002), trunk `peer-12345` to A

Each records its own orders (its handoff routes wired on a SQLite file in its
own state dir).
"""
from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.runtime import db
from tests.support.orders import OrderReader
from tests.support.pbx import Pbx, free_port
from tests.support.waiting import eventually

TRUNK_RECEIVED_EVENT = "HotlineTrunkReceived"


def trunk_spec(name: str, port: int, *, host: str = "127.0.0.1", kind: str = "peer",
               match: str | None = None, qualify: int = 1, max_calls: int | None = None) -> str:
    """One HOTLINE_TRUNKS entry: the far PBX at host:port, its calls
    identified by that address and port."""
    return (f"{name}=sip:{host}:{port};match={match or f'{host}:{port}'};kind={kind};qualify={qualify}"
            + (f";max={max_calls}" if max_calls is not None else ""))


@dataclass
class Platforms:
    a: Pbx
    b: Pbx
    orders_a: OrderReader
    orders_b: OrderReader
    engines: tuple[Any, ...] = ()

    @property
    def all(self) -> tuple[Pbx, ...]:
        return (self.a, self.b)

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.all), return_exceptions=True)
        for engine in self.engines:
            await engine.dispose()


async def start_platform(state_dir: Path, centres: str, sip_port: int, **env: str) -> Pbx:
    return await Pbx.start(state_dir, HOTLINE_CENTRES=centres, HOTLINE_SIP_PORT=str(sip_port), **env)


async def start_two_platforms(tmp: Path, *, a_env: dict[str, str] | None = None,
                              b_env: dict[str, str] | None = None, a_max_calls: int | None = None) -> Platforms:
    """`a_max_calls`: the max= of A's trunk to B (remote-overflow calls at once)."""
    a_port, b_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    a_settings = {"HOTLINE_TRUNKS": trunk_spec("peer-110", b_port, max_calls=a_max_calls),
                  "HOTLINE_REMOTE_CENTRES": "110=peer-110", **(a_env or {})}
    b_settings = {"HOTLINE_TRUNKS": trunk_spec("peer-12345", a_port),
                  "HOTLINE_REMOTE_CENTRES": "12345=peer-12345", **(b_env or {})}
    a, b = await asyncio.gather(start_platform(tmp / "a", "12345:1001-1002", a_port, **a_settings),
                                start_platform(tmp / "b", "110:2001-2002", b_port, **b_settings))
    urls = [f"sqlite+aiosqlite:///{tmp / name / 'orders.db'}" for name in ("a", "b")]
    for pbx, url in zip((a, b), urls, strict=True):  # one at a time: migrations share process state
        await pbx.use_database(url)
    engines = tuple(db.create_engine(url) for url in urls)
    orders_a, orders_b = (OrderReader(db.session_factory(e)) for e in engines)
    platforms = Platforms(a, b, orders_a, orders_b, engines=engines)
    await asyncio.gather(trunk_reachable(a, "peer-110"), trunk_reachable(b, "peer-12345"))
    return platforms


async def trunk_status(pbx: Pbx, trunk: str) -> str:
    """The qualify status of the trunk's contact as the CLI shows it
    (Avail, Unavail, Unknown, NonQual); "" when it has none."""
    reply = await pbx.ami.send({"Action": "Command", "Command": f"pjsip show aor {trunk}"})
    lines = reply.get("Output", []) if isinstance(reply, dict) else []
    for line in lines if isinstance(lines, list) else [lines]:
        words = line.split()
        if len(words) >= 4 and words[0] == "Contact:" and words[1].startswith(f"{trunk}/"):
            return words[3]
    return ""


async def trunk_reachable(pbx: Pbx, trunk: str, want: str = "Avail", timeout: float = 15.0) -> None:
    async def check() -> bool:
        status = await trunk_status(pbx, trunk)
        assert status == want, f"trunk {trunk} is {status!r}, waiting for {want}"
        return True
    await eventually(check, timeout=timeout, what=f"trunk {trunk} {want}")


async def received(pbx: Pbx, exten: str, timeout: float = 15.0) -> dict[str, Any]:
    """What arrived over a trunk for `exten` (HotlineTrunkReceived, the test rig)."""
    return await pbx.events.wait_for(
        lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == TRUNK_RECEIVED_EVENT
        and e.get("TrunkExten") == exten, timeout=timeout, what=f"a call for {exten} over a trunk")
