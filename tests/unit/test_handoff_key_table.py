"""The handoff key's table of cases through the pure decisions: the fast
path's guard (core/fast_path.py) and `plan_handoff` (core/handoff.py).

tests/asterisk/test_handoff_key_table.py runs the same table through the
rendered dialplan on the real Asterisk; both compare with each case's
`expect`, so the dialplan and Python agree on dialplan vs Python vs refusal.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from core.centres import centre_by_id, parse_centres
from core.fast_path import GUARD, failing_part, partner_of, takes_fast_path
from core.handoff import HandoffPlan, plan_handoff
from core.refusals import Refusal
from tests.support.handoff_cases import (
    CASES,
    LOGGED_IN,
    REMOTE_CENTRES,
    RIG_CENTRES,
    KeyCase,
    handoff_request,
    key_press,
    rig_centres,
    rig_remote,
)

CENTRES = parse_centres(RIG_CENTRES)
RELEASE_MODES = {"12315": "immediate"}
ROUTES = {"120": "Local/120@hotline-destination-phone/n"}


def _plan(case: KeyCase) -> HandoffPlan | Refusal:
    centres = rig_centres(case)
    return plan_handoff(handoff_request(case, centres), centres=centres, seat_mode="simulated",
                        routes=ROUTES, release_modes=RELEASE_MODES, timeout_s=30, remote=rig_remote(case))


def outcome(case: KeyCase) -> str:
    """What happens in `case`, decided by the pure functions only.

    After the plan, `HandoffService.start` refuses a leg that is already
    handing the call over (it claims the call guard), then a target centre
    where nobody is logged in — in that order."""
    decision = _plan(case)
    centres, remote = rig_centres(case), rig_remote(case)
    if case.target is None and takes_fast_path(key_press(case, centres), centres, remote):
        # the dialplan never carries out what Python would refuse or send elsewhere
        partner = partner_of(centres, remote, case.centre)
        assert isinstance(decision, HandoffPlan) and partner is not None and decision.target == partner
        local = centre_by_id(centres, partner)
        if local is not None:
            assert (decision.queue, decision.trunk) == (local.linkage_queue, None)
        else:  # over the partner's peer trunk, as the rendered to-<centre> dials it
            assert (decision.queue, decision.dial) == (None, f"PJSIP/{partner}@{REMOTE_CENTRES[partner]}")
        assert decision.release_mode == RELEASE_MODES.get(case.centre, "on_answer")
        return "dialplan"
    if isinstance(decision, Refusal):
        return f"refused:{decision.reason}"
    if case.under_way:
        return "refused:already_transferring"
    if decision.queue is not None and LOGGED_IN[decision.queue] == 0:
        return "refused:no_seat_logged_in"
    return "python"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_handoff_key_table(case: KeyCase) -> None:
    assert outcome(case) == case.expect


def test_the_table_reaches_every_part_of_the_guard() -> None:
    """Each named part is the one that sends some case to Python (or all hold)."""
    failing = {part.label for case in CASES if case.target is None
               if (part := failing_part(key_press(case, rig_centres(case)), rig_centres(case),
                                        rig_remote(case))) is not None}
    # the rig cannot stage a seat leg bridged with nobody or with several, odd ids,
    # or a centre without a partner: those are tested below, on data only
    reachable_on_the_rig = {part.label for part in GUARD} - {"one_peer", "call_id", "leg_id", "partner"}
    assert reachable_on_the_rig <= failing


@pytest.mark.parametrize("peer, label", [
    ("", "one_peer"),                                                        # alone in the bridge
    ("Local/12315@hotline-inbound-0000000b;2,Local/3002@x-1;1", "one_peer"),  # a bigger bridge
])
def test_when_the_key_has_no_single_peer_then_python_is_asked_and_refuses(peer: str, label: str) -> None:
    """Cases the rig cannot stage (a seat leg bridged with nobody, or with several)."""
    case = CASES[0]
    press = replace(key_press(case, CENTRES), peer=peer)
    part = failing_part(press, CENTRES)
    assert part is not None and part.label == label
    request = replace(handoff_request(case, CENTRES), citizen_channel=peer or None)
    decision = plan_handoff(request, centres=CENTRES, seat_mode="simulated", routes=ROUTES,
                            release_modes=RELEASE_MODES, timeout_s=30)
    assert isinstance(decision, Refusal) and decision.reason == "no_citizen"


def test_when_the_call_ids_are_not_safe_keys_then_python_is_asked() -> None:
    press = replace(key_press(CASES[0], CENTRES), linkedid="a/b")
    part = failing_part(press, CENTRES)
    assert part is not None and part.label == "call_id"


def test_when_the_centre_has_no_partner_then_python_is_asked() -> None:
    alone = parse_centres("12345:1001")
    press = replace(key_press(CASES[0], CENTRES), centre="12345", seat="1001",
                    seat_channel="Local/1001@hotline-seat-phones-0000000a;1")
    part = failing_part(press, alone)
    assert part is not None and part.label == "partner"


def test_when_the_partner_is_remote_then_its_readiness_is_not_asked_here() -> None:
    """No linkage queue of a remote centre exists here: the guard reads no
    logged-in count for it (the far platform refuses at once if nobody is there)."""
    case = next(c for c in CASES if c.remote and c.expect == "dialplan")
    centres, remote = rig_centres(case), rig_remote(case)
    press = replace(key_press(case, centres), partner_logged_in=0)
    assert takes_fast_path(press, centres, remote)
    assert not takes_fast_path(press, centres, {})  # no remote centre: no partner at all
    assert failing_part(press, centres, {}).label == "partner"  # type: ignore[union-attr]
