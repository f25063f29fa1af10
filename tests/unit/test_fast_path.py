"""The handoff key's fast path as rendered: one guard line per named part of
core/fast_path.py, and an outbox record Python reads back — pure, no Asterisk.

Which cases the guard lets through is table-tested in test_handoff_key_table.py
(and on the real Asterisk in tests/asterisk/test_handoff_key_table.py)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.runtime.render import render
from app.runtime.secrets import load_or_create
from core import channel_vars as cv
from core.fast_path import (
    AFTER_MOVE,
    CHECKED_FACTS,
    CHECKED_PARTS,
    GUARD,
    MOVE_TO,
    ON_ARRIVAL,
    OUTBOX_SOURCES,
    TO_ASTDB,
    answered_leg,
    checked_expression,
    checked_marker,
    encode_facts,
    facts_checked,
    filter_set,
    guard_expression,
    move_pattern,
    mset,
    only,
    outbox_record_items,
    phone_guard_expression,
)
from core.handoff import (
    ASTDB_FAMILY,
    CALL_GUARD_FAMILY,
    CHANNEL_NAME_CHARS,
    CHANNEL_NAME_PATTERN,
    ENDED_FAMILY,
    LINKEDID_CHARS,
    LINKEDID_PATTERN,
    OUTBOX_FAMILY,
    OUTBOX_FIELDS,
    OUTBOX_ID_CHARS,
    OutboxRecord,
    parse_outbox,
)
from core.safety import NUMBER_DIGITS, NUMBER_PATTERN
from core.settings import Settings
from tests.support.dialplan import rendered_dialplan


@pytest.fixture
def handoff_conf(tmp_path: Path) -> str:
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SEAT_MODE": "simulated"})
    render(s, load_or_create(s))
    return rendered_dialplan(s)["hotline-handoff.conf"]


def _line(handoff_conf: str, start: str) -> str:
    return next(line for line in handoff_conf.splitlines() if line.startswith(start))


def test_the_guard_is_its_named_parts_in_order_in_one_step(handoff_conf: str) -> None:
    # first the checked facts in place of the parts that read them (a match goes straight to the move),
    # then the whole guard
    assert _line(handoff_conf, "exten => key,1") == f"exten => key,1(checked),GotoIf($[{checked_expression()}]?fast)"
    assert _line(handoff_conf, " same => n(guard),") == f" same => n(guard),GotoIf($[{guard_expression()}]?:python)"
    assert guard_expression() == " & ".join(part.expression for part in GUARD)
    comments = handoff_conf.split("; The guard, its parts in order:\n", 1)[1].split("\n\n", 1)[0]
    named = [line.split()[1] for line in comments.splitlines()]
    assert named == [part.label for part in GUARD]  # each part named above the line, in order
    assert _line(handoff_conf, " same => n(fast),") == f" same => n(fast),BlindTransfer({MOVE_TO},hotline-handoff)"
    assert _line(handoff_conf, " same => n(after),") == f" same => n(after),MSet({mset(AFTER_MOVE)})"
    assert _line(handoff_conf, " same => n(astdb),") == f" same => n(astdb),MSet({mset(TO_ASTDB)})"
    assert _line(handoff_conf, " same => n(python),")  # where a failing part leads


def test_the_seat_channel_pattern_is_core_s_in_the_dialplan_too(handoff_conf: str) -> None:
    from core.handoff import SEAT_CHANNEL_PATTERN

    escaped = SEAT_CHANNEL_PATTERN.replace(";", "\\;")  # `;` starts a comment in a config file
    # the key: this leg is a seat's, its peer is not; the phone's own transfer,
    # once per centre number: the transferer is a seat's leg
    assert handoff_conf.count(f'REGEX("{escaped}"') == 2 + 2
    assert "hotline-seat-phones-" not in handoff_conf.replace(escaped, "")  # no hand copy of it


def test_no_pattern_the_dialplan_compiles_uses_bounded_repetition() -> None:
    """Asterisk's REGEX() compiles its pattern on every call, and glibc
    compiles `x{1,128}` ~40 times slower than `x+`: on the citizen's path."""
    assert not re.search(r"\{[0-9,]+\}", guard_expression())


@pytest.mark.parametrize(("chars", "pattern"), [
    (CHANNEL_NAME_CHARS, CHANNEL_NAME_PATTERN),
    (LINKEDID_CHARS, LINKEDID_PATTERN),
    (NUMBER_DIGITS, NUMBER_PATTERN),          # one character: a `+` alone is no number
    (OUTBOX_ID_CHARS, "^[-A-Za-z0-9_.]$"),    # every character OUTBOX_ID_PATTERN holds
])
def test_each_filter_set_keeps_the_characters_of_its_patterns_class(chars: str, pattern: str) -> None:
    """A FILTER() set and the pattern it stands for in the dialplan accept the
    same single characters, of all 255 a channel variable can hold."""
    assert filter_set(chars) == {chr(c) for c in range(1, 256) if re.fullmatch(pattern, chr(c))}


@pytest.mark.parametrize(("allowed", "kept"), [
    ("0-9", set("0123456789")),
    ("-.", {"-", "."}),                 # `-` first: itself
    ("--.", {"-", "."}),                # `-` to `.`: a range
    ("a-c+", {"a", "b", "c", "+"}),
    ("*#", {"*", "#"}),
])
def test_filter_set_reads_ranges_as_asterisk_does(allowed: str, kept: set[str]) -> None:
    assert filter_set(allowed) == kept


@pytest.mark.parametrize("allowed", ["", "a,b", "a)", "${X}", "a b", 'a"', "a-", "z-a", "[a]"])
def test_a_filter_set_that_would_split_expand_or_wrap_is_refused(allowed: str) -> None:
    with pytest.raises(ValueError):
        filter_set(allowed)


def test_the_guard_compiles_a_regular_expression_only_for_the_seat_pattern() -> None:
    """REGEX() compiles its pattern on every call: a character class is a
    FILTER() and LEN() test, and `;` in a set is escaped for the config file."""
    assert guard_expression().count("REGEX(") == 2  # this leg is a seat's; its peer is not
    assert phone_guard_expression().count("REGEX(") == 1
    assert only(CHANNEL_NAME_CHARS, "V") == ("${FIELDQTY(V,\\x29)} = 1 & "
                                            "${LEN(${FILTER(-./0-9:\\;@A-Z_a-z+,${V})})} = ${LEN(${V})}")


def test_when_dialplan_writes_the_outbox_record_then_python_reads_the_same_handoff() -> None:
    """The record's items are rendered from the field list `parse_outbox`
    reads: put each field's value where the dialplan reads its source."""
    record = OutboxRecord(handoff_id="1764077500.123", pressed_at=1764077501.123456,
                          seat_channel="Local/1001@hotline-seat-phones-0000002a;1",
                          citizen_channel="Local/12345@hotline-inbound-00000029;2", citizen_number="13800138000",
                          source_centre="12345", source_seat="1001", target_centre="110",
                          linkedid="1764077500.40", release_mode="immediate")
    values = {OUTBOX_SOURCES[name]: str(getattr(record, name)) for name in OUTBOX_FIELDS}
    value = "|".join(values.get(item, item) for item in outbox_record_items())
    assert parse_outbox(record.handoff_id, value) == record
    assert set(OUTBOX_SOURCES) == set(OUTBOX_FIELDS) and "handoff_id" not in OUTBOX_FIELDS


def test_the_rendered_record_is_the_field_list_in_order(handoff_conf: str) -> None:
    after = _line(handoff_conf, " same => n(after),")
    assert f",{cv.HANDOFF_RECORD}=" + "|".join(outbox_record_items()) + "," in after


def test_the_key_sets_nothing_before_the_move_and_its_destination_carries_what_the_citizen_needs(
        handoff_conf: str) -> None:
    """Each variable set is a message Asterisk publishes on the citizen's way:
    the guard's next step is the move, to-<partner>*<seat>*<handoff id>; the
    citizen's first step there sets the id (inherited by the legs it rings)
    and the seat to come back to from it; the seat leg's record names the
    peer Asterisk's transfer gave it (BLINDTRANSFER)."""
    steps = _steps(handoff_conf, "exten => key,1(checked),", " same => n(fast),")
    assert [step.split(",", 1)[0] for step in steps] == [
        "exten => key", " same => n(guard)", " same => n(fast)"]
    assert MOVE_TO == "to-${HOTLINE_HANDOFF_PARTNER_${HOTLINE_CENTRE}}*${HOTLINE_SEAT}*${CHANNEL(uniqueid)}"
    assert [(w.target, w.value) for w in ON_ARRIVAL] == [
        (f"__{cv.HANDOFF_ID}", "${CUT(EXTEN,*,3)}"), (cv.RETURN_SEAT, "${CUT(EXTEN,*,2)}")]
    for centre in ("12345", "110"):
        assert f"exten => {move_pattern(centre)},1,MSet({mset(ON_ARRIVAL)},HOTLINE_RETURN_CENTRE=" in handoff_conf
    assert OUTBOX_SOURCES["citizen_channel"] == "${BLINDTRANSFER}"
    assert AFTER_MOVE[0].target == cv.HANDOFF_PEER and AFTER_MOVE[0].value == "${BLINDTRANSFER}"
    # the record reads the peer from Asterisk's variable, never one its own step sets
    assert all(f"${{{w.target}}}" not in mset(AFTER_MOVE) for w in AFTER_MOVE)
    assert all(f"${{{w.target}}}" not in mset(TO_ASTDB) for w in TO_ASTDB)


def _asterisk_matches(pattern: str, exten: str) -> bool:
    """Asterisk's extension match for what these patterns use (main/pbx.c
    ext_cmp): `-` ignored on both sides, `X` a digit, `.` one or more of
    anything, every other character itself."""
    assert pattern.startswith("_")
    regex = "".join({"X": "[0-9]", ".": ".+"}.get(c, re.escape(c)) for c in pattern[1:].replace("-", ""))
    return re.fullmatch(regex, exten.replace("-", "")) is not None


@pytest.mark.parametrize("uniqueid", ["1764077500.12", "pbx_a1-1764077500.123456", "9" * 20 + "." + "9" * 15,
                                      "p45-1764077501.123456"])
@pytest.mark.parametrize("seat", ["1", "1001", "99999999"])
def test_the_move_s_destination_reaches_its_centre_only_and_gives_back_the_seat_and_the_id(
        seat: str, uniqueid: str) -> None:
    from core.handoff import is_outbox_id

    assert is_outbox_id(uniqueid)
    centres = ("110", "1101", "11", "12345", "1234", "12315")
    for centre in centres:
        exten = MOVE_TO.replace("${HOTLINE_HANDOFF_PARTNER_${HOTLINE_CENTRE}}", centre) \
            .replace("${HOTLINE_SEAT}", seat).replace("${CHANNEL(uniqueid)}", uniqueid)
        assert [c for c in centres if _asterisk_matches(move_pattern(c), exten)] == [centre]
        fields = exten.split("*")  # CUT(EXTEN,*,n)
        assert (fields[1], fields[2]) == (seat, uniqueid)
        assert not _asterisk_matches(move_pattern(centre), f"to-{centre}")  # the plain name is no handoff


def test_a_centre_s_move_pattern_is_for_digits_only() -> None:
    with pytest.raises(ValueError, match="digits only"):
        move_pattern("11*0")


def test_when_the_key_moves_the_citizen_then_no_astdb_write_is_before_it(handoff_conf: str) -> None:
    """Every AstDB write may wait for Asterisk's commit (an fsync): none on the
    citizen's way.  The record goes first after the move, then the state."""
    assert "DB(" not in _line(handoff_conf, " same => n(fast),")
    assert "DB(" not in _line(handoff_conf, " same => n(after),")
    after = _line(handoff_conf, " same => n(astdb),")
    record = after.index(f"DB({OUTBOX_FAMILY}/${{CHANNEL(uniqueid)}})=${{{cv.HANDOFF_RECORD}}}")
    assert record < after.index(f"DB({ASTDB_FAMILY}/${{CHANNEL(uniqueid)}})=pending")
    # the event carries the record the key built, not a read back of AstDB
    assert f"Record: ${{{cv.HANDOFF_RECORD}}})" in handoff_conf


def _steps(handoff_conf: str, first: str, last: str) -> list[str]:
    lines = handoff_conf.splitlines()
    start = lines.index(next(line for line in lines if line.startswith(first)))
    end = lines.index(next(line for line in lines[start:] if line.startswith(last)))
    return [line for line in lines[start:end + 1] if line.strip() and not line.lstrip().startswith(";")]


def test_after_the_move_the_key_s_leg_gives_way_to_the_citizen_with_its_hangup_handler_pushed_first(
        handoff_conf: str) -> None:
    """The writes wait HOTLINE_HANDOFF_YIELD after a move that succeeded (none after one that failed);
    the hangup handler that does them if the leg hangs up first is pushed before that pause."""
    assert _steps(handoff_conf, " same => n(fast),", " same => n(after),")[1:] == [
        " same => n(handed),Set(CHANNEL(hangup_handler_push)=hotline-handoff-key,unwritten,1)",
        ' same => n(yield),Wait(${IF($["${BLINDTRANSFERSTATUS}" = "SUCCESS"]?${HOTLINE_HANDOFF_YIELD}:0)})',
        # a move that failed: the record names the peer the leg still has
        ' same => n,ExecIf($["${BLINDTRANSFERSTATUS}" != "SUCCESS"]?Set(BLINDTRANSFER=${BRIDGEPEER}))',
        f" same => n(after),MSet({mset(AFTER_MOVE)})"]
    # what it has written, it says on the leg: last, once AstDB has the record, the state and the call guard
    assert TO_ASTDB[-1].target == cv.HANDOFF_WRITTEN and all(w.target.startswith("DB(") for w in TO_ASTDB[:-1])


def test_the_key_s_hangup_handler_writes_what_the_key_would_have_unless_it_has_or_the_move_failed(
        handoff_conf: str) -> None:
    assert _steps(handoff_conf, "exten => unwritten,1,", " same => n(done),Return()") == [
        'exten => unwritten,1,GotoIf($["${HOTLINE_HANDOFF_WRITTEN}" != "" | "${BLINDTRANSFERSTATUS}" != "SUCCESS"]'
        '?done)',
        f" same => n(late_after),MSet({mset(AFTER_MOVE)})",
        f" same => n(late_astdb),MSet({mset(TO_ASTDB)})",
        " same => n,UserEvent(HotlineHandoffCreated,Handoff: ${HOTLINE_HANDOFF_ID},Channel: ${HOTLINE_HANDOFF_PEER},"
        "Record: ${HOTLINE_HANDOFF_RECORD})",
        " same => n(done),Return()"]


def test_the_pause_is_rendered_in_seconds_from_the_setting(tmp_path: Path) -> None:
    for ms, rendered in (("4", "0.004"), ("0", "0"), ("50", "0.05")):
        s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path / ms), "HOTLINE_SEAT_MODE": "simulated",
                               "HOTLINE_HANDOFF_YIELD_MS": ms})
        render(s, load_or_create(s))
        assert f"\nHOTLINE_HANDOFF_YIELD = {rendered}\n" in rendered_dialplan(s)["extensions.conf"]


def test_every_astdb_family_the_dialplan_uses_is_one_of_core_s(handoff_conf: str) -> None:
    used = set(re.findall(r"\bDB(?:_EXISTS|_DELETE)?\(([a-z-]+)/", handoff_conf))
    assert used == {ASTDB_FAMILY, OUTBOX_FAMILY, CALL_GUARD_FAMILY, ENDED_FAMILY}


def _two_platform_dialplan(tmp_path: Path) -> dict[str, str]:
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SEAT_MODE": "simulated",
                           "HOTLINE_CENTRES": "12345:1001-1002",
                           "HOTLINE_TRUNKS": "peer-110=sip:127.0.0.1:5070;match=127.0.0.1:5070",
                           "HOTLINE_REMOTE_CENTRES": "110=peer-110"})
    render(s, load_or_create(s))
    return rendered_dialplan(s)


def test_when_the_partner_is_remote_then_the_guard_reads_no_queue_of_it_and_the_key_dials_its_trunk(
        tmp_path: Path) -> None:
    conf = _two_platform_dialplan(tmp_path)
    globals_ = conf["extensions.conf"]
    assert "HOTLINE_HANDOFF_PARTNER_12345 = 110\n" in globals_
    assert "HOTLINE_HANDOFF_PARTNER_READY_12345 = HOTLINE_HANDOFF_REMOTE_READY\n" in globals_
    assert "HOTLINE_HANDOFF_REMOTE_READY = 1\n" in globals_
    assert "QUEUE_MEMBER(hotline-110-linkage" not in globals_ + conf["hotline-handoff.conf"]
    handoff = conf["hotline-handoff.conf"]
    assert (f"exten => _to-110*X.,1,MSet({mset(ON_ARRIVAL)},HOTLINE_RETURN_CENTRE=${{HOTLINE_CENTRE}},"
            "HOTLINE_HANDOFF_DIAL=PJSIP/110@peer-110,") in handoff
    assert "HOTLINE_HANDOFF_HEADER=${HOTLINE_HANDOFF_ID}\\;src=${HOTLINE_CENTRE}\\;seat=${HOTLINE_RETURN_SEAT}," \
        in handoff
    assert handoff.count("exten => _to-110*X.,") == 1


def test_a_local_partner_s_readiness_is_its_linkage_queue_s_logged_in_seats(handoff_conf: str, tmp_path: Path) -> None:
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path / "x"), "HOTLINE_SEAT_MODE": "simulated"})
    render(s, load_or_create(s))
    globals_ = rendered_dialplan(s)["extensions.conf"]
    assert "HOTLINE_HANDOFF_PARTNER_READY_12345 = QUEUE_MEMBER(hotline-110-linkage,logged)\n" in globals_
    assert "0${${HOTLINE_HANDOFF_PARTNER_READY_${HOTLINE_CENTRE}}} > 0" in guard_expression()


def test_every_press_the_guard_lets_through_to_a_remote_partner_sends_a_header_the_far_side_believes() -> None:
    from core.centres import parse_centres
    from core.fast_path import REMOTE_HEADER, KeyPress, takes_fast_path
    from core.trunks import is_handoff_header

    centres, remote = parse_centres("12345:1001-1002;12315:99999999"), {"110": "peer-110"}
    for uniqueid in ("1764077500.12", "pbx-a_1-1764077500.123456", "9" * 20 + "." + "9" * 15):
        for seat in ("1001", "99999999"):
            centre = "12345" if seat == "1001" else "12315"
            press = KeyPress(seat_channel=f"Local/{seat}@hotline-seat-phones-0000000a;1", seat=seat,
                             peer="PJSIP/carrier-0000000b", citizen_number="13800138000", centre=centre,
                             linkedid="1764077500.10", uniqueid=uniqueid, partner_logged_in=0)
            if not takes_fast_path(press, centres, remote):
                continue
            value = (REMOTE_HEADER.replace("${HOTLINE_HANDOFF_ID}", uniqueid)
                     .replace("${HOTLINE_CENTRE}", centre).replace("${HOTLINE_RETURN_SEAT}", seat))
            assert is_handoff_header(value), value


# ------------------------------------------------------------------ the phone's own transfer

def test_the_phone_s_transfer_renders_its_guard_and_writes_once_per_centre_number(handoff_conf: str) -> None:
    from core.fast_path import PHONE_SEAT_STEPS, PHONE_WRITES, phone_guard_expression

    context = handoff_conf.split("[hotline-phone-transfer]\n", 1)[1].split("\n[", 1)[0]
    for centre in ("12345", "110"):
        assert f"exten => {centre},1,MSet({PHONE_SEAT_STEPS[0]})" in context
        # on to the key's own destination, the seat and the id in it
        assert f" same => n,Goto(hotline-handoff,to-{centre}*${{xfer_seat}}*${{xfer_id}},1)" in context
    lines = context.splitlines()
    assert lines.count(f" same => n(guard),GotoIf($[{phone_guard_expression()}]?:plain)") == 2
    assert lines.count(f" same => n(fast),MSet({mset(PHONE_WRITES)})") == 2


def test_when_the_phone_s_transfer_writes_the_outbox_record_then_python_reads_the_handoff() -> None:
    """The same record as the key's, its values taken from the citizen's
    channel: the seat leg is only a name (BLINDTRANSFER), the seat comes from it."""
    from core.fast_path import PHONE_OUTBOX_SOURCES, PHONE_WRITES

    record = OutboxRecord(handoff_id="p45-1764077501.123456", pressed_at=1764077501.123456,
                          seat_channel="PJSIP/1001-0000000a", citizen_channel="PJSIP/carrier-00000009",
                          citizen_number="13800138000", source_centre="12345", source_seat="1001",
                          target_centre="110", linkedid="1764077500.40", release_mode="immediate")
    outbox = next(w for w in PHONE_WRITES if w.target.startswith(f"DB({OUTBOX_FAMILY}/"))
    values = {PHONE_OUTBOX_SOURCES[name]: str(getattr(record, name)) for name in OUTBOX_FIELDS}
    value = "|".join(values.get(item, item) for item in outbox.value.split("|"))
    assert parse_outbox(record.handoff_id, value) == record


# ------------------------------------------------------------------ the leg's checked facts

def test_checked_parts_read_only_the_checked_facts() -> None:
    from dataclasses import fields, replace

    from core.fast_path import KeyPress
    from tests.support.handoff_cases import CASES, key_press, rig_centres, rig_remote

    facts = {field for _, field in CHECKED_FACTS}
    others = {f.name for f in fields(KeyPress)} - facts
    changed: dict[str, Any] = {"seat": "0", "centre": "nowhere", "partner_logged_in": 0, "call_guard": "x",
                               "fast": False}
    assert set(changed) == others  # every field outside the facts is changed below
    for case in CASES:
        centres, remote = rig_centres(case), rig_remote(case)
        press = key_press(case, centres)
        for part in GUARD:
            if part.label in CHECKED_PARTS:  # its answer is the facts' alone
                assert part.holds(press, centres, remote) == part.holds(replace(press, **changed), centres, remote)


def test_checked_parts_read_in_the_dialplan_only_what_the_facts_name() -> None:
    names = {name for name, _ in CHECKED_FACTS}
    for part in GUARD:
        if part.label in CHECKED_PARTS:
            read = set(re.findall(r"\$\{([A-Z_]+(?:\([a-z]+\))?)[}:]", part.expression)) \
                | set(re.findall(r"(?:FIELDQTY|CUT)\(([A-Z_]+(?:\([a-z]+\))?),", part.expression))
            assert read and read <= names, (part.label, read - names)


def test_when_every_checked_part_holds_then_the_marker_is_the_facts_uri_encoded() -> None:
    press = answered_leg("Local/1001@hotline-seat-phones-0000000a;1", "PJSIP/citizen-00000001",
                         "+8613800138000", "1764077500.12", "1764077500.13")
    assert checked_marker(press, ()) == (
        "Local%2F1001%40hotline-seat-phones-0000000a%3B1%7CPJSIP%2Fcitizen-00000001%7C%2B8613800138000"
        "%7C1764077500.12%7C1764077500.13")


@pytest.mark.parametrize("fact, value", [
    ("seat_channel", "PJSIP/citizen-00000001"),       # not a seat's leg
    ("peer", "PJSIP/1002-0000000b"),                  # a seat, not a citizen
    ("peer", "PJSIP/a-1,PJSIP/b-2"),                  # a bigger bridge
    ("citizen_number", ""),                           # withheld
    ("linkedid", "a b"),
    ("uniqueid", "1764077500"),
])
def test_when_a_checked_part_fails_then_there_is_no_marker(fact: str, value: str) -> None:
    from dataclasses import replace

    press = answered_leg("PJSIP/1001-0000000a", "PJSIP/citizen-00000001", "13800138000",
                         "1764077500.12", "1764077500.13")
    assert checked_marker(press, ()) is not None
    changed: dict[str, Any] = {fact: value}
    assert checked_marker(replace(press, **changed), ()) is None


def test_encoded_facts_hold_nothing_an_asterisk_expression_would_read() -> None:
    every_byte = "".join(chr(c) for c in range(1, 128))
    encoded = encode_facts(every_byte)
    assert not set(encoded) & set('" $[]{},\\;|:&=<>')
    assert set(encoded) <= set("%0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.!~*'()")


def test_the_key_s_first_step_is_the_guard_with_the_checked_facts_in_place_of_their_parts() -> None:
    live = [part.expression for part in GUARD if part.label not in CHECKED_PARTS]
    assert checked_expression() == " & ".join([*live, facts_checked()])
    for part in GUARD:
        if part.label in CHECKED_PARTS:
            assert part.expression not in checked_expression()
    assert f"${{FIELDQTY({cv.KEY_CHECKED},\\x22)}} = 1" in facts_checked()  # the marker holds no quote
    for name, _ in CHECKED_FACTS:  # each fact one piece: URIENCODE() reads the whole join
        assert f"${{FIELDQTY({name},\\x29)}} = 1" in facts_checked()
