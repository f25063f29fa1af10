"""What a seat hears when its transfer or three-way key is refused (core.refusals), table-tested."""
from __future__ import annotations

import re

import pytest

from core.refusals import PROMPTS, Refusal

# Every reason a feature gives, and the prompt the seat hears for it.
HEARD = [
    ("no_citizen", "feature-not-avail-line"),
    ("not_a_seat", "feature-not-avail-line"),
    ("own_centre", "pbx-invalid"),
    ("unknown_target", "pbx-invalid"),
    ("no_route", "cannot-complete-as-dialed"),
    ("no_seat_logged_in", "all-circuits-busy-now"),
    ("already_transferring", "beeperr"),
    ("already_three_way", "beeperr"),
    ("not_initiator", "beeperr"),
    ("last_seat", "beeperr"),
    ("not_joined", "beeperr"),
    ("decided", "beeperr"),
    ("ended", "beeperr"),
    ("error", "please-try-again"),
    ("no_answer", "number-not-answering"),
]


@pytest.mark.parametrize("reason, prompt", HEARD)
def test_when_a_key_is_refused_for_a_reason_then_the_seat_hears_its_prompt(reason: str, prompt: str) -> None:
    assert Refusal(reason).prompt == prompt


def test_every_reason_in_the_table_is_specified_here() -> None:
    assert set(PROMPTS) == {reason for reason, _ in HEARD}


@pytest.mark.parametrize("reason", ["", "no_such_reason", "beeperr", "x,Hangup()", "${EVIL}"])
def test_when_the_reason_is_not_in_the_table_then_the_seat_hears_please_try_again(reason: str) -> None:
    assert Refusal(reason).prompt == "please-try-again"


def test_every_prompt_is_a_plain_sound_name_safe_for_playback() -> None:
    """The dialplan plays the prompt as Playback()'s argument: no `,`, `$`, `&`, `(`, path or CR/LF."""
    assert all(re.fullmatch(r"[a-z][a-z-]*", prompt) for prompt in PROMPTS.values())
