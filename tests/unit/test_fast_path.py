"""The handoff key's fast path as rendered: one guard line per named part of
core/fast_path.py, and an outbox record Python reads back — pure, no Asterisk.

Which cases the guard lets through is table-tested in test_handoff_key_table.py
(and on the real Asterisk in tests/asterisk/test_handoff_key_table.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.runtime.render import render
from app.runtime.secrets import load_or_create
from core import channel_vars as cv
from core.fast_path import GUARD, OUTBOX_SOURCES, outbox_record_items
from core.handoff import (
    ASTDB_FAMILY,
    CALL_GUARD_FAMILY,
    ENDED_FAMILY,
    OUTBOX_FAMILY,
    OUTBOX_FIELDS,
    OutboxRecord,
    parse_outbox,
)
from core.settings import Settings
from tests.support.dialplan import rendered_dialplan


@pytest.fixture
def handoff_conf(tmp_path: Path) -> str:
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SEAT_MODE": "simulated"})
    render(s, load_or_create(s))
    return rendered_dialplan(s)["hotline-handoff.conf"]


def _key_lines(handoff_conf: str) -> list[str]:
    """The `key` extension's dialplan lines (no comments), from its first priority to the next extension."""
    lines = [line for line in handoff_conf.splitlines() if line.strip() and not line.lstrip().startswith(";")]
    start = next(i for i, line in enumerate(lines) if line.startswith("exten => key,1"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("exten => "))
    return lines[start:end]


def test_the_guard_is_rendered_as_one_priority_joining_every_named_part_in_order(handoff_conf: str) -> None:
    lines = _key_lines(handoff_conf)
    assert lines[0] == ("exten => key,1(guard),GotoIf($["
                        + " & ".join(f"({part.expression})" for part in GUARD) + "]?:python)")
    named = re.findall(r"^ ;   (\w+): ", handoff_conf, re.M)
    assert named == [part.label for part in GUARD]  # each part named, in order, above it
    assert lines[1].startswith(" same => n(fast),MSet(")  # every part held: carried out here
    assert lines[2].startswith(" same => n,BlindTransfer(")
    assert any(line.startswith(" same => n(python),") for line in lines)


def test_the_seat_channel_pattern_is_core_s_in_the_dialplan_too(handoff_conf: str) -> None:
    from core.handoff import SEAT_CHANNEL_PATTERN

    escaped = SEAT_CHANNEL_PATTERN.replace(";", "\\;")  # `;` starts a comment in a config file
    assert handoff_conf.count(f'REGEX("{escaped}"') == 2  # this leg is a seat's; its peer is not
    assert "hotline-seat-phones-" not in handoff_conf.replace(escaped, "")  # no hand copy of it


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
    """In the fast path's one MSet, whose argument Asterisk substitutes before
    it assigns anything: the variables the same MSet sets stand as their sources."""
    mset = next(line for line in _key_lines(handoff_conf) if line.startswith(" same => n(fast),MSet("))
    record = mset.split(f"DB({OUTBOX_FAMILY}/${{CHANNEL(uniqueid)}})=", 1)[1].split(",EXPORT(", 1)[0]
    centre = "${" + cv.CENTRE + "}"
    expected = "|".join(outbox_record_items())
    for name, source in ((cv.HANDOFF_PEER, "${BRIDGEPEER}"),
                         (cv.HANDOFF_TARGET, "${" + cv.HANDOFF_PARTNER_PREFIX + centre + "}"),
                         (cv.RELEASE_MODE, "${" + cv.HANDOFF_RELEASE_PREFIX + centre + "}"),
                         (cv.HANDOFF_ID, "${CHANNEL(uniqueid)}")):
        expected = expected.replace("${" + name + "}", source)
    assert record == expected


def test_every_astdb_family_the_dialplan_uses_is_one_of_core_s(handoff_conf: str) -> None:
    used = set(re.findall(r"\bDB(?:_EXISTS|_DELETE)?\(([a-z-]+)/", handoff_conf))
    assert used == {ASTDB_FAMILY, OUTBOX_FAMILY, CALL_GUARD_FAMILY, ENDED_FAMILY}
