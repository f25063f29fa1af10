"""`hotline up` as a user runs it, with its parts killed: real processes, real ports.

* Asterisk killed under `hotline up`: restarted (logged), `/api/health` 503
  naming the AMI link meanwhile, 200 again once the link is back.
* `hotline up` killed: its Asterisk survives (own session) with the citizen's
  call; the next `hotline up` adopts it (logged) and stops it on Ctrl-C.
* A second `hotline up` on a state directory in use refuses, naming the owner.
* Redis down: health 503 naming Redis; citizens still reach seats and the
  handoff's order is recorded; health 200 once Redis is back.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from agi.background import wait_for
from app.orders.services import OrderService
from app.runtime import db
from app.tools.simulation import CitizenCall
from core.settings import Settings
from tests.conftest import POSTGRES_URL
from tests.faults.rig import Figures, asterisk_pids, attach, health, hotline, up_env
from tests.support.children import stop_child
from tests.support.pbx import Pbx, free_port
from tests.support.waiting import eventually


async def _healthy(env: dict[str, str], proc: asyncio.subprocess.Process | None = None, timeout: float = 60) -> None:
    async def ok() -> bool:
        assert proc is None or proc.returncode is None, "hotline up exited"
        answer = await health(env)
        assert answer is not None and answer[0] == 200, f"health: {answer}"
        return True
    await eventually(ok, timeout=timeout, interval=0.05, what="hotline up healthy")


async def _call_on_orphaned_asterisk(env: dict[str, str], log: Path, procs: list[asyncio.subprocess.Process],
                                     number: str) -> tuple[int, Pbx, CitizenCall]:
    """A `hotline up` whose seat answered the citizen `number`, then killed (-9):
    its Asterisk's pid, the test's AMI link to it (the caller closes it) and the call."""
    state = Path(env["HOTLINE_STATE_DIR"])
    first = await hotline(["up"], env, log)
    procs.append(first)
    await _healthy(env, first)
    [asterisk] = asterisk_pids(state)
    pbx = await attach(env)
    try:
        call = await pbx.citizen_dials("12345", number)
        await pbx.seat_answered(number, timeout=20)
        first.kill()
        await first.wait()
        assert asterisk_pids(state) == [asterisk]       # left running, with the call
    except BaseException:
        await pbx.ami.close()
        raise
    return asterisk, pbx, call


@contextmanager
def _port_taken(port: str) -> Iterator[None]:
    """Something else listens on 127.0.0.1:`port` meanwhile."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(port)))
        squatter.listen()
        yield


async def _refused_start(env: dict[str, str], log: Path, procs: list[asyncio.subprocess.Process]) -> None:
    """`hotline up` with its web port taken: it exits with 1."""
    with _port_taken(env["HOTLINE_HTTP_PORT"]):
        proc = await hotline(["up"], env, log)
        procs.append(proc)
        assert await wait_for(proc.wait(), 60) == 1


@pytest.fixture
async def up(tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], Path, list[asyncio.subprocess.Process]]]:
    """Env, log file, and the processes started (all stopped after, Asterisks included)."""
    env = up_env(tmp_path / "state")
    procs: list[asyncio.subprocess.Process] = []
    log = tmp_path / "up.log"
    try:
        yield env, log, procs
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        for pid in asterisk_pids(tmp_path / "state"):
            os.kill(pid, signal.SIGKILL)


async def test_when_asterisk_dies_under_hotline_up_then_it_is_restarted_and_health_says_what_is_down(
        up: tuple[dict[str, str], Path, list[asyncio.subprocess.Process]], figures: Figures) -> None:
    env, log, procs = up
    state = Path(env["HOTLINE_STATE_DIR"])
    proc = await hotline(["up"], env, log)
    procs.append(proc)
    await _healthy(env, proc)
    [first] = asterisk_pids(state)
    os.kill(first, signal.SIGKILL)
    killed = time.monotonic()
    seen: list[dict[str, object]] = []

    async def degraded() -> bool:
        answer = await health(env)
        assert answer is not None and answer[0] == 503, f"health: {answer}"
        seen.append(answer[1])
        return True
    await eventually(degraded, timeout=10, interval=0.02, what="health 503 while Asterisk is down")
    assert "ami" in seen[0]["down"]  # type: ignore[operator]
    await _healthy(env, proc, timeout=30)
    back_s = round(time.monotonic() - killed, 2)
    [second] = asterisk_pids(state)
    assert second != first
    # the AMI link (health) can be back a moment before the watchdog's start() returns and logs
    await eventually(lambda: "asterisk restarted" in log.read_text(), timeout=15, what="the restart logged")
    assert await stop_child(proc) == 0
    assert asterisk_pids(state) == []
    text = log.read_text()
    assert "exited unexpectedly" in text and "restart 1 of at most 5" in text and "asterisk restarted" in text
    figures.done(outage_s=back_s, note="kill -9 Asterisk under hotline up: restarted, health 503 (ami) → 200")


async def test_when_hotline_up_is_killed_then_its_asterisk_keeps_the_call_and_the_next_one_adopts_it(
        up: tuple[dict[str, str], Path, list[asyncio.subprocess.Process]], figures: Figures) -> None:
    env, log, procs = up
    state = Path(env["HOTLINE_STATE_DIR"])
    asterisk, pbx, call = await _call_on_orphaned_asterisk(env, log, procs, "13800138001")
    killed = time.monotonic()
    try:
        second = await hotline(["up"], env, log)
        procs.append(second)
        await _healthy(env, second)
        back_s = round(time.monotonic() - killed, 2)
        assert asterisk_pids(state) == [asterisk]       # adopted, not a second instance
        assert await pbx.channel_by_uniqueid(call.handset_id) is not None, "the citizen was dropped"
        assert "adopting it" in log.read_text()
        await pbx.hang_up(call.handset_id)
        await pbx.assert_nothing_left()
    finally:
        await pbx.ami.close()
    assert await stop_child(second) == 0
    assert asterisk_pids(state) == []                  # the adopted one stopped with it
    figures.done(calls=1, dropped=0, outage_s=back_s,
                 note="kill -9 hotline up; next one adopts its Asterisk (call kept), stops it on Ctrl-C")


async def test_when_another_hotline_up_owns_the_state_dir_then_a_second_one_refuses_naming_it(
        up: tuple[dict[str, str], Path, list[asyncio.subprocess.Process]], figures: Figures) -> None:
    env, log, procs = up
    first = await hotline(["up"], env, log)
    procs.append(first)
    await _healthy(env, first)
    second = await hotline(["up"], env, log)
    procs.append(second)
    assert await wait_for(second.wait(), 30) == 1
    assert f"another `hotline up` (pid {first.pid}) owns the state directory" in log.read_text()
    await _healthy(env, first, timeout=5)              # the first is untouched
    assert len(asterisk_pids(Path(env["HOTLINE_STATE_DIR"]))) == 1
    assert await stop_child(first) == 0
    figures.done(note="second hotline up on the same state dir: exit 1 naming the owner")


async def test_when_the_web_port_is_taken_then_hotline_up_says_so_and_leaves_no_asterisk_behind(
        up: tuple[dict[str, str], Path, list[asyncio.subprocess.Process]], figures: Figures) -> None:
    env, log, procs = up
    state = Path(env["HOTLINE_STATE_DIR"])
    await _refused_start(env, log, procs)
    text = log.read_text()
    assert f"hotline: [Errno 98] error while attempting to bind on address ('127.0.0.1', {env['HOTLINE_HTTP_PORT']})" \
        in text, text[-2000:]
    assert "Traceback" not in text
    assert "asterisk started" in text           # it had got that far
    assert asterisk_pids(state) == []           # and stopped it again
    with socket.socket() as sock:               # nor is the FastAGI port held
        sock.bind(("127.0.0.1", int(env["HOTLINE_AGI_PORT"])))
    figures.done(note="web port taken: exit 1 naming it; the Asterisk it started stopped")


@pytest.mark.postgres
async def test_when_the_database_cannot_be_reached_then_hotline_up_says_which_and_why_and_leaves_no_asterisk(
        up: tuple[dict[str, str], Path, list[asyncio.subprocess.Process]], figures: Figures) -> None:
    env, log, procs = up
    state = Path(env["HOTLINE_STATE_DIR"])
    missing = make_url(POSTGRES_URL).set(database="hotline_no_such_database", password="s3cret-pw")
    env = {**env, "HOTLINE_DATABASE_URL": missing.render_as_string(hide_password=False)}
    proc = await hotline(["up"], env, log)
    procs.append(proc)
    assert await wait_for(proc.wait(), 60) == 1
    text = log.read_text()
    assert "hotline: database " in text and "hotline_no_such_database" in text, text[-2000:]
    assert 'database "hotline_no_such_database" does not exist' in text, text[-2000:]
    assert "s3cret-pw" not in text                # the URL is shown without its password
    assert "Traceback" not in text
    assert asterisk_pids(state) == []
    figures.done(note="database missing: exit 1 naming it and the server's reason; no Asterisk left")


async def test_when_a_start_that_adopted_an_asterisk_fails_then_that_asterisk_and_its_call_are_left_running(
        up: tuple[dict[str, str], Path, list[asyncio.subprocess.Process]], figures: Figures) -> None:
    env, log, procs = up
    state = Path(env["HOTLINE_STATE_DIR"])
    asterisk, pbx, call = await _call_on_orphaned_asterisk(env, log, procs, "13800138002")
    try:
        await _refused_start(env, log, procs)         # the next start adopts it, then fails
        assert "adopting it" in log.read_text()
        assert asterisk_pids(state) == [asterisk]       # not stopped by the failed start
        assert await pbx.channel_by_uniqueid(call.handset_id) is not None, "the citizen was dropped"
        third = await hotline(["up"], env, log)        # the port is free again: adopted once more
        procs.append(third)
        await _healthy(env, third)
        assert asterisk_pids(state) == [asterisk]
        await pbx.hang_up(call.handset_id)
        await pbx.assert_nothing_left()
    finally:
        await pbx.ami.close()
    assert await stop_child(third) == 0
    assert asterisk_pids(state) == []
    figures.done(calls=1, dropped=0, note="a start that adopted an Asterisk fails (web port taken): "
                                          "that Asterisk and its call left running, adopted by the next")


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A Redis server of this test's own (the shared one on 6379 is never stopped)."""
    port = free_port()
    servers: list[subprocess.Popen[bytes]] = []
    try:
        yield port, servers
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(10)


def _redis(port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_when_redis_is_down_then_citizens_reach_seats_orders_are_recorded_and_health_says_redis(
        up: tuple[dict[str, str], Path, list[asyncio.subprocess.Process]],
        own_redis: tuple[int, list[subprocess.Popen[bytes]]], tmp_path: Path, figures: Figures) -> None:
    env, log, procs = up
    port, servers = own_redis
    servers.append(_redis(port, tmp_path))
    env["HOTLINE_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    proc = await hotline(["up"], env, log)
    procs.append(proc)
    await _healthy(env, proc)
    pbx: Pbx = await attach(env)
    engine = db.create_engine(Settings.from_env(env).effective_database_url)
    orders = OrderService(db.session_factory(engine))
    try:
        servers[0].terminate()
        servers[0].wait(10)
        down = time.monotonic()
        answer = await health(env)
        assert answer is not None and answer[0] == 503 and "redis" in answer[1]["down"], answer
        numbers = ["13800138011", "13800138012", "13800138013"]
        calls = [await pbx.citizen_dials("12345", n) for n in numbers]
        seats = [(await pbx.seat_answered(n, timeout=20))["Seat"] for n in numbers]
        await pbx.press_key(seats[0], "*1")
        created = await pbx.events.wait_for(lambda e: e.get("UserEvent") == "HotlineHandoffCreated", timeout=10)
        handoff = str(created["Handoff"])
        await eventually(lambda: _has_order(orders, handoff), timeout=10, what="the handoff's order recorded")
        alive = {c["Uniqueid"] for c in await pbx.channels()}
        dropped = sum(1 for c in calls if c.handset_id not in alive)
        servers.append(_redis(port, tmp_path))
        outage_s = round(time.monotonic() - down, 2)
        back = time.monotonic()
        await _healthy(env, proc, timeout=30)
        recover_s = round(time.monotonic() - back, 2)
        for call in calls:
            await pbx.hang_up(call.handset_id)
        await pbx.assert_nothing_left()
        order = await orders.get(handoff)
        await eventually(lambda: _final(orders, handoff), timeout=15, what="the handoff's order final")
    finally:
        await pbx.ami.close()
        await engine.dispose()
    assert dropped == 0
    assert await stop_child(proc) == 0
    figures.done(calls=3, handoffs=1, dropped=dropped, outage_s=outage_s, reconnect_s=recover_s,
                 note=f"own redis-server stopped; order {order.status}→final; reconnect_s: health 200 after Redis back")


async def _has_order(orders: OrderService, handoff: str) -> bool:
    from app.web.errors import NotFound
    try:
        await orders.get(handoff)
    except NotFound:
        return False
    return True


async def _final(orders: OrderService, handoff: str) -> bool:
    return (await orders.get(handoff)).status in {"accepted", "returned", "abandoned"}


async def test_when_an_old_asterisk_holds_the_run_dir_then_a_new_start_is_not_fooled_by_its_fully_booted(
        tmp_path: Path, figures: Figures) -> None:
    from app.runtime.asterisk import AsteriskProcess
    from app.runtime.render import render
    from app.runtime.secrets import load_or_create
    from tests.support.pbx import rig_settings

    settings = rig_settings(tmp_path / "state")
    render(settings, load_or_create(settings))
    old, new = AsteriskProcess(settings), AsteriskProcess(settings)
    await old.start()
    try:
        assert new.running_instance() == old.pid
        with pytest.raises(RuntimeError, match="exited"):   # "already running": it exits, and says so
            await new.start(timeout=30)
        assert old.running
    finally:
        await old.stop()
    assert new.running_instance() is None
    figures.done(note="a second Asterisk on the same run dir: start fails, the old one's boot not taken")
