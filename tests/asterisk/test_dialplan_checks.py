"""The dialplan's checks of a value (core/fast_path.py CHECKS: FILTER() and
LEN() tests that stand for core's patterns, without REGEX()) on the real
Asterisk: for every value made to trip them — the characters of another
class, quotes, commas, `${...}`, a `)` before a `:` (which Asterisk reads as
the start of a substring when the value stands inside a function call), the
lengths at the limits — each check answers what Python's pattern answers."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from app.runtime.render import RIG_CHECK_VALUE
from core.fast_path import CHECKS, encode_facts
from core.handoff import CHANNEL_NAME_PATTERN, LINKEDID_MAX, OUTBOX_ID_MAX, is_linkedid, is_outbox_id
from core.safety import NUMBER_PATTERN
from tests.support.pbx import Pbx

PATTERNS: dict[str, Callable[[str], bool]] = {
    "channel_name": lambda value: re.fullmatch(CHANNEL_NAME_PATTERN, value) is not None,
    "linkedid": is_linkedid,
    "number": lambda value: re.fullmatch(NUMBER_PATTERN, value) is not None,
    "outbox_id": is_outbox_id,
}

VALUES = (
    # channel names
    "PJSIP/1001-0000000a", "Local/1001@hotline-seat-phones-0000002a;1", "IAX2/host:4569-7",
    "PJSIP/a b-1", 'PJSIP/"x"-1', "PJSIP/x,y-1", "PJSIP/x|y-1", "PJSIP/x$y-1", "PJSIP/1001-0a,PJSIP/1002-0b",
    "${EXTEN}", "$[1+1]", "PJSIP/1):0", "x)", "(1)", "a\\b", "PJSIP/é-1", "[a]", "a{b}",
    # numbers
    "13800138000", "+8613800138000", "+", "++1", "1+", "+1+", "1*2#", "#", "*", "１２３", "1 2", "1-2",
    "1):0", "+1):0", "12):3:4", "1):-1", "(1):0",
    # call and handoff ids
    "1764077500.12", "sys-1764077500.12", "sys_1-1.2", "a.b-1.2", "-1.2", "1.2-3", "a-b-1.2", "1..2",
    ".12", "12.", "a-.1", "a-1.", "1.2.3", "A-1.2a", "x-12.34", "1-2.3", "a-1):0.2", "1.2):0",
    "a" * (OUTBOX_ID_MAX - 4) + "-1.2", "a" * (OUTBOX_ID_MAX - 3) + "-1.2",
    "x" * LINKEDID_MAX, "x" * (LINKEDID_MAX + 1), "citizen-0123456789ab",
    "",
)


def _answer_of(case: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("UserEvent") == "HotlineRigChecks" and e.get("Case") == str(case)


async def test_each_dialplan_check_holds_for_what_its_pattern_matches(pbx: Pbx) -> None:
    assert set(PATTERNS) == set(CHECKS)
    answers: dict[str, dict[str, bool]] = {}
    try:
        for case, value in enumerate(VALUES, start=1):
            await pbx.ami.send({"Action": "Setvar", "Variable": RIG_CHECK_VALUE, "Value": value})
            await pbx.ami.send({"Action": "Originate", "Channel": f"Local/{case}@hotline-rig-checks",
                                "Application": "Wait", "Data": "1", "Async": "true"})
            event = await pbx.events.wait_for(_answer_of(case))
            answers[value] = {name: event.get(name) == "1" for name in CHECKS}
            assert {event.get(name) for name in CHECKS} <= {"0", "1"}, event  # each an answer, no error
    finally:
        await pbx.ami.send({"Action": "Setvar", "Variable": RIG_CHECK_VALUE, "Value": ""})
    wrong = {(name, value): holds[name] for value, holds in answers.items() for name in CHECKS
             if holds[name] != PATTERNS[name](value)}
    assert not wrong, wrong  # (check, value): what the dialplan said
    for name in CHECKS:  # every check said yes and no
        assert {holds[name] for holds in answers.values()} == {True, False}, name


async def test_asterisk_uri_encodes_the_key_s_facts_as_python_does(pbx: Pbx) -> None:
    """The key's first step compares the facts the journal checked, encoded by
    Python (core/fast_path.py encode_facts), with Asterisk's URIENCODE() of
    the facts as they are: the two encodings agree on every value (a value
    with `)` never reaches URIENCODE() there: the step's one-piece tests)."""
    values = [value for value in VALUES if ")" not in value and value.strip() == value and value]
    values += ["PJSIP/1001-0000000a|Local/12345@hotline-inbound-00000029;2|13800138000|1.2|1.3",
               "".join(chr(c) for c in range(33, 127) if chr(c) not in "()")]
    for value in values:
        reply = await pbx.ami.send({"Action": "Getvar", "Variable": f"URIENCODE({value})"})
        assert isinstance(reply, dict) and reply.get("Value") == encode_facts(value), value


async def test_the_key_s_move_reaches_its_own_centre_s_destination_and_no_other(pbx: Pbx) -> None:
    """BlindTransfer sends the citizen to to-<centre>*<seat>*<handoff id>
    (core/fast_path.py MOVE_TO): Asterisk ignores `-` when it matches an
    extension, so the pattern must not let one centre's destination match
    another's (the rig has 12345 and 110, not 1101 or 11), and the plain
    name is no handoff."""
    answers = {}
    for exten in ("to-110*2001*1764077500.12", "to-12345*1001*pbx_a1-1764077500.123456",
                  "to-110*1*p45-1764077501.123456",
                  "to-1101*2001*1764077500.12", "to-11*02001*1764077500.12", "to-1234*51001*1.2",
                  "to-110", "to-110*", "to-110*x*1.2", "to-110*2001"):
        reply = await pbx.ami.send({"Action": "Getvar", "Variable": f"DIALPLAN_EXISTS(hotline-handoff,{exten},1)"})
        assert isinstance(reply, dict) and reply.get("Value") in ("0", "1"), (exten, reply)
        answers[exten] = reply.get("Value") == "1"
    # (the last one matches too: the guard never moves a citizen without the id — seat_known, leg_id)
    assert answers == {"to-110*2001*1764077500.12": True, "to-12345*1001*pbx_a1-1764077500.123456": True,
                       "to-110*1*p45-1764077501.123456": True,
                       "to-1101*2001*1764077500.12": False, "to-11*02001*1764077500.12": False,
                       "to-1234*51001*1.2": False,
                       "to-110": False, "to-110*": False, "to-110*x*1.2": False, "to-110*2001": True}
