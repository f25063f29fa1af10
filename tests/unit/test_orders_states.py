"""`core.orders`: the order state machine, as a table."""
from __future__ import annotations

import pytest

from core.orders import (
    FINAL,
    INITIAL,
    STAMPS,
    STATUSES,
    TRANSITIONS,
    FinalOrder,
    IllegalTransition,
    check_editable,
    check_transition,
    reopen_status,
    sources_of,
)

LEGAL = [
    ("pending", "accepted"), ("pending", "abandoned"), ("pending", "returned"), ("pending", "voided"),
    ("accepted", "dispatched"), ("accepted", "closed"), ("accepted", "returned"), ("accepted", "voided"),
    ("dispatched", "signed"), ("dispatched", "returned"), ("dispatched", "voided"),
    ("signed", "on_site"), ("signed", "feedback"), ("signed", "returned"), ("signed", "voided"),
    ("on_site", "feedback"), ("on_site", "returned"), ("on_site", "voided"),
    ("feedback", "closed"), ("feedback", "dispatched"), ("feedback", "voided"),
    ("returned", "dispatched"), ("returned", "voided"), ("returned", "closed"),
]


@pytest.mark.parametrize("current,wanted", LEGAL)
def test_when_the_transition_is_in_the_lifecycle_then_it_is_allowed(current: str, wanted: str) -> None:
    check_transition(current, wanted)


def test_when_any_other_pair_is_tried_then_it_is_illegal_with_both_statuses() -> None:
    legal = set(LEGAL)
    illegal = [(a, b) for a in STATUSES for b in STATUSES if (a, b) not in legal]
    assert len(illegal) == len(STATUSES) ** 2 - len(LEGAL)
    for current, wanted in illegal:
        with pytest.raises(IllegalTransition) as error:
            check_transition(current, wanted)
        assert (error.value.current, error.value.wanted) == (current, wanted)


def test_when_an_order_is_final_then_nothing_follows_and_handoff_statuses_are_kept() -> None:
    assert all(not TRANSITIONS[s] for s in FINAL)
    assert {"pending", "accepted", "abandoned", "returned"} <= set(STATUSES)
    assert INITIAL == {"pending", "accepted"}
    assert set(TRANSITIONS) == set(STATUSES)
    assert sources_of("signed") == {"dispatched"}
    assert sources_of("dispatched") == {"accepted", "returned", "feedback"}
    assert set(STAMPS) == set(STATUSES) - {"pending"}


def test_when_a_status_is_unknown_then_every_move_from_it_is_illegal() -> None:
    with pytest.raises(IllegalTransition):
        check_transition("lost", "accepted")


def test_when_a_handoff_was_returned_then_a_late_answer_cannot_make_it_accepted() -> None:
    with pytest.raises(IllegalTransition):
        check_transition("returned", "accepted")


@pytest.mark.parametrize("final", sorted(FINAL))
def test_when_an_order_is_final_then_editing_it_is_refused_with_its_status(final: str) -> None:
    with pytest.raises(FinalOrder) as error:
        check_editable(final)
    assert (error.value.current, error.value.wanted) == (final, "edited")
    assert isinstance(error.value, IllegalTransition)  # 409 with the current status


@pytest.mark.parametrize("status", sorted(set(STATUSES) - FINAL))
def test_when_an_order_is_open_then_it_may_be_edited(status: str) -> None:
    check_editable(status)


@pytest.mark.parametrize("current,before,reopened", [
    ("closed", "feedback", "feedback"), ("closed", "accepted", "accepted"), ("closed", "returned", "returned"),
    ("voided", "dispatched", "dispatched"), ("abandoned", "pending", "accepted"), ("voided", None, "accepted"),
])
def test_when_a_final_order_is_reopened_then_it_goes_back_to_where_it_was(
    current: str, before: str | None, reopened: str
) -> None:
    assert reopen_status(current, before) == reopened


def test_when_an_open_order_is_reopened_then_it_is_illegal() -> None:
    with pytest.raises(IllegalTransition):
        reopen_status("accepted", "pending")
