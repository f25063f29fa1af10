"""The handoff key's handoffs, from Asterisk's AstDB into SQL (service layer).

The handoff key's dialplan path (`hotline-handoff-key`, extension `key`) writes
one record per handoff to AstDB family `hotline-handoff-outbox` right after the
citizen moves (`core.handoff.OutboxRecord`).  A record is deleted only after
its order is in SQL (`HandoffService.record`, idempotent), so an order is
never lost: while Python or the database is down the records wait in AstDB,
and the next sweep inserts them with the key press's id and time.

Who records, whichever comes first (one order results):
* `HandoffJournal` on the AMI link: the `HotlineHandoffCreated` user event
  records that handoff at once, `AgentConnect` on a linkage queue accepts it
  (the answering leg carries HOTLINE_HANDOFF_ID; nothing runs on the answer's
  path in the dialplan), and a sweep every few seconds and on each (re)connect
  takes whatever is left;
* any later report of the handoff through its AGI routes (`app.handoff.agi`:
  answered, returned, ended, lost), the citizen's hangup among them.

The phone's own transfers: a blind one (REFER, `#1`) goes through the same
outbox (the dialplan's `hotline-phone-transfer`); an attended one (consult,
then REFER with Replaces) never runs our dialplan — Asterisk links the
citizen to the consulted seat itself — so its order comes from the
`AttendedTransfer` event here (`core.handoff.phone_attended_handoff`),
accepted at once, and the id is put on the citizen's and the target's
channels (HOTLINE_HANDOFF_ID: what the target's desk shows).

The `HotlineHandoffCreated` event carries the outbox record itself (the
dialplan reads it back from AstDB after the move) and the order is recorded
at once: Asterisk commits AstDB writes to disk in batches about a second
apart, so a record only in AstDB dies with a `kill -9` of Asterisk in that
second; the event is on the AMI socket microseconds after the key press.

The reconciler (`reconcile`, `core.reconcile`) runs at start, after every
AMI (re)connect and every `reconcile_s` (10 s): it settles every handoff whose call
is gone (Asterisk restarted, a hangup report cut off) to one order in a
final state and deletes the AstDB keys nobody else will.  Three-way calls
are settled by the same run when the three-way feature gives the journal
its service (`threeways`, a `ThreeWaySettler`).
The AstDB is reached through the small `AstDb` port; no SQL here.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from agi.background import BackgroundTasks, end_loop, wait_for
from ami_bridge.manager import AmiError
from ami_bridge.translate import attended_transfer, channel_variables, dest_channel_variables
from core import log_context
from core.centres import Centre
from core.channel_vars import CITIZEN, HANDOFF_ID, HANDOFF_RECORDED, HOLD_CHANNEL, KEY_CHECKED
from core.fast_path import answered_leg, checked_marker
from core.handoff import (
    ASTDB_FAMILY,
    CALL_GUARD_FAMILY,
    ENDED_FAMILY,
    HOLD_CONTEXT,
    OUTBOX_FAMILY,
    RECENT_KEPT,
    AttendedTransfer,
    OutboxRecord,
    PhoneHandoff,
    Recent,
    is_channel_name,
    is_outbox_id,
    parse_outbox,
    phone_attended_handoff,
    seat_of_channel,
)
from core.reconcile import (
    LiveChannel,
    OpenHandoff,
    OpenThreeWay,
    ReconcilePlan,
    SettleThreeWay,
    Snapshot,
    plan_reconcile,
)
from core.threeway import ASTDB_FAMILY as THREEWAY_FAMILY

log = logging.getLogger(__name__)

# how long the journal waits for the key's writes (`_written`) when the target answered first: 0.5 s at most
WAKE_WAIT_ROUNDS, WAKE_WAIT_S = 50, 0.01
# a handoff id as a channel variable may carry it (the key's or the AGI path's)
_ANY_HANDOFF_ID = re.compile(r"^[A-Za-z0-9._\-]{1,36}$")


class AstDb(Protocol):
    """Asterisk's AstDB, one family at a time."""

    async def keys(self, family: str) -> list[str]: ...

    async def get(self, family: str, key: str) -> str | None: ...

    async def delete(self, family: str, key: str) -> None: ...


class Pbx(AstDb, Protocol):
    """What the reconciler reads of Asterisk besides single keys."""

    async def tree(self, family: str) -> dict[str, str]: ...

    async def channels(self) -> list[LiveChannel]: ...

    async def started_at(self) -> float | None: ...

    async def conferences(self) -> list[str]: ...


class Recorder(Protocol):
    async def record(self, outbox: OutboxRecord) -> Any: ...

    async def answered(self, handoff_id: str, answering_channel: str | None,
                       outbox: OutboxRecord | None = None) -> Any: ...

    async def ended_while_away(self, handoff_id: str, state: str) -> Any: ...

    async def phone_transferred(self, handoff: PhoneHandoff) -> Any: ...


class Settler(Recorder, Protocol):
    async def pending_handoffs(self) -> list[OpenHandoff]: ...

    async def calls_of(self, handoff_ids: list[str]) -> dict[str, str]: ...

    async def settle(self, handoff_id: str, state: str, outcome: str, reason: str | None) -> Any: ...


class ThreeWaySettler(Protocol):
    """The three-way feature's side of the reconciler (`app.threeway.services`)."""

    async def open_threeways(self, threeway_ids: list[str]) -> list[OpenThreeWay]: ...

    async def settle_threeway(self, item: SettleThreeWay) -> Any: ...


async def read(astdb: AstDb, handoff_id: str) -> OutboxRecord | None:
    """The outbox record of `handoff_id`, None when there is none (recorded already,
    or a handoff of the AGI path)."""
    value = await astdb.get(OUTBOX_FAMILY, handoff_id)
    if not value:
        return None
    record = parse_outbox(handoff_id, value)
    if record is None:
        log.error("handoff %s: outbox record not understood, left in AstDB: %r", handoff_id, value)
    return record


async def deliver(astdb: AstDb, handoffs: Recorder, record: OutboxRecord) -> None:
    """Insert the record's order (if not there yet) and how the handoff ended if
    that was kept next to it (`ENDED_FAMILY`), then delete the record.  Each
    step may run again after a failure: one order, one outcome."""
    await handoffs.record(record)
    ended = await astdb.get(ENDED_FAMILY, record.handoff_id)
    if ended:
        await handoffs.ended_while_away(record.handoff_id, ended)
        await astdb.delete(ENDED_FAMILY, record.handoff_id)
    await astdb.delete(OUTBOX_FAMILY, record.handoff_id)


async def sweep(astdb: AstDb, handoffs: Recorder) -> int:
    """Record every order waiting in the outbox; returns how many records were
    delivered.  A record that fails stays for the next sweep."""
    delivered = 0
    for key in await astdb.keys(OUTBOX_FAMILY):
        record = await read(astdb, key)
        if record is None:
            continue
        try:
            await deliver(astdb, handoffs, record)
        except Exception:
            log.exception("handoff %s: outbox record not recorded yet; kept for the next sweep", key)
            continue
        delivered += 1
    if delivered:
        log.info("outbox sweep: %d handoff order(s) recorded", delivered)
    return delivered


async def reconcile(pbx: Pbx, handoffs: Settler, *, threeways: ThreeWaySettler | None = None,
                    unknown_after_s: float = 120.0) -> ReconcilePlan:
    """Record every outbox record, then settle every handoff (and, given
    `threeways`, every three-way call) whose call is gone and delete its
    AstDB keys (`core.reconcile`).  A handoff whose order could not be
    settled (database down) keeps its keys for the next run."""
    await sweep(pbx, handoffs)
    # AstDB and the orders first, the live channels last: a handoff that ends
    # meanwhile is seen ended (settled, or reported by its own hangup first),
    # never a live one taken for ended
    families = {}
    for family in (ASTDB_FAMILY, OUTBOX_FAMILY, ENDED_FAMILY, CALL_GUARD_FAMILY):
        families[family] = await pbx.tree(family)
    pending = await handoffs.pending_handoffs()
    open_ids = {o.order_id for o in pending} | set(families[OUTBOX_FAMILY])
    others = (set(families[ASTDB_FAMILY]) | set(families[ENDED_FAMILY])) - open_ids
    calls = await handoffs.calls_of(sorted(others)) if others else {}
    phases: dict[str, str] = {}
    open_threeways: list[OpenThreeWay] = []
    if threeways is not None:
        phases = await pbx.tree(THREEWAY_FAMILY)
        open_threeways = await threeways.open_threeways(sorted(phases))
    started = await pbx.started_at()
    conferences = await pbx.conferences() if threeways is not None else []
    channels = await pbx.channels()
    plan = plan_reconcile(Snapshot(
        states=families[ASTDB_FAMILY], outbox=families[OUTBOX_FAMILY], ended=families[ENDED_FAMILY],
        guards=families[CALL_GUARD_FAMILY], pending=tuple(pending), channels=tuple(channels),
        asterisk_started_at=started, now=time.time(), calls=calls, threeway_phases=phases,
        threeways=tuple(open_threeways), conferences=tuple(conferences)), unknown_after_s=unknown_after_s)
    for key in plan.bad_records:
        log.error("handoff %s: outbox record not understood, left in AstDB", key)
    failed: set[str] = set()
    for record in plan.record:
        try:
            await handoffs.record(record)
        except Exception:
            log.exception("handoff %s: order not recorded by the reconciler; kept for the next run",
                          record.handoff_id)
            failed.add(record.handoff_id)
    for item in plan.settle:
        if item.handoff_id in failed:
            continue
        try:
            await handoffs.settle(item.handoff_id, item.state, item.outcome, item.reason)
        except Exception:
            log.exception("handoff %s: not settled; kept for the next run", item.handoff_id)
            failed.add(item.handoff_id)
    for tw_item in plan.settle_threeway:
        assert threeways is not None
        try:
            await threeways.settle_threeway(tw_item)
        except Exception:
            log.exception("three-way %s: not settled; kept for the next run", tw_item.threeway_id)
            failed.add(tw_item.threeway_id)
    kept = {key for handoff_id in failed for key in plan.by_handoff.get(handoff_id, ())}
    deleted = 0
    for family, key in plan.delete:
        if (family, key) in kept:
            continue
        await pbx.delete(family, key)
        deleted += 1
    if plan.settle or plan.settle_threeway or deleted:
        log.info("reconciler: %d handoff(s) and %d three-way call(s) settled, %d stale AstDB key(s) deleted, "
                 "%d handoff(s) and %d three-way call(s) under way",
                 len(plan.settle) - len(failed & {s.handoff_id for s in plan.settle}),
                 len(plan.settle_threeway) - len(failed & {s.threeway_id for s in plan.settle_threeway}),
                 deleted, plan.live, plan.live_threeways)
    return plan


class AmiAstDb:
    """`AstDb` over AMI: DBGetTree lists a family (Asterisk 20+), DBDel deletes;
    with CoreShowChannels and CoreStatus, the reconciler's `Pbx`."""

    def __init__(self, ami: Any) -> None:
        self.ami = ami

    async def keys(self, family: str) -> list[str]:
        return list((await self._tree(family)).keys())

    async def get(self, family: str, key: str) -> str | None:
        response = await self.ami.send({"Action": "DBGet", "Family": family, "Key": key})
        messages = response if isinstance(response, list) else [response]
        for message in messages:
            if message.get("Event") == "DBGetResponse":
                return str(message.get("Val", ""))
        return None

    async def delete(self, family: str, key: str) -> None:
        await self.ami.send({"Action": "DBDel", "Family": family, "Key": key})

    async def tree(self, family: str) -> dict[str, str]:
        return await self._tree(family)

    async def channels(self) -> list[LiveChannel]:
        response = await self.ami.send({"Action": "CoreShowChannels"})
        messages = response if isinstance(response, list) else [response]
        return [LiveChannel(str(m.get("Channel", "")), str(m.get("Uniqueid", "")), str(m.get("Linkedid", "")))
                for m in messages if m.get("Event") == "CoreShowChannel"]

    async def started_at(self) -> float | None:
        """When this Asterisk started (CoreStatus: its local date and time)."""
        response = await self.ami.send({"Action": "CoreStatus"})
        message = response[0] if isinstance(response, list) else response
        try:
            when = datetime.strptime(f"{message.get('CoreStartupDate')} {message.get('CoreStartupTime')}",
                                     "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        return time.mktime(when.timetuple())

    async def conferences(self) -> list[str]:
        """The ConfBridge conferences live now (none: Asterisk answers an error)."""
        response = await self.ami.send({"Action": "ConfbridgeListRooms"})
        messages = response if isinstance(response, list) else [response]
        return [str(m.get("Conference", "")) for m in messages if m.get("Event") == "ConfbridgeListRooms"]

    async def _tree(self, family: str) -> dict[str, str]:
        response = await self.ami.send({"Action": "DBGetTree", "Family": family})
        messages = response if isinstance(response, list) else [response]
        found: dict[str, str] = {}
        prefix = f"/{family}/"
        for message in messages:
            if message.get("Event") != "DBGetTreeResponse":
                continue
            key = str(message.get("Key", ""))
            found[key[len(prefix):] if key.startswith(prefix) else key] = str(message.get("Val", ""))
        return found


class HandoffJournal:
    """Records the dialplan's handoffs over the AMI link as they happen, sweeps
    the outbox every `interval_s`, and reconciles (`reconcile`) at start,
    whenever the link (re)connects and every `reconcile_s`.  `start` / `stop`
    own the sweeping task; the event handlers are attached to `ami` at
    construction.  The reconciler needs a `Pbx` (the AMI one by default): with
    a bare `AstDb` only the sweep runs.  `threeways`: the three-way feature's
    service, settled by the same runs (set by that feature's setup)."""

    CREATED_EVENT = "HotlineHandoffCreated"
    # `#2`: how long to look for the seat the citizen reached through a Local channel
    SEAT_LOOKUP_S = 5.0

    def __init__(self, ami: Any, handoffs: Recorder, interval_s: float = 5.0,
                 astdb: AstDb | None = None, centres: tuple[Centre, ...] = (),
                 reconcile_s: float = 10.0, threeways: ThreeWaySettler | None = None) -> None:
        self.astdb: AstDb = astdb if astdb is not None else AmiAstDb(ami)
        self.handoffs = handoffs
        self.threeways = threeways
        # the configured centres and seats: a phone's attended transfer between
        # two of them is a handoff (none given: not recognised)
        self.centres = centres
        self.interval_s = interval_s
        self.reconcile_s = reconcile_s
        self.reconciled = 0  # reconciler runs completed (tests, metrics)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._reconcile_due = True
        self._stopping = False
        self._ami = ami
        self._tasks = BackgroundTasks("handoff journal")
        # outbox records this journal delivered (their AstDB key deleted): an
        # answer of one of them needs no read of AstDB
        self._delivered: Recent[bool] = Recent(RECENT_KEPT)
        ami.on_event("UserEvent", self._on_user_event)
        ami.on_event("AgentConnect", self._on_agent_connect)
        ami.on_event("AttendedTransfer", self._on_attended_transfer)
        ami.on_connect(self.kick)

    def kick(self) -> None:
        """Sweep and reconcile now (the AMI link came back)."""
        self._reconcile_due = True
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="handoff journal")

    async def drain(self) -> None:
        """Wait for the events being recorded now (at most 15 s)."""
        await self._tasks.drain()

    async def stop(self) -> None:
        """Stop listening and sweeping, after the events being recorded now (a
        stopped journal is not started again)."""
        self._ami.off_event("UserEvent", self._on_user_event)
        self._ami.off_event("AgentConnect", self._on_agent_connect)
        self._ami.off_event("AttendedTransfer", self._on_attended_transfer)
        self._ami.off_connect(self.kick)
        await self.drain()
        self._stopping = True
        task, self._task = self._task, None
        await end_loop(task, self._wake)  # the wake-up ends the round's wait

    def _on_user_event(self, event: dict[str, Any]) -> None:
        if event.get("UserEvent") == self.CREATED_EVENT:
            self._tasks.spawn(self._created(str(event.get("Handoff", "")), event.get("Record")),
                              "handoff created")

    def _on_agent_connect(self, event: dict[str, Any]) -> None:
        self._mark_checked(event)
        if str(event.get("Queue", "")).endswith("-linkage"):
            self._wake_held_seat(event)
            self._tasks.spawn(self._accepted(event), "handoff accepted")

    def _mark_checked(self, event: dict[str, Any]) -> None:
        """A queue's seat answered: the parts of the handoff key's guard that
        read only the facts of the seat's leg and the citizen's channel
        (core/fast_path.py CHECKED_PARTS) are checked here, once, and when all
        hold those facts are set on the leg (KEY_CHECKED): a press of the key
        then tests them as one comparison instead of running them on the
        citizen's way.  Nothing is set when one fails (the key's whole guard
        decides, as it would anyway), nor when this Setvar fails."""
        press = answered_leg(
            seat_channel=str(event.get("DestChannel") or ""), peer=str(event.get("Channel") or ""),
            citizen_number=dest_channel_variables(event).get(CITIZEN, ""),
            linkedid=str(event.get("DestLinkedid") or ""), uniqueid=str(event.get("DestUniqueid") or ""))
        marker = checked_marker(press, self.centres)
        if marker is not None:
            self._tasks.spawn(self._set_checked(press.seat_channel, marker), "key's facts checked")

    async def _set_checked(self, seat_leg: str, marker: str) -> None:
        try:
            await self._ami.send({"Action": "Setvar", "Channel": seat_leg, "Variable": KEY_CHECKED, "Value": marker})
        except AmiError as exc:  # the leg is gone, or the link: its key runs the whole guard
            log.debug("%s: key's checked facts not set (%s)", seat_leg, exc)

    def _wake_held_seat(self, event: dict[str, Any]) -> None:
        """成功转: the seat waiting on hold for this answer (the citizen's
        HOTLINE_HOLD_CHANNEL) is sent on to `released` (it hangs up: free) at
        once, by AMI.  Not by a pre-bridge gosub on the answering leg: the
        citizen would wait in autoservice for it.  With Python away the hold's
        own safety loop frees the seat within a second."""
        variables = channel_variables(event)
        held = variables.get(HOLD_CHANNEL, "")
        if is_channel_name(held):
            self._tasks.spawn(self._wake_when_written(held, variables.get(HANDOFF_ID, "")), "seat on hold woken")

    async def _written(self, handoff_id: str) -> None:
        """The key's seat leg writes the order's outbox record and the state a
        few ms after the move (it gives way to the citizen first:
        core/fast_path.py AFTER_MOVE); a target answering within that time
        waits for the state (the HotlineHandoffCreated event, raised after
        the writes, says so at once), half a second at most: its hangup
        handler writes them if the leg is gone."""
        if is_outbox_id(handoff_id) and handoff_id not in self._delivered:
            for _ in range(WAKE_WAIT_ROUNDS):
                if await self.astdb.get(ASTDB_FAMILY, handoff_id) is not None or handoff_id in self._delivered:
                    break
                await asyncio.sleep(WAKE_WAIT_S)

    async def _wake_when_written(self, held: str, handoff_id: str) -> None:
        """Woken before its writes (`_written`), the seat leg would have them
        cut short: they are left to its hangup handler."""
        await self._written(handoff_id)
        await self._ami.send({"Action": "Redirect", "Channel": held, "Context": HOLD_CONTEXT,
                              "Exten": "released", "Priority": "1"})

    def _on_attended_transfer(self, event: dict[str, Any]) -> None:
        transfer = attended_transfer(event)
        if seat_of_channel(self.centres, transfer.target_channel) is None:
            # `#2`: the consultation ran on a Local channel (the target is that, or
            # Asterisk's event leaves it out); the seat is found behind it
            if transfer.result == "Success" and seat_of_channel(self.centres, transfer.transferer_channel):
                self._tasks.spawn(self._through_local(transfer), "attended transfer through a Local channel")
            return
        handoff = phone_attended_handoff(self.centres, transfer)
        if handoff is not None:
            self._tasks.spawn(self._phone_transferred(handoff), "phone's attended transfer")

    async def _through_local(self, transfer: AttendedTransfer) -> None:
        """The seat the citizen now talks to: in the citizen's bridge, or behind
        the Local channel there (the other half's bridge) until Asterisk
        optimises the Local pair away."""
        try:
            seat_leg = await self._seat_reached(transfer.transferee_channel,
                                                {transfer.transferer_channel, transfer.consult_channel})
        except Exception:
            log.exception("attended transfer by %s: the seat it reached is not known; no order",
                          transfer.transferer_channel)
            return
        handoff = phone_attended_handoff(self.centres, replace(transfer, target_channel=seat_leg or ""))
        if handoff is not None:
            await self._phone_transferred(handoff)

    async def _seat_reached(self, citizen: str, transferer: set[str]) -> str | None:
        """`transferer`: the seat's own legs (on their way out), never the answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.SEAT_LOOKUP_S
        while loop.time() < deadline:  # the Local pair may be optimising away: look again
            reply = await self._ami.send({"Action": "CoreShowChannels"})
            bridges: dict[str, list[str]] = {}
            for row in reply if isinstance(reply, list) else [reply]:
                if row.get("Event") == "CoreShowChannel" and row.get("BridgeId"):
                    bridges.setdefault(str(row["BridgeId"]), []).append(str(row.get("Channel", "")))
            of = {name: bridge for bridge, names in bridges.items() for name in names}

            def peers(channel: str, bridges: dict[str, list[str]] = bridges, of: dict[str, str] = of) -> list[str]:
                return [n for n in bridges.get(of.get(channel, ""), []) if n != channel and n not in transferer]
            for peer in peers(citizen):
                if seat_of_channel(self.centres, peer):
                    return peer
                if peer.startswith("Local/") and peer[-2:] in (";1", ";2"):
                    other_half = peer[:-1] + ("2" if peer.endswith("1") else "1")
                    seats = [n for n in peers(other_half) if seat_of_channel(self.centres, n)]
                    if len(seats) == 1:
                        return seats[0]
            await asyncio.sleep(0.05)
        log.info("attended transfer: no seat found with %s within %.0f s", citizen, self.SEAT_LOOKUP_S)
        return None

    async def _phone_transferred(self, handoff: PhoneHandoff) -> None:
        """A seat's phone completed an attended transfer to another centre: the
        order (accepted), then its id on both channels of the call now."""
        try:
            order = await self.handoffs.phone_transferred(handoff)
            for channel in (handoff.citizen_channel, handoff.target_channel):
                await self._ami.send({"Action": "Setvar", "Channel": channel, "Variable": HANDOFF_ID,
                                      "Value": order.id})
        except Exception:  # nothing else reports this handoff: say so loudly
            log.exception("handoff %s (attended transfer by seat %s's phone, citizen channel %s): not recorded",
                          handoff.handoff_id, handoff.source_seat, handoff.citizen_channel)

    async def _created(self, handoff_id: str, value: Any = None) -> None:
        """The key moved a citizen: record that handoff's order now, from the
        record the event carries (read from AstDB if it carries none), unless
        the answer or a sweep did already."""
        if not is_outbox_id(handoff_id):
            return
        with log_context.bind(handoff_id=handoff_id):
            await self._record(handoff_id, value)

    async def _record(self, handoff_id: str, value: Any = None) -> None:
        try:
            record = parse_outbox(handoff_id, value) if isinstance(value, str) and value else None
            if record is None:
                record = await read(self.astdb, handoff_id)
            if record is not None:
                await deliver(self.astdb, self.handoffs, record)
                self._delivered.put(handoff_id, True)
        except Exception:  # the sweep or a later report records it
            log.exception("handoff %s: not recorded from its event; left for the sweep", handoff_id)

    async def _accepted(self, event: dict[str, Any]) -> None:
        """A seat of a linkage queue answered a citizen that carries a handoff:
        the order is accepted (by the seat on `DestChannel`)."""
        handoff_id = dest_channel_variables(event).get(HANDOFF_ID, "")
        if not _ANY_HANDOFF_ID.match(handoff_id):
            return
        with log_context.bind(handoff_id=handoff_id, channel=str(event.get("DestChannel") or "")):
            await self._accept(handoff_id, event)

    async def _accept(self, handoff_id: str, event: dict[str, Any]) -> None:
        try:
            await self._written(handoff_id)  # answered within the key's pause: its record comes first
            record = await read(self.astdb, handoff_id) \
                if is_outbox_id(handoff_id) and handoff_id not in self._delivered else None
            order = await self.handoffs.answered(handoff_id, str(event.get("DestChannel") or "") or None, record)
            if record is not None:
                await self.astdb.delete(OUTBOX_FAMILY, handoff_id)
        except Exception:  # the citizen's hangup handler makes the order right
            log.exception("handoff %s: acceptance not recorded from AgentConnect", handoff_id)
            return
        if order is not None:
            await self._tell_recorded(handoff_id, str(event.get("Channel") or ""))

    async def _tell_recorded(self, handoff_id: str, citizen: str) -> None:
        """The order records the acceptance and the outbox record is gone: say
        so on the citizen's channel (`HANDOFF_RECORDED`), so that its hangup
        does not ask the `handoff_ended` route for what is already written.
        If this fails, or the citizen has hung up already, the route runs as
        before."""
        if not is_channel_name(citizen):
            return
        try:
            await self._ami.send({"Action": "Setvar", "Channel": citizen, "Variable": HANDOFF_RECORDED,
                                  "Value": handoff_id})
        except AmiError as exc:  # the hangup's route reports the end instead
            log.debug("handoff %s: recorded acceptance not told to %s (%s)", handoff_id, citizen, exc)

    async def reconcile(self) -> ReconcilePlan | None:
        """One reconciler run (None without a `Pbx` or a `Settler`)."""
        if not (hasattr(self.astdb, "channels") and hasattr(self.handoffs, "settle")):
            await sweep(self.astdb, self.handoffs)
            return None
        plan = await reconcile(self.astdb, self.handoffs, threeways=self.threeways)  # type: ignore[arg-type]
        self.reconciled += 1
        return plan

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_reconcile = loop.time()
        while not self._stopping:
            try:
                if not getattr(self._ami, "connected", True):
                    # not up yet (or reconnecting, which the link logs): its connect kicks a run
                    log.debug("outbox sweep and reconciler wait for the AMI link")
                    self._reconcile_due = True
                elif self._reconcile_due or loop.time() >= next_reconcile:
                    self._reconcile_due = False
                    next_reconcile = loop.time() + self.reconcile_s
                    await self.reconcile()
                elif await sweep(self.astdb, self.handoffs):
                    # records were waiting (Python or its database was away): what
                    # ended meanwhile may have left keys only the reconciler clears
                    next_reconcile = loop.time() + self.reconcile_s
                    await self.reconcile()
            except Exception as exc:  # noqa: BLE001 - AMI down: the next round (or the reconnect) tries again
                self._reconcile_due = True
                log.warning("outbox sweep / reconciler failed (%s); retrying in %.1f s",
                            str(exc) or type(exc).__name__, self.interval_s)
            try:
                await wait_for(self._wake.wait(), self.interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
