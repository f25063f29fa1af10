"""core.reconcile: which handoffs the reconciler settles, how, and which AstDB keys go (pure).

The reconciler on a real Asterisk killed right after key presses is
tests/faults/test_asterisk_dies.py; during a three-way call,
tests/faults/test_threeway_dies.py."""
from __future__ import annotations

from core.handoff import ASTDB_FAMILY, CALL_GUARD_FAMILY, ENDED_FAMILY, OUTBOX_FAMILY
from core.reconcile import (
    SETTLED_REASON,
    LiveChannel,
    OpenHandoff,
    OpenThreeWay,
    ReconcilePlan,
    Snapshot,
    epoch_of,
    outcome_of,
    plan_reconcile,
    split_end,
    threeway_outcome,
)
from core.threeway import ASTDB_FAMILY as THREEWAY_FAMILY

NOW = 1764077600.0
STARTED = 1764077590.0          # this Asterisk started 10 s ago
OLD_ID = "1764077500.123"        # a seat leg of the previous run
OLD_CALL = "1764077499.120"
NEW_ID = "1764077595.7"          # a seat leg of this run
NEW_CALL = "1764077594.5"


def record(linkedid: str, pressed_at: float = 1764077501.1) -> str:
    return (f"v1|{pressed_at}|Local/1001@hotline-seat-phones-0000002a;1|"
            f"Local/12345@hotline-inbound-00000029;2|13800138000|12345||110|{linkedid}|on_answer")


def snap(**kw: object) -> Snapshot:
    base: dict[str, object] = dict(states={}, outbox={}, ended={}, guards={}, pending=(), channels=(),
                                   asterisk_started_at=STARTED, now=NOW)
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def chan(linkedid: str, uniqueid: str = "1764077596.9") -> LiveChannel:
    return LiveChannel("Local/2001@hotline-seat-phones-00000030;1", uniqueid, linkedid)


def test_when_asterisk_died_after_the_key_then_the_recorded_pending_order_is_settled_and_its_keys_go() -> None:
    plan = plan_reconcile(snap(states={OLD_ID: "pending"}, guards={OLD_CALL: OLD_ID},
                               pending=(OpenHandoff(OLD_ID, OLD_CALL, "Local/x;2", 1764077501.0),)))
    assert [(s.handoff_id, s.outcome, s.reason) for s in plan.settle] == [(OLD_ID, "abandoned", SETTLED_REASON)]
    assert set(plan.delete) == {(ASTDB_FAMILY, OLD_ID), (CALL_GUARD_FAMILY, OLD_CALL)}
    assert plan.record == ()


def test_when_only_the_outbox_survived_then_its_order_is_recorded_then_settled() -> None:
    plan = plan_reconcile(snap(outbox={OLD_ID: record(OLD_CALL)}, states={OLD_ID: "pending"}))
    assert [r.handoff_id for r in plan.record] == [OLD_ID]
    assert [(s.handoff_id, s.outcome) for s in plan.settle] == [(OLD_ID, "abandoned")]
    assert set(plan.delete) == {(ASTDB_FAMILY, OLD_ID), (OUTBOX_FAMILY, OLD_ID)}


def test_when_astdb_kept_how_the_handoff_ended_then_the_order_says_so() -> None:
    for kept, outcome in (("accepted", "accepted"), ("returned", "returned"), ("lost", "abandoned")):
        plan = plan_reconcile(snap(ended={OLD_ID: kept}, states={OLD_ID: "pending"},
                                   pending=(OpenHandoff(OLD_ID, OLD_CALL, None, 1764077501.0),)))
        assert [s.outcome for s in plan.settle] == [outcome]
        assert (ENDED_FAMILY, OLD_ID) in plan.delete
    assert outcome_of("accepted") == ("accepted", None)
    assert outcome_of("") == ("abandoned", SETTLED_REASON)


def test_when_the_call_is_still_up_then_nothing_of_its_handoff_is_touched() -> None:
    plan = plan_reconcile(snap(states={NEW_ID: "pending"}, guards={NEW_CALL: NEW_ID},
                               outbox={NEW_ID: record(NEW_CALL, 1764077595.9)},
                               pending=(OpenHandoff(NEW_ID, NEW_CALL, None, 1764077595.9),),
                               channels=(chan(NEW_CALL),)))
    assert plan.empty and plan.live == 1


def test_when_a_hangup_report_was_cut_off_then_the_ended_call_is_settled_without_a_restart() -> None:
    plan = plan_reconcile(snap(pending=(OpenHandoff("order-1", NEW_CALL, "Local/x;2", 1764077595.0),),
                               channels=(chan("1764077597.1"),)))
    assert [(s.handoff_id, s.outcome) for s in plan.settle] == [("order-1", "abandoned")]


def test_when_a_state_key_is_linked_to_nothing_then_its_uniqueid_says_whether_it_can_be_live() -> None:
    before = plan_reconcile(snap(states={OLD_ID: "returned"}))
    assert before.delete == ((ASTDB_FAMILY, OLD_ID),) and before.settle == ()
    this_run = plan_reconcile(snap(states={NEW_ID: "pending"}))
    assert this_run.empty                                        # may be a handoff starting now
    later = plan_reconcile(snap(states={NEW_ID: "pending"}, now=NOW + 600))
    assert later.delete == ((ASTDB_FAMILY, NEW_ID),)             # longer than any handoff waits
    unknown = plan_reconcile(snap(states={"odd": "pending"}, asterisk_started_at=None))
    assert unknown.empty


def test_when_a_call_guard_outlives_its_call_then_it_goes() -> None:
    plan = plan_reconcile(snap(guards={OLD_CALL: "1764077500.1", NEW_CALL: NEW_ID}, channels=(chan(NEW_CALL),)))
    assert plan.delete == ((CALL_GUARD_FAMILY, OLD_CALL),)


def test_when_an_outbox_record_is_not_understood_then_it_is_left_and_named() -> None:
    plan = plan_reconcile(snap(outbox={OLD_ID: "v0|junk"}))
    assert plan.bad_records == (OLD_ID,) and plan.empty


def test_epoch_of_reads_asterisk_uniqueids_only() -> None:
    assert epoch_of("1764077500.123") == 1764077500.0
    assert epoch_of("pbx1-1764077500.123") == 1764077500.0
    assert epoch_of("3f2a9c") is None and epoch_of(None) is None


def test_when_a_key_was_kept_next_to_an_order_already_final_then_it_goes_once_the_call_is_gone() -> None:
    gone = plan_reconcile(snap(ended={NEW_ID: "accepted"}, calls={NEW_ID: NEW_CALL}))
    assert gone.delete == ((ENDED_FAMILY, NEW_ID),) and gone.settle == ()
    up = plan_reconcile(snap(ended={NEW_ID: "accepted"}, calls={NEW_ID: NEW_CALL}, channels=(chan(NEW_CALL),)))
    assert up.empty


def test_when_the_dialplan_kept_why_the_citizen_came_back_then_the_order_gets_that_reason() -> None:
    assert split_end("returned:JOINUNAVAIL") == ("returned", "JOINUNAVAIL")
    assert split_end("returned") == ("returned", None)
    assert split_end("accepted") == ("accepted", None)
    assert outcome_of("returned:TIMEOUT") == ("returned", None)


# ------------------------------------------------------------------ three-way calls (*2)

TW = "3f2a9c1e-0b7d-4c55-9d1e-2a6f0c8b7e11"
TW_CONF = f"hotline-3w-{TW}"
TW_RING = f"Local/t{TW.replace('-', '')}@hotline-threeway-ring-0000003a;1"


def tw(status: str = "pending", linkedid: str | None = OLD_CALL, created_at: float = 1764077501.0,
       joined: bool = False, channel: str | None = "Local/12345@hotline-inbound-00000029;2") -> OpenThreeWay:
    return OpenThreeWay(TW, status, linkedid, channel, created_at, joined=joined, first_centre="12345")


def settled(plan: ReconcilePlan) -> list[tuple[str, str, str, str | None, str | None]]:
    return [(s.threeway_id, s.status, s.reason, s.rule, s.centre) for s in plan.settle_threeway]


def test_when_asterisk_died_during_a_three_way_call_then_its_pending_order_is_settled_and_its_phase_goes() -> None:
    plan = plan_reconcile(snap(threeway_phases={TW: "ringing"}, threeways=(tw(),)))
    assert settled(plan) == [(TW, "abandoned", SETTLED_REASON, None, None)]
    assert plan.delete == ((THREEWAY_FAMILY, TW),)
    assert plan.by_handoff[TW] == ((THREEWAY_FAMILY, TW),)      # kept if the order cannot be settled


def test_when_both_seats_were_in_the_conference_then_first_contact_accepts_after_the_restart() -> None:
    for phase, order in (("joined", tw()), ("ringing", tw(joined=True)), ("", tw(joined=True))):
        plan = plan_reconcile(snap(threeway_phases={TW: phase} if phase else {}, threeways=(order,)))
        assert settled(plan) == [(TW, "accepted", SETTLED_REASON, "first_contact", "12345")], phase


def test_when_astdb_kept_how_the_three_way_call_ended_then_the_order_says_so() -> None:
    cases = {
        ("no_answer", False): ("returned", "no_answer", None, None),
        ("gone", False): ("abandoned", "citizen_hung_up", None, None),
        ("gone", True): ("accepted", "undecided", "first_contact", "12345"),
        ("", False): ("abandoned", SETTLED_REASON, None, None),
    }
    for (phase, joined), expected in cases.items():
        outcome = threeway_outcome(phase, tw(joined=joined))
        assert (outcome.status, outcome.reason, outcome.rule, outcome.centre) == expected, (phase, joined)


def test_when_a_three_way_call_is_still_under_way_then_the_reconciler_leaves_it_alone() -> None:
    """No false positives: its conference, its ringing leg or a channel of its call is enough."""
    up: list[dict[str, object]] = [
        dict(conferences=(TW_CONF,)),
        dict(channels=(LiveChannel(TW_RING, "1764077596.11", "1764077596.10"),)),
        dict(channels=(chan(OLD_CALL),)),
        dict(channels=(LiveChannel("Local/12345@hotline-inbound-00000029;2", "1764077596.3", "x"),),
             threeways=(tw(linkedid=None),)),
    ]
    for extra in up:
        kw: dict[str, object] = dict(threeway_phases={TW: "joined"}, threeways=(tw(),))
        kw.update(extra)
        plan = plan_reconcile(snap(**kw))
        assert plan.empty and plan.live_threeways == 1, extra


def test_when_a_three_way_order_has_no_call_to_go_by_then_its_age_says_whether_it_can_be_live() -> None:
    young = tw(linkedid=None, channel=None, created_at=NOW - 5)          # may be starting now
    assert plan_reconcile(snap(threeways=(young,))).empty
    assert settled(plan_reconcile(snap(threeways=(young,), now=NOW + 600)))[0][1] == "abandoned"
    before = tw(linkedid=None, channel=None, created_at=STARTED - 1)     # made before this Asterisk started
    assert settled(plan_reconcile(snap(threeways=(before,))))[0][1] == "abandoned"


def test_when_a_three_way_order_is_already_final_then_only_its_leftover_phase_goes() -> None:
    plan = plan_reconcile(snap(threeway_phases={TW: "no_answer"}, threeways=(tw(status="returned"),)))
    assert plan.settle_threeway == () and plan.delete == ((THREEWAY_FAMILY, TW),)
    orphan = plan_reconcile(snap(threeway_phases={TW: "gone"}))                 # no order for it at all
    assert orphan.delete == ((THREEWAY_FAMILY, TW),) and orphan.settle_threeway == ()
    conference_up = plan_reconcile(snap(threeway_phases={TW: "joined"}, conferences=(TW_CONF,)))
    assert conference_up.empty


def test_when_handoffs_and_three_way_calls_are_both_left_then_one_plan_settles_them_all() -> None:
    plan = plan_reconcile(snap(states={OLD_ID: "pending"}, pending=(OpenHandoff(OLD_ID, OLD_CALL, None, 1764077501.0),),
                               threeway_phases={TW: "ringing"}, threeways=(tw(),)))
    assert [s.handoff_id for s in plan.settle] == [OLD_ID] and settled(plan)[0][0] == TW
    assert set(plan.delete) == {(ASTDB_FAMILY, OLD_ID), (THREEWAY_FAMILY, TW)}
