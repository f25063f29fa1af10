"""Ending a worker's loop (`agi.background.end_loop`): the round under way is
let finish, so no database transaction is cut half-way; a loop that does not
stop is cancelled, even when it swallows a cancel."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from agi.background import BackgroundTasks, cancel_all, end_loop, pause, wait_for


async def test_when_a_loop_is_asked_to_stop_then_its_round_under_way_finishes_and_it_ends_uncancelled() -> None:
    stop = asyncio.Event()
    rounds: list[str] = []
    begun = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            rounds.append("begun")
            begun.set()
            await asyncio.sleep(0.05)  # a transaction under way
            rounds.append("committed")
            await pause(stop, 60)

    task = asyncio.create_task(loop())
    await begun.wait()
    await end_loop(task, stop, grace_s=5)
    assert task.done() and not task.cancelled()
    assert rounds == ["begun", "committed"]


async def test_when_a_loop_outlives_its_grace_then_it_is_cancelled_even_if_it_swallows_a_cancel() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed > 1:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await end_loop(task, asyncio.Event(), grace_s=0.05)
    assert task.cancelled()
    assert swallowed == 2


async def test_when_there_is_no_loop_then_ending_it_does_nothing() -> None:
    await end_loop(None)


def _swallows_a_cancel_then_waits_on_nothing() -> tuple[asyncio.Task[None], list[str]]:
    """A task whose first cancel is swallowed (as inside a client library) and
    that then waits on a future nothing will complete (a bench's background
    call once kept its run waiting for 15 minutes)."""
    seen: list[str] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append("swallowed")
        await asyncio.get_running_loop().create_future()

    return asyncio.create_task(stubborn()), seen


async def test_cancelling_tasks_goes_on_until_each_has_ended_even_one_that_swallowed_the_first_cancel() -> None:
    task, seen = _swallows_a_cancel_then_waits_on_nothing()
    plain = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    await wait_for(cancel_all([task, plain]), 5)
    assert task.cancelled() and plain.cancelled()
    assert seen == ["swallowed"]


async def test_a_drain_past_its_time_ends_a_task_that_swallowed_the_first_cancel() -> None:
    tasks = BackgroundTasks("test")

    async def spawned() -> None:
        inner, _ = _swallows_a_cancel_then_waits_on_nothing()
        await inner

    tasks.spawn(spawned(), "stubborn")
    await asyncio.sleep(0)
    await wait_for(tasks.drain(timeout_s=0.05), 5)
    assert not tasks


async def _cancelled_as_it_is_woken(wait: Callable[[asyncio.Event], Awaitable[object]]) -> asyncio.Task[str]:
    """A task waiting through `wait`, cancelled in the same loop turn as what it
    waits for completes: the race in which Python 3.11's `asyncio.wait_for`
    returns the result and drops the cancel (gh-86296), so a benchmark once ran
    on after SIGTERM until the test gave up on it."""
    woken = asyncio.Event()

    async def waiter() -> str:
        await wait(woken)
        return "went on"

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    woken.set()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    return task


async def test_when_a_bounded_wait_is_cancelled_as_it_completes_then_the_cancel_is_not_lost() -> None:
    task = await _cancelled_as_it_is_woken(lambda event: wait_for(event.wait(), 60))
    assert task.cancelled(), f"the cancel was swallowed: {task.result() if task.done() else 'still running'}"


async def test_when_a_pause_is_cancelled_as_it_is_cut_short_then_the_cancel_is_not_lost() -> None:
    task = await _cancelled_as_it_is_woken(lambda event: pause(event, 60))
    assert task.cancelled(), f"the cancel was swallowed: {task.result() if task.done() else 'still running'}"


async def test_when_a_bounded_wait_runs_out_then_it_raises_timeout_and_cancels_what_it_waited_for() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await wait_for(never, 0.01)
    assert never.cancelled()
    assert await wait_for(asyncio.sleep(0, "done"), 1) == "done"
