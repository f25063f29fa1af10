"""The surge controller: live state in, remote seats in and out of the queues (service layer, I/O).

Every `Settings.overflow.check_s` it reads the remote seat groups
(`OverflowConfig`, so an admin's change reaches the next call) and the live
queue/seat state the AMI bridge keeps — in memory, as the bridge runs in
the controller's process wherever it runs (`app.live.store.bridge_source`),
else from Redis — asks `core.overflow.surge_step` whether each group opens
or closes, records every transition (`overflow_surge_events`) and
publishes the per-centre surge view the dashboard shows
(`{prefix}overflow:surge`, read by `/api/live`).

Applying a plan is reconciling: for each centre's public queue, the dynamic
members Asterisk reports (`QueueStatus`) are compared with the members of the
open groups, and `QueueAdd` / `QueuePenalty` / `QueueRemove` close the gap.
No restart, no reload: calls waiting are offered the new members at once,
and a removed member's call in progress is not touched (app_queue only
stops offering it new calls).  Reconciling again after every AMI
(re)connection and every `RECONCILE_S` repairs an Asterisk restart or a
lost action.  Every dynamic member of a public queue is assumed to be ours
except the local seats (dynamic too: they sign in and out, app/seats).

A call a remote seat answers is recorded as an order (mode `overflow`, the
group as `target`, the member as `target_seat`, the wait) from the
`AgentConnect` event; the wait is measured from the caller's
`QueueCallerJoin`.

Members behind a declared trunk (`PJSIP/<number>@<trunk>`, HOTLINE_TRUNKS;
core/overflow.py): added with the trunk's Custom state as their state
interface and ringing in use, so one such member takes up to the trunk's
`max=` calls at once; every check writes that state from the trunk's
reachability (DEVICE_STATE of its endpoint: qualify) and its overflow legs
(GROUP_COUNT; the dialplan holds the limit itself).  The order of a call one
answers names the far platform's seat that answered, read from the
P-Asserted-Identity of its 200 OK (`<seat>@<trunk>`).

If the live state cannot be read (Redis down, for a controller reading it
there) or the AMI link is down, nothing changes: open groups stay open and
closed ones closed until the state is live again.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from agi.background import BackgroundTasks, end_loop, pause
from ami_bridge.manager import AmiError, AmiManager, AmiMessage
from ami_bridge.translate import channel_variables
from app.live.store import LiveSource, redis_source
from app.orders.services import OrderService
from app.overflow.config import OverflowConfig
from app.web.errors import HotlineError, Unavailable
from core import channel_vars as cv
from core.centres import centre_by_queue
from core.live import SURGE_KEY, UPDATES_CHANNEL, change_notice
from core.overflow import (
    TRUNK_CALL_GROUP,
    CentreLoad,
    OverflowGroup,
    SurgeChange,
    SurgeState,
    answering_seat,
    centre_load,
    desired_members,
    member_trunk,
    surge_step,
    trunk_state,
    trunk_state_interface,
)
from core.safety import is_number
from core.settings import Settings

log = logging.getLogger(__name__)

RECONCILE_S = 10.0
ORDER_RETRIES = (0.5, 1.0, 2.0, 4.0)


class OverflowController:
    def __init__(self, settings: Settings, config: OverflowConfig, ami: AmiManager, orders: OrderService,
                 redis: Redis | None = None, *, clock: Callable[[], float] = time.time,
                 live: LiveSource | None = None) -> None:
        self.settings = settings
        self.config = config
        self.ami = ami
        self.orders = orders
        self._own_redis = redis is None
        self.redis = redis if redis is not None else Redis.from_url(
            settings.redis.url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.clock = clock
        # the bridge's model when it runs in this process (`hotline up`, the
        # bridge role: always), else Redis
        self.read_live = live if live is not None else redis_source(self.redis, settings.redis.prefix)
        self.groups: list[OverflowGroup] = []
        self.states: dict[str, SurgeState] = {}
        self.loads: dict[str, CentreLoad] = {}
        # every member ever seen in a group -> (group, centre): a call a member
        # answers after its group was changed is still recorded
        self._members: dict[str, tuple[str, str, str]] = {}
        self._joined: dict[str, float] = {}
        self._applied: dict[str, dict[str, int]] | None = None  # None: reconcile now
        self._reconciled_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._tasks = BackgroundTasks("overflow orders")
        self._published: dict[str, dict[str, Any]] = {}  # surge view last announced, per centre
        self._trunk_written: dict[str, str] = {}  # trunk -> the Custom state last written
        self.orders_recorded = 0
        ami.on_event("QueueCallerJoin", self._on_join)
        ami.on_event("QueueCallerAbandon", self._on_abandon)
        ami.on_event("AgentConnect", self._on_connect_event)
        ami.on_connect(self._on_link_up)

    # ------------------------------------------------------------ lifetime

    async def start(self) -> None:
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="overflow-controller")
            log.info("overflow controller started: check every %gs, open after %gs, clear after %gs",
                     self.settings.overflow.check_s, self.settings.overflow.open_after_s,
                     self.settings.overflow.clear_after_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await end_loop(task, self._stop)
        # the AMI link may outlive this controller (a process re-wiring its features)
        self.ami.off_event("QueueCallerJoin", self._on_join)
        self.ami.off_event("QueueCallerAbandon", self._on_abandon)
        self.ami.off_event("AgentConnect", self._on_connect_event)
        self.ami.off_connect(self._on_link_up)
        await self.drain()
        if self._own_redis:
            await self.redis.aclose()

    async def drain(self) -> None:
        """Wait for orders being recorded (shutdown, tests; at most 15 s)."""
        await self._tasks.drain()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("overflow check failed; retrying")
            await pause(self._stop, self.settings.overflow.check_s)

    # --------------------------------------------------------------- check

    async def check(self) -> None:
        """One look at the live state: transitions, membership, dashboard view."""
        try:
            self.groups = await self.config.load()
        except Exception as exc:  # noqa: BLE001 - keep the last known groups while the database is away
            log.warning("overflow groups not readable (%s); keeping %d known groups", exc, len(self.groups))
        for group in self.groups:
            for member in group.members:
                self._members[member.interface] = (group.name, group.centre, member.name)
        try:
            live = await self.read_live()
        except Unavailable as exc:
            log.warning("overflow: live state unreadable (%s); surges unchanged", exc.reason)
            return
        now = self.clock()
        if live.ami.get("connected") == "1":
            for centre in self.settings.site.centres:
                self.loads[centre.id] = centre_load(centre, live.queues, live.seats, now)
            await self._step(now)
        await self._trunk_states()
        await self._apply(now)
        await self._publish(now)

    async def _step(self, now: float) -> None:
        known = {g.name for g in self.groups}
        for group in self.groups:
            load = self.loads[group.centre]
            old = self.states.get(group.name, SurgeState())
            new, change = surge_step(old, group.thresholds, load, now, enabled=group.enabled,
                                     open_after_s=self.settings.overflow.open_after_s,
                                     clear_after_s=self.settings.overflow.clear_after_s)
            self.states[group.name] = new
            if change is not None:
                await self._record(group, change, load)
        for name in [n for n in self.states if n not in known]:
            state = self.states.pop(name)
            if state.open:
                gone = next(((g, c) for g, c, _ in self._members.values() if g == name), None)
                if gone is not None:
                    stub = OverflowGroup(name=name, centre=gone[1], members=())
                    await self._record(stub, SurgeChange("close", now, "group deleted"), self.loads[gone[1]])

    async def _record(self, group: OverflowGroup, change: SurgeChange, load: CentreLoad) -> None:
        log.info("Transition: surge %s -> %s -> group %s of centre %s (%s; waiting %d, longest %.1fs, "
                 "local free %d/%d)", "closed" if change.kind == "open" else "open",
                 "open" if change.kind == "open" else "closed", group.name, group.centre, change.reason,
                 load.waiting, load.longest_wait_s, load.local_free, load.local_seats)
        try:
            await self.config.record_surge(group, change, load,
                                           datetime.fromtimestamp(change.at, UTC))
        except Exception:
            log.exception("surge event of group %s not stored", group.name)

    # --------------------------------------------------------------- apply

    async def _apply(self, now: float) -> None:
        wanted = desired_members(self.groups, self.states, self.settings.site.centres)
        plan = {queue: {iface: penalty for iface, (_, penalty) in members.items()}
                for queue, members in wanted.items()}
        if plan == self._applied and now - self._reconciled_at < RECONCILE_S:
            return
        if not self.ami.connected:
            self._applied = None
            return
        names = {iface: member.name for members in wanted.values() for iface, (member, _) in members.items()}
        try:
            for queue, members in plan.items():
                await self._reconcile(queue, members, names)
        except AmiError as exc:
            log.warning("overflow: queue members not applied (%s); retrying", exc)
            self._applied = None
            return
        self._applied = plan
        self._reconciled_at = now

    async def _trunk_states(self) -> None:
        """Write each trunk's Custom state its members show app_queue (see the
        module docstring): its endpoint reachable, its overflow legs under max."""
        if not self.ami.connected:
            return
        trunks = {member_trunk(m.interface) for g in self.groups for m in g.members} - {None}
        for name in sorted(t for t in trunks if t is not None):
            trunk = self.settings.trunks.trunk(name)
            if trunk is None:
                continue  # not declared here: a plain member, as before
            try:
                device = await self._getvar(f"DEVICE_STATE(PJSIP/{name})")
                calls = await self._getvar(f"GROUP_COUNT({name}@{TRUNK_CALL_GROUP})")
                state = trunk_state(device not in ("UNAVAILABLE", "INVALID", ""),
                                    int(calls) if calls.isdigit() else 0, trunk.max_calls)
                if self._trunk_written.get(name) != state:
                    await self._action({"Action": "Setvar", "Variable": f"DEVICE_STATE({trunk_state_interface(name)})",
                                        "Value": state})
                    log.info("overflow: trunk %s is %s (%s overflow calls, max %s)", name, state, calls,
                             trunk.max_calls)
                    self._trunk_written[name] = state
            except AmiError as exc:
                log.warning("overflow: state of trunk %s not written (%s)", name, exc)

    async def _getvar(self, variable: str, channel: str | None = None) -> str:
        action = {"Action": "Getvar", "Variable": variable}
        if channel:
            action["Channel"] = channel
        reply = await self.ami.send(action)
        first = reply[0] if isinstance(reply, list) else reply
        return str(first.get("Value") or "") if first.get("Response") == "Success" else ""

    async def _reconcile(self, queue: str, wanted: dict[str, int], names: dict[str, str]) -> None:
        reply = await self.ami.send({"Action": "QueueStatus", "Queue": queue})
        messages = reply if isinstance(reply, list) else [reply]
        present: dict[str, int] = {}
        local = {seat.interface(self.settings.site.seat_mode)
                 for centre in self.settings.site.centres for seat in centre.seats}
        for msg in messages:
            if msg.get("Event") == "QueueMember" and msg.get("Membership") == "dynamic":
                interface = str(msg.get("Interface") or msg.get("Location") or "")
                if interface in local:
                    continue  # a local seat, signed in (app/seats): not the controller's
                given = str(msg.get("Penalty", "0"))
                present[interface] = int(given) if given.isdigit() else 0
        for interface in sorted(set(present) - set(wanted)):
            await self._action({"Action": "QueueRemove", "Queue": queue, "Interface": interface},
                               ok="Not there")
            log.info("overflow: %s leaves %s", interface, queue)
        for interface, penalty in sorted(wanted.items()):
            if interface not in present:
                # "Added interface to queue" looks to panoramisk like the start
                # of a list: take the first message as the answer
                add = {"Action": "QueueAdd", "Queue": queue, "Interface": interface,
                       "Penalty": str(penalty), "MemberName": names[interface], "Paused": "false"}
                trunk = member_trunk(interface)
                if trunk is not None and self.settings.trunks.trunk(trunk) is not None:
                    add["StateInterface"] = trunk_state_interface(trunk)
                await self._action(add, ok="Already there", ack_only=True)
                if "StateInterface" in add:  # one member, up to the trunk's max calls at once
                    await self._action({"Action": "QueueMemberRingInUse", "Queue": queue, "Interface": interface,
                                        "RingInUse": "true"})
                log.info("overflow: %s joins %s with penalty %d%s", interface, queue, penalty,
                         f" (state {add['StateInterface']}, rings in use)" if "StateInterface" in add else "")
            elif present[interface] != penalty:
                await self._action({"Action": "QueuePenalty", "Queue": queue, "Interface": interface,
                                    "Penalty": str(penalty)})

    async def _action(self, action: dict[str, str], *, ok: str = "", ack_only: bool = False) -> None:
        reply = await self.ami.send(action, ack_only=ack_only)
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") != "Success" and not (ok and ok in str(first.get("Message", ""))):
            log.error("overflow: %s %s refused: %s", action["Action"], action.get("Interface"),
                      first.get("Message"))

    # ------------------------------------------------------------- publish

    def surge_view(self, centre: str) -> dict[str, Any]:
        groups = []
        for group in self.groups:
            if group.centre != centre:
                continue
            state = self.states.get(group.name, SurgeState())
            groups.append({"name": group.name, "open": state.open, "since": state.since,
                           "reason": state.reason, "priority": group.priority,
                           "members": len(group.members), "enabled": group.enabled})
        load = self.loads.get(centre)
        return {"open": any(g["open"] for g in groups), "groups": groups,
                "load": load.as_dict() if load else None}

    async def _publish(self, now: float) -> None:
        mapping = {c.id: json.dumps({**self.surge_view(c.id), "updated_at": round(now, 3)}, ensure_ascii=False)
                   for c in self.settings.site.centres}
        key = self.settings.redis.prefix + SURGE_KEY
        # announce a change of the surge itself (groups open/closed), not of the load
        views = {c.id: {k: v for k, v in self.surge_view(c.id).items() if k != "load"}
                 for c in self.settings.site.centres}
        changed = [cid for cid, view in views.items() if self._published.get(cid) != view]
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                # redis-py types hset's mapping with an invariant key: no dict[str, str] fits
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                if changed:  # the dashboard's live stream wakes on this
                    pipe.publish(self.settings.redis.prefix + UPDATES_CHANNEL, change_notice({"surge": changed}))
                await pipe.execute()
            self._published.update({cid: views[cid] for cid in changed})
        except (RedisError, OSError) as exc:
            log.warning("overflow: surge view not written (%s)", exc)

    # -------------------------------------------------------------- events

    def _on_link_up(self) -> None:
        self._applied = None  # Asterisk may have restarted: its dynamic members are gone
        self._trunk_written = {}  # ...and its Custom states

    def _on_join(self, event: AmiMessage) -> None:
        uniqueid = str(event.get("Uniqueid", ""))
        if uniqueid and centre_by_queue(self.settings.site.centres, str(event.get("Queue", ""))) is not None:
            self._joined[uniqueid] = self.clock()
            if len(self._joined) > 10_000:  # callers whose end we missed
                cutoff = self.clock() - 4 * 3600
                self._joined = {u: t for u, t in self._joined.items() if t > cutoff}

    def _on_abandon(self, event: AmiMessage) -> None:
        self._joined.pop(str(event.get("Uniqueid", "")), None)

    def _on_connect_event(self, event: AmiMessage) -> None:
        interface = str(event.get("Interface") or "")
        found = self._members.get(interface)
        if found is None:
            return  # a local seat answered
        now = self.clock()
        joined = self._joined.pop(str(event.get("Uniqueid", "")), None)
        hold = str(event.get("HoldTime", ""))
        wait_ms = int((now - joined) * 1000) if joined is not None else int(hold) * 1000 if hold.isdigit() else None
        variables = channel_variables(event)
        citizen = variables.get(cv.CITIZEN) or str(event.get("CallerIDNum", ""))
        self._tasks.spawn(self._record_order(found, interface, citizen, wait_ms, event), "overflow-order")

    async def _record_order(self, found: tuple[str, str, str], interface: str, citizen: str,
                            wait_ms: int | None, event: AmiMessage) -> None:
        group, centre, member = found
        trunk = member_trunk(interface)
        leg = str(event.get("DestChannel") or "")
        if trunk is not None and leg.startswith(f"PJSIP/{trunk}-"):
            # the far platform's seat that answered: its 200 OK's P-Asserted-Identity
            try:
                pai = await self._getvar("PJSIP_RESPONSE_HEADER(read,P-Asserted-Identity)", leg)
            except AmiError:
                pai = ""
            seat = answering_seat(pai)
            if seat == citizen:  # the far side sent back the caller's own identity, not its seat's
                seat = None
            log.info("overflow: %s answered over trunk %s by remote seat %s (%s)", interface, trunk, seat, pai)
            if seat is not None:
                member = f"{seat}@{trunk}"
        fields: dict[str, Any] = dict(
            mode="overflow", source_centre=centre, target_centre=centre, status="accepted",
            citizen_number=citizen if is_number(citizen) else "", actor="system:overflow",
            target=group, target_seat=member[:32], wait_ms=wait_ms,
            linkedid=str(event.get("Linkedid", ""))[:64] or None, channel=str(event.get("Channel", ""))[:128] or None,
            note=f"远程话务座席支持: answered by {interface} of group {group}",
        )
        for attempt, delay in enumerate((0.0, *ORDER_RETRIES)):
            await asyncio.sleep(delay)
            try:
                order = await self.orders.create(**fields)
            except HotlineError as exc:  # bad data: retrying will not help
                log.error("overflow order not recorded (%s): %s", exc, fields)
                return
            except Exception as exc:  # noqa: BLE001 - database away or busy: the next attempt
                log.warning("overflow order write failed (attempt %d: %s)", attempt + 1, exc)
                continue
            self.orders_recorded += 1
            log.info("overflow order %s: citizen %s answered by %s (group %s) after %s ms",
                     order.number, citizen, member, group, wait_ms)
            return
        log.error("overflow order LOST after retries: %s", fields)
