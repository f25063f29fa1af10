"""The telephony test rig: a real Asterisk, the FastAGI server, an AMI client.

Asterisk is the one `scripts/install-asterisk` built (never a stand-in); it
runs from the project's own rendered configuration on free ports, with
simulated seat phones (Local channels into `hotline-seat-phones`).  Citizens
are originated Local channels with an explicit caller ID; key presses are AMI
`PlayDTMF` on the seat's `;2` half.  After each test the rig checks that no
channel, no conference and no per-call AstDB entry is left.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

from agi.background import wait_for
from agi.registry import AgiRoutes
from agi.server import FastAgiServer
from ami_bridge.manager import AmiManager
from ami_bridge.service import AmiBridge
from app.handoff import plugin as handoff
from app.handoff.http import HANDOFFS
from app.handoff.journal import AmiAstDb, HandoffJournal
from app.handoff.services import HandoffService
from app.inbound import agi as inbound_agi
from app.inbound import plugin as inbound
from app.orders import plugin as orders
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.asterisk import AsteriskProcess
from app.runtime.features import Dependencies, setup_features
from app.runtime.render import render
from app.runtime.secrets import Secrets, load_or_create
from app.tools import simulation
from app.tools.ports import free_port
from app.tools.simulation import SEAT_ANSWERED_EVENT, CitizenCall
from core.handoff import ASTDB_FAMILY, CALL_GUARD_FAMILY, ENDED_FAMILY, OUTBOX_FAMILY
from core.settings import Settings
from core.threeway import ASTDB_FAMILY as THREEWAY_FAMILY
from tests.support.waiting import eventually

log = logging.getLogger(__name__)

# The AstDB families a call writes and its end (or Python, after it) clears:
# an entry left in one once the call is over and Python has caught up is stale.
PER_CALL_FAMILIES = (ASTDB_FAMILY, OUTBOX_FAMILY, ENDED_FAMILY, CALL_GUARD_FAMILY, THREEWAY_FAMILY)


def machine_settings() -> Settings:
    """This machine's Asterisk and Redis and nothing else of the environment:
    for a benchmark run as a test (it makes its own state dir and ports)."""
    return Settings.from_env({k: v for k, v in os.environ.items()
                              if k in ("HOTLINE_ASTERISK_PREFIX", "HOTLINE_REDIS_URL")})


def rig_settings(state_dir: Path, **env: str) -> Settings:
    return Settings.from_env(rig_env(state_dir, **env))


def rig_env(state_dir: Path, **env: str) -> dict[str, str]:
    """The HOTLINE_* variables of a rig: its own state dir, free ports, a
    Redis prefix of its own (what `rig_settings` reads, and what a `hotline`
    command run as a process for the rig is given)."""
    base = {
        "HOTLINE_STATE_DIR": str(state_dir),
        "HOTLINE_SEAT_MODE": "simulated",
        "HOTLINE_CENTRES": "12345:1001-1004;110:2001-2002",
        "HOTLINE_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "HOTLINE_AMI_PORT": str(free_port()),
        "HOTLINE_AGI_PORT": str(free_port()),
        "HOTLINE_HTTP_PORT": str(free_port()),
        "HOTLINE_RTP_PORTS": "30000-30999",
        "HOTLINE_REDIS_PREFIX": f"hltest:{uuid.uuid4().hex[:8]}:",
        # one-key transfer: a short no-answer limit, and 120 routed to the
        # simulated destination phone (reports the caller ID it sees)
        "HOTLINE_HANDOFF_TIMEOUT": "3",
        "HOTLINE_DESTINATION_ROUTES": "120=Local/120@hotline-destination-phone/n",
        # the tests read the dialplan's steps (Newexten, VarSet), which the
        # product turns off by default (tests/asterisk/test_ami_events.py runs
        # the default)
        "HOTLINE_AMI_DISABLED_EVENTS": "",
    }
    import os

    if os.environ.get("HOTLINE_ASTERISK_PREFIX"):
        base["HOTLINE_ASTERISK_PREFIX"] = os.environ["HOTLINE_ASTERISK_PREFIX"]
    base.update(env)
    return base


class EventLog:
    """Every AMI event the rig's client received, with waiting by predicate."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()

    async def record(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        async with self._changed:
            self._changed.notify_all()

    def clear(self) -> None:
        self.events.clear()

    def find(self, pred: Callable[[dict[str, Any]], object]) -> list[dict[str, Any]]:
        return [e for e in self.events if pred(e)]

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
                       what: str = "event") -> dict[str, Any]:
        async def _wait() -> dict[str, Any]:
            async with self._changed:
                while True:
                    for e in self.events:
                        if pred(e):
                            return e
                    await self._changed.wait()
        try:
            return await wait_for(_wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"{what} not seen within {timeout}s") from None


@dataclass
class Pbx:
    settings: Settings
    secrets: Secrets
    asterisk: AsteriskProcess
    agi: FastAgiServer
    ami: AmiManager
    events: EventLog = field(default_factory=EventLog)
    deps: Dependencies | None = None

    @classmethod
    async def start(cls, state_dir: Path, **env: str) -> Pbx:
        settings = rig_settings(state_dir, **env)
        secrets = load_or_create(settings)
        render(settings, secrets, verbose=3, test_rig=True)  # the rig's phones, even with SIP seats
        asterisk = AsteriskProcess(settings)
        asterisk.check_installed()  # a missing Asterisk fails the tier, never skips it
        # The transfer routes record orders: a SQLite file in the state dir by
        # default; `use_database` swaps in another database per test.
        routes = AgiRoutes()
        inbound_agi.register(routes, settings)  # until `wire`: calls are routed, nothing recorded
        agi = FastAgiServer(settings, routes)
        await agi.start()
        await asterisk.start()
        ami = AmiManager("127.0.0.1", settings.ami.port, settings.ami.user, secrets.ami_secret)
        pbx = cls(settings, secrets, asterisk, agi, ami)
        ami.on_event("*", pbx.events.record)
        await ami.start()
        await ami.wait_connected(timeout=20)
        await pbx.seats_ready()
        return pbx

    async def stop(self) -> None:
        await self.ami.close()
        await self.asterisk.stop()
        await self.agi.stop()
        await self.use_database(None)

    # ------------------------------------------------------------ orders

    async def wire(self, url: str | None, *, settings: Settings | None = None,
                   features: tuple[ModuleType, ...] = (inbound, orders, handoff),
                   roles: frozenset[str] = frozenset({"agi", "bridge"})) -> Dependencies | None:
        """Wire `features` as every process of the product does (`setup_features`),
        over this rig's FastAGI server and AMI link, recording orders in the
        database at `url` (migrated here).  None: back to the inbound route alone."""
        await self.unwire()
        routes = self.agi.routes
        if url is None:
            inbound_agi.register(routes, self.settings)
            return None
        settings = settings or self.settings
        engine = db.create_engine(url)
        await db.migrate_engine(engine)
        sessions = db.session_factory(engine)
        self.deps = setup_features(Dependencies(settings, engine, sessions, OrderService(sessions),
                                                roles, agi=routes, ami=self.ami),  # type: ignore[arg-type]
                                   features)
        for worker in self.deps.workers:
            await worker.start()
        return self.deps

    async def unwire(self) -> None:
        await self.agi.routes.drain()
        deps, self.deps = self.deps, None
        if deps is not None:
            for worker in reversed(deps.workers):
                await worker.stop()
            await deps.engine.dispose()
        self.agi.routes.clear()

    async def use_database(self, url: str | None) -> HandoffService | None:
        """Record handoffs in the database at `url` (migrated here); None: none."""
        deps = await self.wire(url)
        return deps.get(HANDOFFS) if deps is not None else None

    def live_mirror(self, **options: Any) -> AmiBridge:
        """The AMI bridge mirroring this PBX into Redis, as `hotline up` runs it,
        reconnecting fast; the caller starts and stops it."""
        return AmiBridge(self.settings, self.secrets.ami_secret, ami_host="127.0.0.1",
                         backoff_initial_s=0.2, backoff_max_s=1.0, **options)

    async def python_down(self) -> None:
        """Everything Python does for calls stops: the FastAGI server and the
        AMI-side workers (as when the `hotline` process is down)."""
        await self.agi.stop()
        if self.deps is not None:
            for worker in reversed(self.deps.workers):
                await worker.stop()

    async def python_up(self) -> None:
        """The FastAGI server and the workers are back (a new journal sweeps at once)."""
        await self.agi.start()
        if self.deps is not None:
            centres = self.deps.settings.site.centres
            self.deps.workers = [HandoffJournal(self.ami, self.deps.get(HANDOFFS), centres=centres,
                                                threeways=w.threeways)
                                 if isinstance(w, HandoffJournal) else w for w in self.deps.workers]
            for worker in self.deps.workers:
                await worker.start()

    async def restart_asterisk(self) -> None:
        await self.asterisk.restart()
        await eventually(lambda: self.ami.connected, timeout=30, what="rig AMI reconnected")
        await self.seats_ready()

    # ------------------------------------------------------------ seats (签入/签出, 示忙/示闲)

    async def members(self, queue: str) -> dict[str, dict[str, Any]]:
        """The queue's members now: interface -> its QueueMember message."""
        reply = await self.ami.send({"Action": "QueueStatus", "Queue": queue})
        return {str(m.get("Interface") or m.get("Location")): m for m in (reply if isinstance(reply, list) else [reply])
                if m.get("Event") == "QueueMember"}

    async def seats_ready(self, timeout: float = 20.0) -> None:
        """Asterisk's start put every seat in or out of its queues (hotline-seats-boot):
        each seat's AstDB state is written and a signed-in seat is a member."""
        from app.handoff.journal import AmiAstDb
        from core.seats import SEAT_FAMILY, SIGNED_IN

        astdb = AmiAstDb(self.ami)

        async def ready() -> bool:
            for centre in self.settings.site.centres:
                members = await self.members(centre.queue)
                for seat in centre.seats:
                    state = await astdb.get(SEAT_FAMILY, seat.extension)
                    if state is None or (state == SIGNED_IN
                                         and seat.interface(self.settings.site.seat_mode) not in members):
                        return False
            return True
        await eventually(ready, timeout=timeout, what="every seat in or out of its queues after the start")

    async def dial_key(self, seat: str, digits: str) -> None:
        """Seat `seat` dials `digits` (*5, *6, *62) on its phone, outside a call: a
        Local channel into the seats' dialing context carrying HOTLINE_SEAT, as a
        SIP seat's endpoint sets it (pjsip.conf set_var)."""
        reply = await self.ami.send({"Action": "Originate", "Channel": f"Local/{digits}@hotline-seats",
                                     "Application": "Wait", "Data": "5", "Variable": f"HOTLINE_SEAT={seat}",
                                     "Async": "true"}, ack_only=True)
        first = reply[0] if isinstance(reply, list) else reply
        assert first.get("Response") == "Success", first

    # ------------------------------------------------------------ AMI helpers

    async def action(self, **fields: str) -> Any:
        return await self.ami.send(fields)

    async def channels(self) -> list[dict[str, Any]]:
        return await simulation.channels(self.ami)

    async def getvar(self, channel: str, name: str) -> str:
        """A variable (or function) of a channel, "" when unset or gone."""
        reply = await self.ami.send({"Action": "Getvar", "Channel": channel, "Variable": name})
        return str(reply.get("Value") or "") if isinstance(reply, dict) else ""

    async def conferences(self) -> list[dict[str, Any]]:
        reply = await self.ami.send({"Action": "ConfbridgeListRooms"})
        msgs = reply if isinstance(reply, list) else [reply]
        return [m for m in msgs if m.get("Event") == "ConfbridgeListRooms"]

    async def channel_by_uniqueid(self, uniqueid: str) -> dict[str, Any] | None:
        return next((c for c in await self.channels() if c.get("Uniqueid") == uniqueid), None)

    # ------------------------------------------------------------ phones

    async def set_phone(self, seat: str, mode: str) -> None:
        """What a simulated seat phone does when it rings: answer, noanswer, busy."""
        await simulation.set_phone(self.ami, seat, mode)

    async def reset_phones(self) -> None:
        await simulation.reset_phones(self.ami)

    async def citizen_dials(self, centre: str, number: str) -> CitizenCall:
        """A citizen with caller ID `number` dials `centre` (12345 or 110)."""
        return await simulation.originate_citizen(self.ami, centre, number)

    async def citizen_presents(self, centre: str, number: str, name: str = "") -> CitizenCall:
        """A citizen dials `centre` presenting caller ID `number` and `name` as
        given — hostile ones included (`|`, `${...}`, a line feed, 200 digits):
        they travel URI-encoded and the rig's `hotline-test-caller` decodes them."""
        call = CitizenCall(number, centre, f"citizen-{uuid.uuid4().hex[:12]}", f"citizen-leg-{uuid.uuid4().hex[:12]}")
        reply = await self.ami.send({
            "Action": "Originate", "Channel": f"Local/{centre}@hotline-test-caller",
            "Context": "hotline-citizen-phone", "Exten": "talk", "Priority": "1",
            "Variable": [f"TEST_CID_NUM={quote(number, safe='')}", f"TEST_CID_NAME={quote(name, safe='')}"],
            "ChannelId": call.handset_id, "OtherChannelId": call.pbx_leg_id, "Timeout": "120000", "Async": "true",
        }, ack_only=True)
        first = reply[0] if isinstance(reply, list) else reply
        assert first.get("Response") == "Success", first
        return call

    async def hang_up(self, uniqueid: str) -> None:
        await simulation.hang_up(self.ami, uniqueid)

    async def seat_answered(self, number: str, timeout: float = 15.0) -> dict[str, Any]:
        """The HotlineSeatAnswered event of the seat that answered citizen `number`."""
        return await self.events.wait_for(
            lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == SEAT_ANSWERED_EVENT
            and e.get("Citizen") == number,
            timeout=timeout, what=f"a seat answering {number}")

    async def seat_channel(self, seat: str) -> dict[str, Any] | None:
        """The seat phone's own channel (the `;2` half of its Local member)."""
        return simulation.seat_phone_channel(seat, await self.channels())

    async def press_key(self, seat: str, digits: str, duration_ms: int = 80) -> None:
        """The seat presses `digits` on its phone (`simulation.press_key`: AMI
        PlayDTMF on the seat phone's own channel, so feature keys fire exactly
        as a real key press would)."""
        assert await self.seat_channel(seat) is not None, f"seat {seat} has no call"
        await simulation.press_key(self.ami, seat, digits, duration_ms)

    async def seat_member_leg(self, seat: str) -> dict[str, Any] | None:
        """The queue's leg towards the seat (the `;1` half, bridged to the caller)."""
        return next((c for c in await self.channels()
                     if c["Channel"].startswith(f"Local/{seat}@hotline-seat-phones-")
                     and c["Channel"].endswith(";1")), None)

    # ------------------------------------------------------------ leak check

    async def leaks(self) -> tuple[list[str], list[str]]:
        return ([c["Channel"] for c in await self.channels()],
                [c.get("Conference", "?") for c in await self.conferences()])

    async def astdb_left(self) -> dict[str, dict[str, str]]:
        """The per-call AstDB entries there are now, by family."""
        astdb = AmiAstDb(self.ami)
        trees = {family: await astdb.tree(family) for family in PER_CALL_FAMILIES}
        return {family: tree for family, tree in trees.items() if tree}

    async def assert_nothing_left(self, timeout: float = 10.0, *, astdb: bool = True) -> None:
        """No channel, no conference and (with `astdb`) no per-call AstDB entry
        may outlive a test: poll, then fail.  `astdb=False` while Python is
        kept away on purpose: what the calls left is then owed to it."""
        async def clean() -> bool:
            chans, confs = await self.leaks()
            entries = await self.astdb_left() if astdb else {}
            assert not chans and not confs and not entries, \
                f"left behind: channels={chans} conferences={confs} astdb={entries}"
            return True
        try:
            await eventually(clean, timeout=timeout, what="no channel, conference or AstDB entry left")
        except AssertionError:
            await self.ami.send({"Action": "Hangup", "Channel": "/.*/"})  # keep the next test clean
            if astdb:
                for family in PER_CALL_FAMILIES:
                    await self.ami.send({"Action": "DBDelTree", "Family": family})
            raise
