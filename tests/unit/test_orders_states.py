"""`core.orders`: the order state machine, as a table."""
from __future__ import annotations

import pytest

from core.orders import (
    FINAL,
    INITIAL,
    STAMPS,
    STATUSES,
    TRANSITIONS,
    IllegalTransition,
    check_transition,
    sources_of,
)

LEGAL = [
    ("pending", "accepted"), ("pending", "abandoned"), ("pending", "returned"), ("pending", "voided"),
    ("accepted", "dispatched"), ("accepted", "closed"), ("accepted", "returned"), ("accepted", "voided"),
    ("dispatched", "signed"), ("dispatched", "returned"), ("dispatched", "voided"),
    ("signed", "on_site"), ("signed", "feedback"), ("signed", "returned"), ("signed", "voided"),
    ("on_site", "feedback"), ("on_site", "returned"), ("on_site", "voided"),
    ("feedback", "closed"), ("feedback", "dispatched"), ("feedback", "voided"),
    ("returned", "dispatched"), ("returned", "accepted"), ("returned", "voided"), ("returned", "closed"),
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
