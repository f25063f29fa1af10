"""AmiManager over a real socket against recorded Asterisk 22 answers."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from panoramisk.actions import Action
from panoramisk.message import Message
from prometheus_client import CollectorRegistry

from agi.background import cancel_all
from ami_bridge.manager import AmiManager, AmiNotConnected, SafeAction
from app.metrics.collect import AmiCollector
from core.safety import UnsafeValue
from tests.protocol.conftest import TRANSCRIPTS, wire

FakeAmi = Any  # tests/protocol/conftest.py; fixtures, not imports


@pytest.fixture
async def manager(fake_ami: FakeAmi) -> AsyncIterator[AmiManager]:
    ami = AmiManager("127.0.0.1", fake_ami.port, fake_ami.username, fake_ami.secret,
                     backoff_initial_s=0.02, backoff_max_s=0.2, action_timeout_s=5)
    await ami.start()
    await ami.wait_connected(5)
    yield ami
    await ami.close()


async def test_panoramisk_1_4_still_raises_keyerror_on_successfully_queued() -> None:
    """The upstream bug our SafeAction works around (fails once panoramisk fixes it)."""
    action = Action({"Action": "PlayDTMF", "Channel": "Local/1001@x-1;2", "Digit": "1"})
    with pytest.raises(KeyError):
        action.add_message(Message({"Response": "Success", "Message": "DTMF successfully queued"}))
    action.future.cancel()


@pytest.mark.parametrize(("async_value", "multi"), [(None, False), ("no", False), ("false", False),
                                                    ("true", True), ("yes", True), ("1", True)])
async def test_successfully_queued_waits_for_more_only_when_async_is_true(async_value: str | None, multi: bool) -> None:
    fields = {"Action": "Originate", "Channel": "Local/12345@citizen"}
    if async_value is not None:
        fields["Async"] = async_value
    action = SafeAction(fields)
    action.as_list = None
    action.add_message(Message({"Response": "Success", "Message": "Originate successfully queued"}))
    assert action.future.done() is (not multi)
    action.future.cancel()


async def test_when_playdtmf_answers_successfully_queued_then_the_link_stays_up(
        manager: AmiManager, fake_ami: FakeAmi) -> None:
    response = await manager.send({"Action": "PlayDTMF", "Channel": "Local/1001@hotline-seat-phones-00000001;2",
                                   "Digit": "1"})

    assert isinstance(response, dict)
    assert (response["Response"], response["Message"]) == ("Success", "DTMF successfully queued")
    pong = await manager.send({"Action": "Ping"})
    assert isinstance(pong, dict) and pong["Ping"] == "Pong"
    assert manager.connected and manager.connections == 1 and fake_ami.logins == 1
    assert "Async" not in fake_ami.received[1]  # nothing added on the wire


async def test_login_sends_user_and_secret_and_asks_for_events(manager: AmiManager, fake_ami: FakeAmi) -> None:
    login = fake_ami.received[0]
    assert (login["Action"], login["Username"], login["Secret"], login["Events"]) == \
        ("Login", fake_ami.username, fake_ami.secret, "on")
    assert manager.asterisk_protocol_version == "11.0.0"


@pytest.mark.parametrize("action", [
    {"Action": "PlayDTMF", "Channel": "Local/1001@x;2\r\nAction: Hangup", "Digit": "1"},
    {"Action": "Originate", "Channel": "Local/1@x", "CallerID": "13800138000\n"},
    {"Action": "Originate", "Variable": ["HANDOFF=1", "X=\rAction: Hangup"]},
    {"Action": "Ping", "Bad: Header": "x"},
    {"Action": "Ping", "Channel": None},
    {"Channel": "PJSIP/1001"},
])
async def test_crlf_or_bad_header_is_refused_before_anything_is_sent(
        manager: AmiManager, fake_ami: FakeAmi, action: dict[str, Any]) -> None:
    before = bytes(fake_ami.raw_received)

    with pytest.raises(UnsafeValue):
        await manager.send(action)

    await manager.send({"Action": "Ping"})  # the socket carries nothing in between
    assert fake_ami.raw_received[len(before):].startswith(b"Action: Ping\r\n")
    assert fake_ami.actions() == ["Login", "Ping"]


async def test_list_response_comes_back_whole(manager: AmiManager, fake_ami: FakeAmi) -> None:
    fake_ami.responses["QueueStatus"] = "queue_status_caller_waiting.ami"

    messages = await manager.send({"Action": "QueueStatus"})

    assert isinstance(messages, list)
    assert messages[0]["Message"] == "Queue status will follow"
    assert messages[-1]["Event"] == "QueueStatusComplete"
    assert [m["Event"] for m in messages[1:-1]].count("QueueMember") == 4


async def test_utf8_caller_name_split_across_reads_is_not_lost(manager: AmiManager, fake_ami: FakeAmi) -> None:
    fake_ami.responses["QueueStatus"] = "queue_status_caller_waiting.ami"
    fake_ami.chunk_size = 1

    messages = await manager.send({"Action": "QueueStatus"})

    assert isinstance(messages, list)
    [entry] = [m for m in messages if m.get("Event") == "QueueEntry"]
    assert entry["CallerIDName"] == "张三"


async def test_events_reach_subscribers_by_pattern(manager: AmiManager, fake_ami: FakeAmi, eventually: Any) -> None:
    seen: list[str] = []
    manager.on_event("QueueCaller*", lambda event: seen.append(event["Event"]))

    await fake_ami.push("events_caller_abandons.ami")

    await eventually(lambda: seen == ["QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave"],
                     what="queue caller events")


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 500])
async def test_events_read_as_panoramisk_reads_them_whatever_the_reads(
        manager: AmiManager, fake_ami: FakeAmi, eventually: Any, chunk_size: int | None) -> None:
    streams = sorted(p.name for p in TRANSCRIPTS.glob("events_*.ami"))
    expected = []
    for name in streams:
        for block in wire(name).split("\r\n\r\n")[:-1]:
            message = Message.from_line(block.strip())
            assert message is not None
            expected.append({k: v for k, v in message.items() if k != "content"})
    seen: list[dict[str, Any]] = []
    manager.on_event("*", seen.append)
    fake_ami.chunk_size = chunk_size

    for name in streams:
        await fake_ami.push(name)

    await eventually(lambda: len(seen) >= len(expected), what="every event of the recorded streams")
    assert seen == expected
    assert manager.asterisk_protocol_version == "11.0.0"


async def test_a_repeated_header_comes_as_a_list_and_a_result_url_decoded(
        manager: AmiManager, fake_ami: FakeAmi, eventually: Any) -> None:
    seen: list[dict[str, Any]] = []
    manager.on_event("Newchannel", seen.append)
    manager.on_event("AsyncAGIExec", seen.append)
    manager.on_event("Hangup", seen.append)

    await fake_ami.push_text("Event: Newchannel\r\nChannel: Local/1001@x-0001;1\r\n"
                             "ChanVariable: HOTLINE_CENTRE=12345\r\nChanVariable: HOTLINE_CITIZEN=\r\n"
                             "ChanVariable: HOTLINE_HANDOFF_ID=h1\r\nExten: \r\nno header here\r\nContext: x\r\n\r\n"
                             "Event: AsyncAGIExec\r\nResult: 200%20result%3D1%0A\r\n\r\n"
                             "Event: Hangup\r\nChannel: Local/1001@x-0001;1\r\nCause-txt: Normal Clearing\r\n\r\n")

    await eventually(lambda: len(seen) == 3, what="the three events")
    assert seen[0] == {"Event": "Newchannel", "Channel": "Local/1001@x-0001;1", "Exten": "", "Context": "x",
                       "ChanVariable": ["HOTLINE_CENTRE=12345", "HOTLINE_CITIZEN=", "HOTLINE_HANDOFF_ID=h1"]}
    assert seen[1] == {"Event": "AsyncAGIExec", "Result": "200 result=1"}
    assert seen[2]["Cause-txt"] == "Normal Clearing"


async def test_failing_event_handler_does_not_break_the_link(manager: AmiManager, fake_ami: FakeAmi,
                                                             eventually: Any) -> None:
    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    manager.on_event("*", broken)
    await fake_ami.push("events_remote_seat.ami")
    assert await manager.send({"Action": "Ping"})
    assert manager.connections == 1


async def test_action_waiting_when_the_link_drops_fails_at_once(manager: AmiManager, fake_ami: FakeAmi,
                                                               eventually: Any) -> None:
    fake_ami.silent.add("Hangup")
    pending = asyncio.create_task(manager.send({"Action": "Hangup", "Channel": "PJSIP/1001-1"}, timeout=30))
    await eventually(lambda: "Hangup" in fake_ami.actions(), what="Hangup sent")

    await fake_ami.drop()

    with pytest.raises(AmiNotConnected):
        await pending
    await eventually(lambda: manager.connections == 2, what="reconnection")
    assert fake_ami.actions().count("Hangup") == 1  # never replayed


async def test_send_while_disconnected_raises(fake_ami: FakeAmi) -> None:
    await fake_ami.stop_listening()
    ami = AmiManager("127.0.0.1", fake_ami.port, fake_ami.username, fake_ami.secret,
                     backoff_initial_s=0.02, backoff_max_s=0.05)
    await ami.start()
    try:
        with pytest.raises(AmiNotConnected):
            await ami.send({"Action": "Ping"})
    finally:
        await ami.close()


async def test_wrong_secret_is_retried_with_backoff_and_never_connects(fake_ami: FakeAmi, eventually: Any) -> None:
    ami = AmiManager("127.0.0.1", fake_ami.port, fake_ami.username, "wrong-secret-123",
                     backoff_initial_s=0.01, backoff_max_s=0.05)
    await ami.start()
    try:
        await eventually(lambda: fake_ami.logins >= 3, what="login retries")
        assert not ami.connected and ami.connections == 0
    finally:
        await ami.close()


def test_secret_with_newline_is_refused_at_construction() -> None:
    with pytest.raises(UnsafeValue):
        AmiManager("127.0.0.1", 5038, "hotline", "secret\r\nAction: Originate")


async def test_when_link_filters_events_then_it_asks_asterisk_for_its_handlers_events_at_each_login(
        fake_ami: FakeAmi, eventually: Any) -> None:
    ami = AmiManager("127.0.0.1", fake_ami.port, fake_ami.username, fake_ami.secret,
                     backoff_initial_s=0.02, backoff_max_s=0.2, action_timeout_s=5, filter_events=True)
    ami.on_event("AgentConnect", lambda event: None)
    ami.on_event("QueueCaller*", lambda event: None)
    await ami.start()
    try:
        await ami.wait_connected(5)
        await eventually(lambda: len(fake_ami.filters()) == 3, what="three filters")
        assert fake_ami.filters() == ["name(AgentConnect)",
                                      "^Event: QueueCaller[A-Za-z0-9_]*[^A-Za-z0-9_]",
                                      "name(OriginateResponse)"]  # an async Originate's end
        # a handler added while connected: its filter follows at once
        ami.on_event("UserEvent", lambda event: None)
        await eventually(lambda: fake_ami.filters()[-1:] == ["name(UserEvent)"], what="the new filter")
        # Asterisk forgets a session's filters with the session: asked for again
        await fake_ami.drop()
        await eventually(lambda: ami.connections == 2 and len(fake_ami.filters()) == 8, what="filters again")
        assert sorted(fake_ami.filters()[4:]) == sorted(
            ["name(AgentConnect)", "^Event: QueueCaller[A-Za-z0-9_]*[^A-Za-z0-9_]",
             "name(OriginateResponse)", "name(UserEvent)"])
        with pytest.raises(ValueError):
            ami.on_event("*", lambda event: None)
    finally:
        await ami.close()


async def test_when_a_login_goes_unanswered_then_the_link_gives_up_soon_and_connects_on_the_next_try(
        fake_ami: FakeAmi, eventually: Any) -> None:
    """An Asterisk on its way out (`core restart now`) may accept the connection
    and never answer: the first Login after a drop waits 0.5 s, not the whole
    connect timeout (5 s), so the link is back within about a second."""
    fake_ami.silent.add("Login")
    ami = AmiManager("127.0.0.1", fake_ami.port, fake_ami.username, fake_ami.secret,
                     backoff_initial_s=0.2, backoff_max_s=0.2, connect_timeout_s=5.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ami.start()
    try:
        await eventually(lambda: fake_ami.actions().count("Login") >= 1, timeout=5)
        fake_ami.silent.discard("Login")  # the next Asterisk answers
        await ami.wait_connected(5)
        assert loop.time() - started < 2.5
        assert fake_ami.logins == 1  # the unanswered one was never counted as a login
    finally:
        await ami.close()


async def _keep_talking(fake_ami: FakeAmi, every_s: float) -> None:
    """An Asterisk that sends events (its session loop runs) but answers no Ping in time."""
    n = 0
    while True:
        n += 1
        await fake_ami.push_text(f"Event: QueueMemberStatus\r\nQueue: q\r\nMemberName: m{n}\r\n\r\n")
        await asyncio.sleep(every_s)


async def test_when_pings_go_unanswered_while_asterisk_keeps_sending_then_the_link_is_kept_a_while(
        fake_ami: FakeAmi, eventually: Any) -> None:
    """An overloaded Asterisk answers late but its session still runs: dropping
    the link would only add a login and a full resync to the overload.  Kept
    for `PING_MISSES` unanswered pings in a row, then dropped all the same."""
    fake_ami.silent.add("Ping")
    ami = AmiManager("127.0.0.1", fake_ami.port, fake_ami.username, fake_ami.secret,
                     backoff_initial_s=0.02, backoff_max_s=0.05, ping_interval_s=0.2)
    await ami.start()
    talker = None
    try:
        await ami.wait_connected(5)
        talker = asyncio.create_task(_keep_talking(fake_ami, 0.05))
        # a ping after an unanswered one: the first miss was tolerated
        await eventually(lambda: fake_ami.actions().count("Ping") >= AmiManager.PING_MISSES, timeout=5,
                         what="pings sent one after another")
        assert fake_ami.logins == 1 and ami.connections == 1
        registry = CollectorRegistry()
        collector = AmiCollector()
        collector.watch(ami)
        registry.register(collector)
        assert (registry.get_sample_value("hotline_ami_pings_late_total") or 0) >= 1
        await eventually(lambda: fake_ami.logins == 2, timeout=5, what="the link dropped after the misses")
        pings_before_drop = fake_ami.actions()[:fake_ami.actions().index("Login", 1)].count("Ping")
        assert pings_before_drop == AmiManager.PING_MISSES
    finally:
        if talker is not None:
            await cancel_all([talker])
        await ami.close()


async def test_when_a_ping_goes_unanswered_and_asterisk_sends_nothing_then_the_link_is_dropped(
        fake_ami: FakeAmi, eventually: Any) -> None:
    fake_ami.silent.add("Ping")
    ami = AmiManager("127.0.0.1", fake_ami.port, fake_ami.username, fake_ami.secret,
                     backoff_initial_s=0.02, backoff_max_s=0.05, ping_interval_s=0.2)
    await ami.start()
    try:
        await ami.wait_connected(5)
        await eventually(lambda: fake_ami.logins == 2, timeout=5, what="the link dropped")
        assert fake_ami.actions()[:fake_ami.actions().index("Login", 1)].count("Ping") == 1
    finally:
        await ami.close()
