"""The faults tier's rig: the telephony rig wired as the product, load, faults, figures.

`FaultRig` is `tests.support.pbx.Pbx` (a real Asterisk on free ports, the
FastAGI server, one AMI link) wired with the product's features — the
handoff journal and its reconciler included — over a SQLite file, with more
seats than the default rig so several citizens are in calls at once.  Load is
simulated citizens (`app.tools.simulation`) answered by simulated seats that
press the handoff key.  `Figures` is one row of the tier's table.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType
from typing import Any

from app.handoff.http import HANDOFFS
from app.handoff.journal import AmiAstDb, HandoffJournal
from app.handoff.services import HandoffService
from app.runtime.asterisk import open_log
from app.tools.simulation import CitizenCall
from app.web.errors import NotFound
from core.handoff import ASTDB_FAMILY
from core.settings import PROJECT_ROOT
from tests.support.pbx import Pbx, free_port
from tests.support.waiting import eventually

CENTRES = "12345:1001-1008;110:2001-2008"
SEATS_110 = [f"20{n:02d}" for n in range(1, 9)]
CALL_MODES = ("transfer", "three_way")  # the orders a key press makes, pending while the call lasts
FINAL_FOR_A_HANDOFF = {"accepted", "returned", "abandoned"}
CREATED = "HotlineHandoffCreated"


@dataclass
class Figures:
    """One fault's figures (a row of the tier's table)."""

    fault: str
    calls: int = 0                 # citizens placed
    handoffs: int = 0              # key presses that moved a citizen
    dropped: int = 0               # citizens cut off while Asterisk was up
    lost: int = 0                  # handoffs without an order
    pending: int = 0               # handoff orders left pending
    settled: int = 0               # orders the reconciler ended (call gone, nobody reported)
    leaked: str = "0/0/0"          # channels / conferences / AstDB entries left
    reconnect_s: float | None = None   # Asterisk accepting AMI logins -> link back
    outage_s: float | None = None      # how long the fault lasted
    settle_s: float | None = None      # from the fault's end (or the last hangup) to every handoff settled
    seconds: float = 0.0           # the test's wall time
    note: str = ""
    filled: bool = False
    started: float = field(default_factory=time.monotonic)

    def done(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self, key, value)
        self.seconds = round(time.monotonic() - self.started, 1)
        self.filled = True

    COLUMNS = ("fault", "calls", "handoffs", "dropped", "lost", "pending", "settled", "leaked",
               "reconnect_s", "outage_s", "settle_s", "seconds", "note")

    @classmethod
    def table(cls, rows: list[Figures]) -> str:
        names = {f.name for f in fields(cls)}
        assert set(cls.COLUMNS) <= names
        head = "| " + " | ".join(cls.COLUMNS) + " |"
        rule = "|" + "|".join("---" for _ in cls.COLUMNS) + "|"
        lines = [head, rule]
        for row in rows:
            cells = []
            for name in cls.COLUMNS:
                value = getattr(row, name)
                cells.append("–" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value)))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


@dataclass
class Call:
    citizen: CitizenCall
    seat: str


class FaultRig:
    def __init__(self, pbx: Pbx, figures: Figures, url: str) -> None:
        self.pbx = pbx
        self.figures = figures
        self.url = url
        self.handoff_ids: list[str] = []
        self.calls: list[Call] = []
        self.hung_up: set[str] = set()   # handsets the test hung up itself

    @classmethod
    async def start(cls, tmp_path: Path, figures: Figures, url: str | None = None,
                    features: tuple[ModuleType, ...] | None = None, **env: str) -> FaultRig:
        """`features`: those wired (the rig's default: inbound, orders, handoff)."""
        pbx = await Pbx.start(tmp_path / "pbx", HOTLINE_CENTRES=CENTRES, **env)
        url = url or f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
        rig = cls(pbx, figures, url)
        if features is None:
            await pbx.wire(url)
        else:
            await pbx.wire(url, features=features)
        await pbx.reset_phones()
        return rig

    async def stop(self) -> None:
        if self.pbx.asterisk.running and self.pbx.ami.connected:
            try:
                await self.pbx.ami.send({"Action": "Hangup", "Channel": "/.*/"})
            except Exception:  # noqa: BLE001 - tearing down
                pass
        await self.pbx.stop()

    # ------------------------------------------------------------ parts

    @property
    def handoffs(self) -> HandoffService:
        assert self.pbx.deps is not None
        return self.pbx.deps.get(HANDOFFS)

    @property
    def journal(self) -> HandoffJournal:
        assert self.pbx.deps is not None
        return next(w for w in self.pbx.deps.workers if isinstance(w, HandoffJournal))

    # ------------------------------------------------------------ load

    async def answered_calls(self, n: int, *, centre: str = "12345", first: int = 0) -> list[Call]:
        """`n` citizens dial `centre` at once; returns when a seat answered each."""
        numbers = [f"1390{uuid.uuid4().int % 10_000_000:07d}" for _ in range(n)]
        citizens = await asyncio.gather(*(self.pbx.citizen_dials(centre, number) for number in numbers))
        calls = []
        for citizen in citizens:
            answered = await self.pbx.seat_answered(citizen.number, timeout=30)
            calls.append(Call(citizen, answered["Seat"]))
        self.calls.extend(calls)
        self.figures.calls += n
        return calls

    async def press_handoff_keys(self, calls: list[Call]) -> list[str]:
        """Every call's seat presses the handoff key at once; returns the handoff
        ids as the `HotlineHandoffCreated` events name them (all of them seen)."""
        seen = len(self._created())
        astdb = AmiAstDb(self.pbx.ami)
        before = set(await astdb.tree(ASTDB_FAMILY))
        key = self.pbx.settings.handoff.key
        await asyncio.gather(*(self.pbx.press_key(call.seat, key) for call in calls))
        found: list[str] = []

        async def created() -> bool:
            # the created events, and the handoffs' own AstDB state (Asterisk's
            # record of them, should an event reach this log late)
            ids = [str(e["Handoff"]) for e in self._created()[seen:]]
            ids += [k for k in await astdb.tree(ASTDB_FAMILY) if k not in before and k not in ids]
            found[:] = ids
            return len(ids) >= len(calls)
        await eventually(created, timeout=15, what=f"{len(calls)} handoffs created")
        ids = list(found)
        self.handoff_ids.extend(ids)
        self.figures.handoffs += len(ids)
        return ids

    async def press_keys_only(self, calls: list[Call]) -> None:
        """Every call's seat presses the handoff key at once; returns when the
        presses ended, without waiting for anything Asterisk does about them."""
        key = self.pbx.settings.handoff.key
        await asyncio.gather(*(self.pbx.press_key(call.seat, key) for call in calls))

    def collect_created(self) -> list[str]:
        """The handoff ids the `HotlineHandoffCreated` events named so far (not yet counted)."""
        ids = [str(e["Handoff"]) for e in self._created() if str(e["Handoff"]) not in self.handoff_ids]
        self.handoff_ids.extend(ids)
        self.figures.handoffs += len(ids)
        return ids

    async def all_transfer_orders(self) -> list[Any]:
        """Every transfer order in SQL, whatever its status."""
        orders = []
        for status in ("pending", "accepted", "returned", "abandoned", "voided", "closed"):
            orders.extend(await self.handoffs.orders.in_status("transfer", status))
        return orders

    async def press_handoff_keys_agi(self, calls: list[Call]) -> list[str]:
        """As `press_handoff_keys` with the fast path off: the `handoff_key` route
        records each order before the move; the ids as the answering seats see them."""
        seen = len(self._answered_with_handoff())
        key = self.pbx.settings.handoff.key
        await asyncio.gather(*(self.pbx.press_key(call.seat, key) for call in calls))
        await eventually(lambda: len(self._answered_with_handoff()) >= seen + len(calls), timeout=15,
                         what=f"{len(calls)} handed-over citizens answered")
        ids = [str(e["Handoff"]) for e in self._answered_with_handoff()[seen:]]
        self.handoff_ids.extend(ids)
        self.figures.handoffs += len(ids)
        return ids

    async def answered_in_110(self, n: int, *, timeout: float, what: str) -> None:
        """Returns once 110's linkage queue connected `n` citizens to its seats (AgentConnect)."""
        await eventually(lambda: len(self.pbx.events.find(
            lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline-110-linkage")) >= n,
            timeout=timeout, what=what)

    def _answered_with_handoff(self) -> list[dict[str, Any]]:
        return self.pbx.events.find(lambda e: e.get("Event") == "UserEvent"
                                    and e.get("UserEvent") == "HotlineSeatAnswered" and e.get("Handoff"))

    def _created(self) -> list[dict[str, Any]]:
        return self.pbx.events.find(lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == CREATED)

    async def no_110_seat_answers(self) -> None:
        for seat in SEATS_110:
            await self.pbx.set_phone(seat, "noanswer")

    async def alive_handsets(self) -> set[str]:
        return {c["Uniqueid"] for c in await self.pbx.channels()}

    async def count_dropped(self) -> int:
        """Citizens whose handset is gone although the test did not hang up."""
        alive = await self.alive_handsets()
        dropped = [c for c in self.calls if c.citizen.handset_id not in alive
                   and c.citizen.handset_id not in self.hung_up]
        return len(dropped)

    async def hang_up_all(self) -> None:
        for call in self.calls:
            if call.citizen.handset_id not in self.hung_up:
                self.hung_up.add(call.citizen.handset_id)
                await self.pbx.hang_up(call.citizen.handset_id)

    # ------------------------------------------------------------ faults

    async def kill_asterisk(self) -> None:
        """kill -9 of Asterisk (no shutdown, no hangup handlers, AstDB as far as it reached the disk)."""
        proc = self.pbx.asterisk.proc
        assert proc is not None and proc.returncode is None
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        for call in self.calls:  # Asterisk took them with it: not dropped "while up"
            self.hung_up.add(call.citizen.handset_id)

    async def restart_asterisk(self) -> float:
        """Start Asterisk again; returns the seconds from Asterisk accepting AMI
        logins (fully booted: our pid's control socket answers) to the link back."""
        await self.pbx.asterisk.start()
        booted = time.monotonic()
        await eventually(lambda: self.pbx.ami.connected, timeout=10, interval=0.01, what="AMI link back")
        return round(time.monotonic() - booted, 2)

    async def wait_reconciled(self, runs_before: int, timeout: float = 20.0) -> None:
        await eventually(lambda: self.journal.reconciled > runs_before, timeout=timeout, interval=0.05,
                         what="the reconciler run after the reconnect")

    # ------------------------------------------------------------ outcome

    async def outcome(self) -> dict[str, Any]:
        """Lost, pending and not-final handoffs; settled orders; what is left."""
        lost, not_final, settled = [], [], 0
        for handoff_id in self.handoff_ids:
            try:
                order = await self.handoffs.orders.get(handoff_id)
            except NotFound:
                lost.append(handoff_id)
                continue
            if order.status not in FINAL_FOR_A_HANDOFF:
                not_final.append((handoff_id, order.status))
            if order.outcome_reason == "settled_after_restart":
                settled += 1
        pending = [o for mode in CALL_MODES for o in await self.handoffs.orders.in_status(mode, "pending")]
        channels, conferences = await self.pbx.leaks()
        astdb = await self.pbx.astdb_left()
        return {"lost": lost, "not_final": not_final, "pending": [o.id for o in pending], "settled": settled,
                "channels": channels, "conferences": conferences, "astdb": astdb}

    async def settled_outcome(self, timeout: float = 20.0) -> dict[str, Any]:
        """Poll until every handoff has a final order, none is pending and nothing
        is left (the reconciler's periodic run or the hangup reports); the last
        outcome either way, recorded in the figures."""
        last: dict[str, Any] = {}
        began = time.monotonic()

        async def settled() -> bool:
            nonlocal last
            last = await self.outcome()
            return not (last["lost"] or last["not_final"] or last["pending"] or last["channels"]
                        or last["conferences"] or last["astdb"])

        try:
            await eventually(settled, timeout=timeout, interval=0.2, what="every handoff settled, nothing left")
        except AssertionError:
            pass
        else:
            if self.figures.settle_s is None:
                self.figures.settle_s = round(time.monotonic() - began, 2)
        n_astdb = sum(len(v) for v in last["astdb"].values())
        self.figures.lost = len(last["lost"])
        self.figures.pending = len(last["pending"])
        self.figures.settled = last["settled"]
        self.figures.leaked = f"{len(last['channels'])}/{len(last['conferences'])}/{n_astdb}"
        return last

    async def assert_clean(self) -> None:
        out = await self.settled_outcome(timeout=10)
        assert out["lost"] == [], f"orders lost: {out['lost']}"
        assert out["not_final"] == [] and out["pending"] == [], f"not settled: {out['not_final']} {out['pending']}"
        assert out["channels"] == [] and out["conferences"] == [], f"left: {out['channels']} {out['conferences']}"
        assert out["astdb"] == {}, f"stale AstDB entries: {out['astdb']}"


# ------------------------------------------------------------------ `hotline up` as a process

def up_env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_STATE_DIR": str(state_dir),
        "HOTLINE_SEAT_MODE": "simulated",
        "HOTLINE_CENTRES": CENTRES,
        "HOTLINE_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "HOTLINE_AMI_PORT": str(free_port()),
        "HOTLINE_AGI_PORT": str(free_port()),
        "HOTLINE_HTTP_PORT": str(free_port()),
        "HOTLINE_RTP_PORTS": "34000-34999",
        "HOTLINE_REDIS_PREFIX": f"hlfaults:{uuid.uuid4().hex[:8]}:",
        "HOTLINE_LOG_LEVEL": "INFO",
    })
    if os.environ.get("HOTLINE_ASTERISK_PREFIX"):
        env["HOTLINE_ASTERISK_PREFIX"] = os.environ["HOTLINE_ASTERISK_PREFIX"]
    env.update(extra)
    return env


async def hotline(args: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    out = await asyncio.to_thread(open_log, log)
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.runtime.cli", *args, cwd=PROJECT_ROOT, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT)
    finally:
        out.close()


def asterisk_pids(state_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
                stat = (proc / "stat").read_bytes()
            except OSError:
                continue
            # not a remote console (`asterisk -C ... -rx "core show ..."`): the
            # stack runs those against its Asterisk, for a moment each
            remote = any(arg in (b"-r", b"-rx", b"-x", b"-R") for arg in cmd)
            if cmd and cmd[0].endswith(b"asterisk") and str(state_dir).encode() in b" ".join(cmd) \
                    and not remote and stat.rsplit(b")", 1)[1].split()[0] != b"Z":
                pids.append(int(proc.name))
    return pids


async def attach(env: dict[str, str]) -> Pbx:
    """The test's own AMI link to the Asterisk a `hotline up` runs (it outlives
    that process): the rig's helpers (citizens, seats, keys, leak check) on it."""
    from agi.server import FastAgiServer
    from ami_bridge.manager import AmiManager
    from app.runtime.asterisk import AsteriskProcess
    from app.runtime.secrets import load_or_create
    from core.settings import Settings

    settings = Settings.from_env(env)
    secrets = load_or_create(settings)
    ami = AmiManager("127.0.0.1", settings.ami.port, settings.ami.user, secrets.ami_secret,
                     backoff_initial_s=0.1)
    pbx = Pbx(settings, secrets, AsteriskProcess(settings), FastAgiServer(settings), ami)
    ami.on_event("*", pbx.events.record)
    await ami.start()
    await ami.wait_connected(timeout=20)
    return pbx


async def health(env: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
    """(status, body) of `/api/health`, None while nothing answers."""
    import aiohttp

    url = f"http://127.0.0.1:{env['HOTLINE_HTTP_PORT']}/api/health"
    try:
        async with aiohttp.ClientSession() as http, http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
            return r.status, await r.json()
    except (TimeoutError, aiohttp.ClientError):
        return None
