"""`hotline bench load`: the whole stack under an offered call-rate ramp, against a bare Asterisk (edge).

Two phases in one run, the same calls on the same machine (the baseline
runs twice, before ours and after: the ratios take the mean of the two, so a
machine whose speed drifts during the run — a shared virtual machine — moves
both sides alike; `baseline_cpu_after_over_before` shows how far it moved):

* **ours**: the product as `hotline up` runs it — a child process with every
  role (FastAGI, AMI bridge with the live mirror and the handoff journal, web)
  around its child Asterisk, orders in the configured database (SQLite in the
  state dir unless `--database-url`);
* **baseline**: the same Asterisk build alone, with the same rendered
  configuration (manager.conf's `disabledevents` included), calls entering a
  bare queue dialplan (`hotline-bench-bare`: no AGI, no AMI bridge, no orders); the
  seats hand over with Asterisk's own keys (`#1` blind transfer, `#2`
  attended transfer) into the same linkage queues.

Each call: a citizen (a Local channel with its own number) dials 12345, a
simulated seat answers; after `talk_s` a share of the seats hands the
citizen to 110 (ours `*1`; baseline `#1` + `110`) and a share starts a
three-way call (ours `*2`; baseline `#2` + `110`, Asterisk's attended
transfer: the consultation leg rings the 110 linkage queue); the 110 seat
answers; after `talk_s` more the citizen hangs up.  Calls start at the
step's offered rate, step after step.

Per step: achieved call setups/s (a seat answered: the queue's
AgentConnect) and handoffs/s (a 110 linkage seat answered), setup time
(originate -> AgentConnect, this process's clock) and key -> answer (the
end of the last key digit on the seat's leg -> the 110 seat's
AgentConnect, Asterisk's clock) p50/p95, failed calls, and
CPU per call of Asterisk and of the product's Python process from
/proc/<pid>/stat (utime + stime).  After the ramp (ours): handoff orders
lost (no order for a handed-over call) or not accepted.  The load
generator (this process) is measured in neither; its own CPU share and how
busy the whole machine was (/proc/stat) are reported beside them, so a step
where the rig and the product together fill the CPUs can be told apart.

Figures for notes, never timed assertions.  Digits are typed like the
transfer benchmark's (`app.tools.handoff_bench`: 100 ms keys, 150 ms apart).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from agi.background import wait_for
from ami_bridge.manager import AmiError, AmiManager
from app.runtime import db
from app.runtime.asterisk import AsteriskProcess, open_log
from app.runtime.models import Order
from app.runtime.render import render
from app.runtime.secrets import load_or_create
from app.tools import BenchmarkFailed, simulation
from app.tools.agi_bench import percentile
from app.tools.ports import free_port as _free_port
from core.feature_keys import BUILTIN_FEATURE_KEYS
from core.settings import PROJECT_ROOT, Settings

CLK_TCK = os.sysconf("SC_CLK_TCK")
BARE_CONTEXT = "hotline-bench-bare"
KEYS_CONTEXT = "hotline-bench-keys"
SOURCE, TARGET = "12345", "110"


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` so far (its own threads; children not included)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _processes() -> Iterator[tuple[int, str, list[str]]]:
    """(pid, command name, the /proc stat fields after the name) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        yield int(entry), text[text.index("(") + 1:text.rindex(")")], text.rsplit(")", 1)[1].split()


def cpu_seconds_named(name: str) -> float:
    """CPU seconds so far of every process whose command name is `name`
    (PostgreSQL's server: its postmaster, its workers and a backend per
    connection): each one's utime + stime, and what its children that have
    ended used (cutime + cstime: a backend whose connection closed during a
    step is counted in the postmaster that reaped it, so the sum never goes
    down)."""
    return sum(sum(int(f) for f in fields[11:15]) / CLK_TCK for _, comm, fields in _processes() if comm == name)


def machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, every CPU summed
    (/proc/stat's first eight fields: guest time is already in user; busy
    is all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK, sum(ticks) / CLK_TCK


def _cpu(pids: dict[str, int | str | None]) -> dict[str, float]:
    """CPU seconds so far per part: a pid, or a command name for all its processes."""
    return {name: cpu_seconds_named(pid) if isinstance(pid, str) else cpu_seconds(pid)
            for name, pid in pids.items() if pid}


def child_pids(parent: int, name: str) -> set[int]:
    """The pids of `parent`'s children whose command name is `name`."""
    return {pid for pid, comm, fields in _processes() if comm == name and int(fields[1]) == parent}


def child_pid(parent: int, name: str) -> int | None:
    """The pid of `parent`'s child whose command name is `name`."""
    return min(child_pids(parent, name), default=None)


@dataclass
class Call:
    number: str
    kind: str  # "plain", "handoff", "threeway"
    started: float = 0.0
    setup_ms: float | None = None
    key_to_answer_ms: float | None = None
    handset_id: str = ""
    failed: str | None = None


@dataclass(frozen=True)
class Answer:
    """A seat answered (AgentConnect): when, on this process's clock and on
    Asterisk's, and the seat's leg (the queue member's channel)."""

    at: float
    asterisk_ts: float
    seat_leg: str


@dataclass
class _Answers:
    """Seats answering (the queues' `AgentConnect`), by queue and by the
    caller's Linkedid or caller ID number, on this process's clock and on
    Asterisk's (the AMI `Timestamp`); and the seats' key presses as their legs
    received them (`DTMFEnd`, Direction Received).

    Not the simulated phone's HotlineSeatAnswered event: it follows
    `Answer()`, which on a Local channel without media waits up to 500 ms
    for a first voice frame (main/channel.c __ast_answer) — an artefact of
    the rig, not time a caller waits."""

    waiters: dict[tuple[str, str, str], asyncio.Future[Answer]] = field(default_factory=dict)
    seen: dict[tuple[str, str, str], Answer] = field(default_factory=dict)
    digits: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # leg -> (digit, timestamp)

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("Event") == "DTMFEnd":
            if event.get("Direction") == "Received":
                self.digits.setdefault(str(event.get("Channel")), []).append(
                    (str(event.get("Digit")), float(event.get("Timestamp") or 0)))
            return
        queue = str(event.get("Queue", ""))
        seen = Answer(time.monotonic(), float(event.get("Timestamp") or 0), str(event.get("DestChannel", "")))
        for key in ((queue, "lid", str(event.get("Linkedid", ""))), (queue, "cid", str(event.get("CallerIDNum", "")))):
            fut = self.waiters.pop(key, None)
            if fut is not None and not fut.done():
                fut.set_result(seen)
            elif fut is None:
                self.seen.setdefault(key, seen)

    def wait(self, queue: str, *, linkedid: str = "", number: str = "") -> asyncio.Future[Answer]:
        """The first AgentConnect of `queue` for this caller (by linkedid or number)."""
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        keys = [k for k in ((queue, "lid", linkedid), (queue, "cid", number)) if k[2]]
        for key in keys:
            if key in self.seen:
                fut.set_result(self.seen.pop(key))
                return fut
        for key in keys:
            self.waiters[key] = fut
        return fut

    def forget(self, queue: str, *, linkedid: str = "", number: str = "") -> None:
        for key in ((queue, "lid", linkedid), (queue, "cid", number)):
            self.waiters.pop(key, None)
            self.seen.pop(key, None)

    def last_key(self, leg: str, digit: str) -> float | None:
        """Asterisk's time of the last `digit` the seat's leg received."""
        times = [t for d, t in self.digits.pop(leg, []) if d == digit]
        return times[-1] if times else None


async def _one_call(ami: AmiManager, answers: _Answers, call: Call, *, mode: str, keys: dict[str, str],
                    talk_s: float, timeout_s: float) -> None:
    context = "hotline-inbound" if mode == "ours" else BARE_CONTEXT
    source_queue, target_queue = f"hotline-{SOURCE}", f"hotline-{TARGET}-linkage"
    call.started = time.monotonic()
    try:
        placed = await simulation.originate_citizen(ami, SOURCE, call.number, context=context)
        call.handset_id = placed.handset_id
        answer = await wait_for(answers.wait(source_queue, linkedid=call.handset_id), timeout_s)
        call.setup_ms = (answer.at - call.started) * 1000
        await asyncio.sleep(talk_s)
        if call.kind != "plain":
            # the seat's phone: the other half of its leg (a Local channel pair)
            if not answer.seat_leg.startswith("Local/") or not answer.seat_leg.endswith(";1"):
                raise LookupError(f"the seat's leg {answer.seat_leg!r} is not a simulated phone's")
            phone = answer.seat_leg[:-1] + "2"
            # handoff: the citizen's own channel; three-way: a new leg presenting the citizen's number
            target = answers.wait(target_queue, linkedid=call.handset_id, number=call.number)
            await _type(ami, phone, keys[call.kind])
            answered_ts = (await wait_for(target, timeout_s)).asterisk_ts
            # on Asterisk's clock: the end of the last key digit on the seat's leg -> the 110 seat answered
            pressed_ts = answers.last_key(answer.seat_leg, keys[call.kind][-1])
            if pressed_ts is None:
                raise LookupError("the seat's key press was not seen on its leg")
            call.key_to_answer_ms = (answered_ts - pressed_ts) * 1000
            if mode == "baseline" and call.kind == "threeway":
                # Asterisk's attended transfer completes when the transferring seat hangs up,
                # half-way through the talk: the citizen hanging up at once after it could
                # leave the 110 seat's leg up, and the seat hanging up as the 110 seat
                # answers has crashed this Asterisk (22.10, Local channels)
                await asyncio.sleep(talk_s / 2)
                await ami.send({"Action": "Hangup", "Channel": phone})
                await asyncio.sleep(talk_s / 2)
            else:
                await asyncio.sleep(talk_s)
    except (TimeoutError, LookupError, RuntimeError, AmiError) as exc:
        call.failed = type(exc).__name__
    finally:
        answers.forget(source_queue, linkedid=call.handset_id)
        answers.forget(target_queue, linkedid=call.handset_id, number=call.number)
        if call.handset_id:
            try:
                await simulation.hang_up(ami, call.handset_id)
            except Exception:  # noqa: BLE001 - the end-of-step sweep hangs up what is left
                pass


async def _type(ami: AmiManager, phone: str, keys: str) -> None:
    """The simulated seat phone `phone` types `keys`: it is sent to the rig's
    `hotline-bench-keys`, where its own channel plays them (100 ms each,
    150 ms apart, as the transfer benchmark's keys).  Not AMI `PlayDTMF`:
    Asterisk runs one session's actions one after another and PlayDTMF holds
    the session for the digit's length, so concurrent handoffs' keys would
    queue behind each other until the gap between two digits passed the
    feature digit timeout (the key then heard as digits) — which no phone does."""
    reply = await ami.send({"Action": "Redirect", "Channel": phone, "Context": KEYS_CONTEXT,
                            "Exten": keys, "Priority": "1"})
    first = reply[0] if isinstance(reply, list) else reply
    if first.get("Response") != "Success":
        raise RuntimeError(f"the phone {phone} could not type {keys}: {first.get('Message')}")


def _summary(values: list[float]) -> dict[str, float | int]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1)}


async def _drained(ami: AmiManager, timeout_s: float = 30.0, sweep_s: float = 120.0) -> None:
    """Wait for the step's calls to end, then hang up what is left until
    nothing is.  An overloaded Asterisk may drop the bench's own AMI link (a
    ping not answered in time) or answer late: wait for it and ask again
    rather than end the run; only an Asterisk still holding channels after
    `sweep_s` more seconds of hang-ups ends it."""
    deadline = time.monotonic() + timeout_s
    swept_until = deadline + sweep_s
    while True:
        now = time.monotonic()
        try:
            if not await simulation.channels(ami):
                return
            if now >= swept_until:
                raise RuntimeError(f"channels still up {timeout_s + sweep_s:.0f}s after the step ended")
            if now >= deadline:
                await ami.send({"Action": "Hangup", "Channel": "/^Local/"})
        except AmiError:
            if now >= swept_until:
                raise
            with contextlib.suppress(AmiError):
                await ami.wait_connected(max(0.1, swept_until - now))
            continue
        await asyncio.sleep(0.2 if now < deadline else 1.0)


async def _ramp(ami: AmiManager, *, mode: str, rates: list[float], step_s: float,
                handoff_share: float, threeway_share: float, talk_s: float, numbers: itertools.count,
                pids: dict[str, int | str | None], seed: int) -> tuple[list[dict[str, Any]], list[Call]]:
    answers = _Answers()
    ami.on_event("AgentConnect", answers.on_event)
    ami.on_event("DTMFEnd", answers.on_event)
    keys = ({"handoff": "*1", "threeway": "*2"} if mode == "ours" else
            {"handoff": BUILTIN_FEATURE_KEYS["blindxfer"] + TARGET,
             "threeway": BUILTIN_FEATURE_KEYS["atxfer"] + TARGET})
    pick = random.Random(seed)
    steps: list[dict[str, Any]] = []
    every: list[Call] = []
    try:
        for rate in rates:
            count = max(1, round(rate * step_s))
            calls = []
            for _ in range(count):
                draw = pick.random()
                kind = "handoff" if draw < handoff_share else "threeway" if draw < handoff_share + threeway_share \
                    else "plain"
                calls.append(Call(number=f"139{next(numbers):08d}", kind=kind))
            cpu0, own0, machine0 = _cpu(pids), time.process_time(), machine_cpu()
            t0 = time.monotonic()
            tasks = []
            for i, call in enumerate(calls):
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(_one_call(ami, answers, call, mode=mode, keys=keys,
                                                           talk_s=talk_s, timeout_s=max(15.0, step_s))))
            offered_s = time.monotonic() - t0
            await asyncio.gather(*tasks)
            await _drained(ami)
            wall = time.monotonic() - t0
            cpu1, own1, machine1 = _cpu(pids), time.process_time(), machine_cpu()
            done = [c for c in calls if c.setup_ms is not None]
            handed = [c for c in calls if c.key_to_answer_ms is not None]
            setup_last = max((c.started + c.setup_ms / 1000 for c in calls if c.setup_ms is not None),
                             default=t0) - t0
            steps.append({
                "offered_calls_per_s": rate,
                "calls": len(calls),
                "handoffs_offered": sum(c.kind == "handoff" for c in calls),
                "threeway_offered": sum(c.kind == "threeway" for c in calls),
                "achieved_setups_per_s": round(len(done) / max(setup_last, offered_s), 2),
                "achieved_handoffs_per_s": round(len(handed) / max(setup_last, offered_s), 2),
                "setup": _summary([c.setup_ms for c in done if c.setup_ms is not None]),
                "key_to_answer": _summary([c.key_to_answer_ms for c in handed if c.key_to_answer_ms is not None]),
                "key_to_answer_handoff": _summary([c.key_to_answer_ms for c in handed if c.kind == "handoff"
                                                   and c.key_to_answer_ms is not None]),
                "key_to_answer_threeway": _summary([c.key_to_answer_ms for c in handed if c.kind == "threeway"
                                                    and c.key_to_answer_ms is not None]),
                "failed_calls": sum(c.failed is not None for c in calls),
                "failures": sorted({c.failed for c in calls if c.failed}),
                "cpu_ms_per_call": {name: round((cpu1[name] - cpu0[name]) * 1000 / max(len(done), 1), 2)
                                    for name in cpu1},
                "cpu_share_of_one_core": {name: round((cpu1[name] - cpu0[name]) / wall, 3) for name in cpu1},
                # the rig's own demand on the same CPUs: a saturated machine shows here first
                "load_generator_share_of_one_core": round((own1 - own0) / wall, 3),
                "machine_busy_share": round((machine1[0] - machine0[0]) / max(machine1[1] - machine0[1], 1e-9), 3),
                "wall_s": round(wall, 1),
            })
            every.extend(calls)
    finally:
        ami.off_event("AgentConnect", answers.on_event)
        ami.off_event("DTMFEnd", answers.on_event)
    return steps, every


def _local_postgresql(database_url: str | None) -> bool:
    """The orders database is a PostgreSQL server on this machine."""
    if not database_url:
        return False
    url = make_url(database_url)
    return url.get_backend_name() == "postgresql" and (url.host or "localhost") in ("localhost", "127.0.0.1", "::1")


def _child_env(settings: Settings, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_STATE_DIR": str(settings.paths.state_dir),
        "HOTLINE_ASTERISK_PREFIX": str(settings.paths.asterisk_prefix),
        "HOTLINE_SEAT_MODE": "simulated",
        "HOTLINE_CENTRES": ";".join(f"{c.id}:{c.seats[0].extension}-{c.seats[-1].extension}"
                                    for c in settings.site.centres),
        "HOTLINE_SIP_PORT": str(settings.network.sip_port),
        "HOTLINE_AMI_PORT": str(settings.ami.port),
        "HOTLINE_AGI_PORT": str(settings.network.agi_port),
        "HOTLINE_HTTP_PORT": str(settings.network.http_port),
        "HOTLINE_RTP_PORTS": f"{settings.network.rtp_start}-{settings.network.rtp_end}",
        "HOTLINE_REDIS_URL": settings.redis.url,
        "HOTLINE_REDIS_PREFIX": settings.redis.prefix,
        "HOTLINE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    })
    if database_url:
        env["HOTLINE_DATABASE_URL"] = database_url
    return env


async def _wait_port(port: int, timeout_s: float, child: asyncio.subprocess.Process, log: Path) -> None:
    """Wait until `child` (`hotline up`) listens on `port`; if it exits first,
    fail at once with the end of its log (a database not reachable, a port
    taken) instead of waiting out `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        if child.returncode is not None:
            tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-1500:]
            raise BenchmarkFailed(f"hotline up exited with {child.returncode} before serving:\n{tail}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _orders_check(url: str, calls: list[Call]) -> dict[str, Any]:
    """Handed-over calls (ours) whose order is missing, or not accepted (each
    call has its own citizen number)."""
    wanted = {c.number: c for c in calls if c.key_to_answer_ms is not None}
    engine = db.create_engine(url)
    try:
        async with db.session_factory(engine)() as session:
            rows = (await session.execute(select(Order.citizen_number, Order.status, Order.mode)
                                          .where(Order.mode.in_(("transfer", "three_way"))))).all()
    finally:
        await engine.dispose()
    by_call = {number: (status, mode) for number, status, mode in rows}
    lost = [c for h, c in wanted.items() if h not in by_call]
    accepted_status = {"transfer": {"accepted"}, "three_way": {"accepted", "closed"}}
    not_accepted = {h: by_call[h][0] for h in wanted if h in by_call
                    and by_call[h][0] not in accepted_status.get(by_call[h][1], {"accepted"})}
    return {"handed_over_calls": len(wanted), "orders_lost": len(lost), "orders_not_accepted": len(not_accepted),
            "not_accepted_statuses": sorted(set(not_accepted.values()))}


async def run_load_bench(settings: Settings, *, rates: list[float], step_s: float = 10.0,
                         handoff_share: float = 0.5, threeway_share: float = 0.1, talk_s: float = 1.0,
                         seats: int = 40, database_url: str | None = None, baseline: bool = True,
                         seed: int = 17) -> dict[str, Any]:
    """The ramp through the product, then through the bare dialplan; JSON-able figures."""
    state = Path(tempfile.mkdtemp(prefix="hotline-bench-load-"))
    settings = Settings.from_env({
        "HOTLINE_STATE_DIR": str(state),
        "HOTLINE_ASTERISK_PREFIX": str(settings.paths.asterisk_prefix),
        "HOTLINE_SEAT_MODE": "simulated",
        "HOTLINE_CENTRES": f"12345:1001-{1000 + seats};110:2001-{2000 + seats}",
        "HOTLINE_SIP_PORT": str(_free_port(socket.SOCK_DGRAM)),
        "HOTLINE_AMI_PORT": str(_free_port()),
        "HOTLINE_AGI_PORT": str(_free_port()),
        "HOTLINE_HTTP_PORT": str(_free_port()),
        "HOTLINE_RTP_PORTS": "31000-31999",
        "HOTLINE_REDIS_URL": settings.redis.url,
        "HOTLINE_REDIS_PREFIX": f"bench-load-{uuid.uuid4().hex[:8]}:",
    })
    AsteriskProcess(settings).check_installed()
    secrets = load_or_create(settings)  # before the child starts: both read the same AMI secret
    numbers = itertools.count(1)
    shares = {"handoff_share": handoff_share, "threeway_share": threeway_share}
    out: dict[str, Any] = {
        "benchmark": "whole-system-load-vs-bare-asterisk",
        "asterisk": settings.paths.asterisk_prefix.resolve().name,
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
        "ramp": {"rates_calls_per_s": rates, "step_s": step_s, "talk_s": talk_s, "seats_per_centre": seats, **shares},
        "database": (database_url or "sqlite (state dir)").split("@")[-1],
    }
    try:
        if baseline:
            out["baseline_before"] = {"steps": await _baseline_ramp(settings, secrets.ami_secret, rates=rates,
                                                                    step_s=step_s, talk_s=talk_s, numbers=numbers,
                                                                    seed=seed, shares=shares)}
        # ---- ours: `hotline up` in a child process
        log_file = await asyncio.to_thread(open_log, state / "hotline-up.log")
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.runtime.cli", "up", cwd=str(PROJECT_ROOT),
            env=_child_env(settings, database_url), stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file, stderr=log_file, start_new_session=True)
        ami = AmiManager("127.0.0.1", settings.ami.port, settings.ami.user, secrets.ami_secret,
                         filter_events=True)
        try:
            await _wait_port(settings.network.http_port, 90, child, state / "hotline-up.log")
            await ami.start()
            await ami.wait_connected(timeout=30)
            pids: dict[str, int | str | None] = {"asterisk": child_pid(child.pid, "asterisk"), "python": child.pid}
            if _local_postgresql(database_url):
                pids["postgresql"] = "postgres"  # the server's CPU is the product's too
            steps, calls = await _ramp(ami, mode="ours", rates=rates, step_s=step_s, talk_s=talk_s,
                                       numbers=numbers, pids=pids, seed=seed, **shares)
            await asyncio.sleep(1.0)  # the journal's last acceptances
        finally:
            await ami.close()
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
                try:
                    await wait_for(child.wait(), 60)
                except TimeoutError:
                    os.killpg(child.pid, signal.SIGKILL)
                    await child.wait()
            log_file.close()
        out["ours"] = {"steps": steps,
                       "orders": await _orders_check(database_url or settings.effective_database_url, calls)}
        if baseline:
            steps = await _baseline_ramp(settings, secrets.ami_secret, rates=rates, step_s=step_s, talk_s=talk_s,
                                         numbers=numbers, seed=seed, shares=shares)
            out["baseline"] = {"steps": steps}
            out["ratios_ours_over_baseline"] = [
                _ratios(o, [b, a]) for o, b, a in zip(out["ours"]["steps"], out["baseline_before"]["steps"], steps,
                                                      strict=True)]
        out["machine"]["loadavg_at_end"] = os.getloadavg()
        return out
    finally:
        with contextlib.suppress(Exception):  # Redis away: nothing to clean
            await simulation.clean_redis(settings)
        shutil.rmtree(state, ignore_errors=True)


async def _baseline_ramp(settings: Settings, ami_secret: str, *, rates: list[float], step_s: float, talk_s: float,
                         numbers: itertools.count[int], seed: int, shares: dict[str, float]
                         ) -> list[dict[str, Any]]:
    """The ramp through the same Asterisk alone, the bare dialplan; its steps.
    The configuration is rendered as `hotline up` renders it (the first run
    comes before ours)."""
    render(settings, load_or_create(settings))
    asterisk = AsteriskProcess(settings)
    await asterisk.start()
    ami = AmiManager("127.0.0.1", settings.ami.port, settings.ami.user, ami_secret, filter_events=True)
    try:
        await ami.start()
        await ami.wait_connected(timeout=30)
        assert asterisk.proc is not None
        steps, _ = await _ramp(ami, mode="baseline", rates=rates, step_s=step_s, talk_s=talk_s,
                               numbers=numbers, pids={"asterisk": asterisk.proc.pid}, seed=seed, **shares)
        return steps
    finally:
        await ami.close()
        await asterisk.stop()


def _ratios(ours: dict[str, Any], bases: list[dict[str, Any]]) -> dict[str, Any]:
    """Ours over the baseline: over the mean of the baseline runs' figures (one
    before ours, one after: a machine whose speed drifts during the run — a
    shared virtual machine — moves both, and their mean sits where ours ran)."""
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b and a == a and b == b else None

    def base(get: Any) -> float | None:
        values = [get(b) for b in bases]
        return None if any(v is None or v != v for v in values) else sum(values) / len(values)

    cpu_ours = sum(ours["cpu_ms_per_call"].values())
    base_cpu = base(lambda b: b["cpu_ms_per_call"].get("asterisk"))
    return {
        "offered_calls_per_s": ours["offered_calls_per_s"],
        "cpu_per_call_total": ratio(cpu_ours, base_cpu),
        "cpu_per_call_asterisk": ratio(ours["cpu_ms_per_call"].get("asterisk"), base_cpu),
        # how far the machine moved between the two baseline runs (1.0: not at all)
        "baseline_cpu_after_over_before": ratio(bases[-1]["cpu_ms_per_call"].get("asterisk"),
                                                bases[0]["cpu_ms_per_call"].get("asterisk")),
        "setup_p50": ratio(ours["setup"]["p50_ms"], base(lambda b: b["setup"]["p50_ms"])),
        "setup_p95": ratio(ours["setup"]["p95_ms"], base(lambda b: b["setup"]["p95_ms"])),
        # *1 against Asterisk's #1 blind transfer; the three-way call (a conference) against its
        # attended transfer's consultation leg is not like for like, so it is reported apart
        "key_to_answer_handoff_p50": ratio(ours["key_to_answer_handoff"]["p50_ms"],
                                           base(lambda b: b["key_to_answer_handoff"]["p50_ms"])),
        "key_to_answer_handoff_p95": ratio(ours["key_to_answer_handoff"]["p95_ms"],
                                           base(lambda b: b["key_to_answer_handoff"]["p95_ms"])),
        "key_to_answer_threeway_p50": ratio(ours["key_to_answer_threeway"]["p50_ms"],
                                            base(lambda b: b["key_to_answer_threeway"]["p50_ms"])),
    }
