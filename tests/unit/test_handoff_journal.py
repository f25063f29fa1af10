"""HandoffJournal's event handling, with stand-ins for AMI, AstDB and the service.

The journal on the real Asterisk is covered by tests/asterisk/test_handoff.py
and test_handoff_paths.py; here: which events it acts on, and that nothing
it reads from an event reaches AstDB unchecked."""
from __future__ import annotations

import asyncio
from typing import Any

from app.handoff.journal import HandoffJournal
from core.handoff import ASTDB_FAMILY, OUTBOX_FAMILY, OutboxRecord

ID = "1764077500.123"
RECORD = ("v1|1764077501.123456|Local/1001@hotline-seat-phones-0000002a;1|"
          "Local/12345@hotline-inbound-00000029;2|13800138000|12345||110|1764077500.40|on_answer")


class Ami:
    def __init__(self) -> None:
        self.handlers: dict[str, list[Any]] = {}
        self.sent: list[dict[str, str]] = []

    def on_event(self, name: str, handler: Any) -> None:
        self.handlers.setdefault(name, []).append(handler)

    def off_event(self, name: str, handler: Any) -> None:
        self.handlers[name].remove(handler)

    def on_connect(self, _cb: Any) -> None: ...

    def off_connect(self, _cb: Any) -> None: ...

    def fire(self, event: dict[str, Any]) -> None:
        for handler in self.handlers.get(event["Event"], []):
            handler(event)

    async def send(self, action: dict[str, str]) -> dict[str, str]:
        self.sent.append(action)
        return {"Response": "Success"}


class AstDb:
    def __init__(self) -> None:
        self.data = {(OUTBOX_FAMILY, ID): RECORD}
        self.asked: list[tuple[str, str]] = []

    async def keys(self, family: str) -> list[str]:
        return [k for f, k in self.data if f == family]

    async def get(self, family: str, key: str) -> str | None:
        self.asked.append((family, key))
        return self.data.get((family, key))

    async def delete(self, family: str, key: str) -> None:
        self.data.pop((family, key), None)


class Service:
    def __init__(self) -> None:
        self.recorded: list[str] = []
        self.answered_by: list[tuple[str, str | None, bool]] = []

    async def record(self, outbox: OutboxRecord) -> None:
        self.recorded.append(outbox.handoff_id)

    async def answered(self, handoff_id: str, channel: str | None, outbox: OutboxRecord | None = None) -> None:
        self.answered_by.append((handoff_id, channel, outbox is not None))

    async def ended_while_away(self, handoff_id: str, state: str) -> None: ...


def _agent_connect(queue: str, handoff_id: str) -> dict[str, Any]:
    return {"Event": "AgentConnect", "Queue": queue, "DestChannel": "Local/2001@hotline-seat-phones-0000002c;1",
            "DestChanVariable": ["HOTLINE_CENTRE=110", f"HOTLINE_HANDOFF_ID={handoff_id}"]}


async def test_when_a_linkage_seat_answers_then_the_order_is_recorded_and_accepted_once() -> None:
    ami, astdb, service = Ami(), AstDb(), Service()
    journal = HandoffJournal(ami, service, astdb=astdb)  # type: ignore[arg-type]
    ami.fire(_agent_connect("hotline-12345", ID))          # the first queue: not a handoff
    ami.fire(_agent_connect("hotline-110-linkage", ID))
    await journal.drain()
    assert service.answered_by == [(ID, "Local/2001@hotline-seat-phones-0000002c;1", True)]
    assert (OUTBOX_FAMILY, ID) not in astdb.data           # its record is done with


async def test_when_an_event_carries_a_bad_handoff_id_then_nothing_is_asked_of_astdb() -> None:
    ami, astdb, service = Ami(), AstDb(), Service()
    journal = HandoffJournal(ami, service, astdb=astdb)  # type: ignore[arg-type]
    ami.fire(_agent_connect("hotline-110-linkage", "x\r\nAction: Hangup"))
    ami.fire({"Event": "UserEvent", "UserEvent": "HotlineHandoffCreated", "Handoff": "../../etc"})
    await journal.drain()
    assert astdb.asked == [] and service.answered_by == [] and service.recorded == []


async def test_when_the_key_moved_a_citizen_then_its_order_is_recorded_at_once_from_the_event() -> None:
    ami, astdb, service = Ami(), AstDb(), Service()
    astdb.data.clear()                 # Asterisk died before AstDB reached the disk
    journal = HandoffJournal(ami, service, astdb=astdb)  # type: ignore[arg-type]
    ami.fire({"Event": "UserEvent", "UserEvent": "HotlineHandoffCreated", "Handoff": ID, "Record": RECORD})
    await journal.drain()
    assert service.recorded == [ID]
    assert (OUTBOX_FAMILY, ID) not in astdb.asked          # the event's record was enough
    await journal.stop()
    assert ami.handlers == {"UserEvent": [], "AgentConnect": [], "AttendedTransfer": []}


async def test_when_the_event_carries_no_record_then_the_outbox_record_is_read() -> None:
    ami, astdb, service = Ami(), AstDb(), Service()
    journal = HandoffJournal(ami, service, astdb=astdb)  # type: ignore[arg-type]
    ami.fire({"Event": "UserEvent", "UserEvent": "HotlineHandoffCreated", "Handoff": ID, "Record": "v1|junk"})
    await journal.drain()
    assert service.recorded == [ID] and (OUTBOX_FAMILY, ID) not in astdb.data
    await journal.stop()
    assert ami.handlers == {"UserEvent": [], "AgentConnect": [], "AttendedTransfer": []}


async def test_when_the_target_answers_before_the_key_wrote_the_state_then_the_seat_on_hold_is_woken_after_it() -> None:
    """The key's seat leg writes the record and the state right after the
    move; woken before, its writes would be cut short (no order)."""
    ami, astdb, service = Ami(), AstDb(), Service()
    journal = HandoffJournal(ami, service, astdb=astdb)  # type: ignore[arg-type]
    held = "Local/1001@hotline-seat-phones-0000002a;1"
    ami.fire(_agent_connect("hotline-110-linkage", ID)
             | {"ChanVariable": [f"HOTLINE_HOLD_CHANNEL={held}", f"HOTLINE_HANDOFF_ID={ID}"]})
    await asyncio.sleep(0.05)
    assert ami.sent == []                                   # no state yet: not woken
    astdb.data[(ASTDB_FAMILY, ID)] = "pending"              # the seat leg's write
    await journal.drain()
    assert ami.sent == [{"Action": "Redirect", "Channel": held, "Context": "hotline-handoff-hold",
                         "Exten": "released", "Priority": "1"}]


def _answered(**fields: Any) -> dict[str, Any]:
    """A seat of the 12345 queue answered a citizen (what the key's guard reads of them)."""
    return {"Event": "AgentConnect", "Queue": "hotline-12345", "Channel": "Local/12345@hotline-inbound-00000029;2",
            "DestChannel": "Local/1001@hotline-seat-phones-0000002a;1", "DestLinkedid": "1764077500.40",
            "DestUniqueid": "1764077500.41",
            "DestChanVariable": ["HOTLINE_CENTRE=12345", "HOTLINE_CITIZEN=13800138000"]} | fields


async def test_when_a_seat_answers_then_the_facts_its_key_reads_are_checked_and_set_on_its_leg() -> None:
    from core.fast_path import answered_leg, checked_marker

    ami, astdb, service = Ami(), AstDb(), Service()
    journal = HandoffJournal(ami, service, astdb=astdb)  # type: ignore[arg-type]
    ami.fire(_answered())
    await journal.drain()
    leg = "Local/1001@hotline-seat-phones-0000002a;1"
    marker = checked_marker(answered_leg(leg, "Local/12345@hotline-inbound-00000029;2", "13800138000",
                                         "1764077500.40", "1764077500.41"), ())
    assert marker == ("Local%2F1001%40hotline-seat-phones-0000002a%3B1%7CLocal%2F12345%40hotline-inbound-00000029"
                      "%3B2%7C13800138000%7C1764077500.40%7C1764077500.41")
    assert ami.sent == [{"Action": "Setvar", "Channel": leg, "Variable": "HOTLINE_KEY_CHECKED", "Value": marker}]
    assert service.answered_by == []                        # not a linkage queue: no handoff to accept


async def test_when_a_fact_of_the_answer_fails_the_key_s_guard_then_nothing_is_set() -> None:
    ami, astdb, service = Ami(), AstDb(), Service()
    journal = HandoffJournal(ami, service, astdb=astdb)  # type: ignore[arg-type]
    for bad in ({"DestChannel": "Local/1001@hotline-seat-phones-0000002a;1\r\nAction: Hangup"},
                {"Channel": "PJSIP/1002-0000000b"},           # a seat answered a seat
                {"DestChanVariable": ["HOTLINE_CITIZEN="]},   # withheld: Python decides
                {"DestUniqueid": ""}, {"DestLinkedid": "a b"}):
        ami.fire(_answered(**bad))
    await journal.drain()
    assert ami.sent == []
