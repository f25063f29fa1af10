"""The product's default AMI set-up on the real Asterisk: the events nothing
of ours reads (a dialplan step, a variable set) are never raised, and a
transfer still ends as its order.  The other rigs turn them back on
(`HOTLINE_AMI_DISABLED_EVENTS=`) to follow the dialplan's steps."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.settings import DEFAULT_DISABLED_EVENTS
from tests.asterisk import test_handoff as spec
from tests.asterisk.test_handoff import SEATS_110, Orders
from tests.support.pbx import Pbx

orders = spec.orders


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pbx]:
    """This module's own Asterisk, rendered with the product's default."""
    pbx = await Pbx.start(tmp_path_factory.mktemp("default-events"),
                          HOTLINE_AMI_DISABLED_EVENTS=",".join(DEFAULT_DISABLED_EVENTS))
    try:
        yield pbx
    finally:
        await pbx.stop()


async def test_the_dialplans_step_events_are_not_raised_and_a_transfer_still_records_its_order(
        pbx: Pbx, orders: Orders) -> None:
    assert DEFAULT_DISABLED_EVENTS == ("Newexten", "VarSet")
    reply = await pbx.ami.send({"Action": "Command", "Command": "manager show settings"})
    assert isinstance(reply, dict), reply
    output = reply.get("Output") or []
    lines = [str(line) for line in (output if isinstance(output, list) else [output])]
    disabled = [line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("Disabled events:")]
    assert disabled == ["Newexten,VarSet"], lines  # Asterisk took the setting

    # nor is a variable set's message created at all (stasis.conf): Asterisk started with it declined
    declined = (pbx.settings.paths.run_dir / "etc" / "stasis.conf").read_text()
    assert "decline = ast_channel_varset_type" in declined.splitlines()

    await spec._transfer_by_key(pbx, orders, "12345", "110", SEATS_110)  # its order: accepted

    # the rig's own link asks for every event: what Asterisk raised for the transfer
    names = {str(e.get("Event")) for e in pbx.events.events}
    assert {"Newchannel", "AgentConnect", "Hangup", "UserEvent"} <= names, names
    assert not names & set(DEFAULT_DISABLED_EVENTS), names & set(DEFAULT_DISABLED_EVENTS)


async def _manager_processed(pbx: Pbx) -> int:
    """Messages Asterisk's manager thread has taken off its Stasis queue so far."""
    reply = await pbx.ami.send({"Action": "Command", "Command": "core show taskprocessors"})
    assert isinstance(reply, dict), reply
    output = reply.get("Output") or []
    rows = [str(line).split() for line in (output if isinstance(output, list) else [output])]
    counts = [int(row[1]) for row in rows if row and row[0].startswith("stasis/m:manager:core")]
    assert len(counts) == 1, [r for r in rows if r and "stasis" in r[0]][:40]
    return counts[0]


async def test_a_variable_set_creates_no_message_for_the_manager_thread_to_format_and_drop(pbx: Pbx) -> None:
    """A global Setvar publishes one VarSet message and no snapshot: with the
    type declined, the manager's queue takes none of a burst of them."""
    before = await _manager_processed(pbx)
    for i in range(100):
        await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_TEST_DECLINED", "Value": str(i)})
    await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_TEST_DECLINED", "Value": ""})
    assert await _manager_processed(pbx) - before < 50
