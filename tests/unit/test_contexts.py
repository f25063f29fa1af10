"""The product's dialplan contexts as one namespace (core/contexts.py), checked against the templates."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.runtime.render import render
from app.runtime.secrets import load_or_create
from core.centres import parse_centres
from core.contexts import PREFIX, SIMULATED_PHONES, is_call_flow
from core.overflow import parse_member
from core.safety import UnsafeValue
from core.settings import Settings

CENTRES = parse_centres("12345:1001-1002;110:2001")
NOT_CONTEXTS = {"general", "globals"}


def _dialplan_contexts(tmp: Path) -> set[str]:
    """The contexts of the rendered dialplan (the test rig's included):
    extensions.conf and every file it #includes."""
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp), "HOTLINE_SEAT_MODE": "simulated"})
    etc = render(s, load_or_create(s)).parent
    names: set[str] = set()
    todo, seen = ["extensions.conf"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = (etc / name).read_text()
        names |= set(re.findall(r"^\[([^\]]+)\]", text, re.MULTILINE))
        todo += re.findall(r"^#include\s+\"?([^\"\s]+)\"?", text, re.MULTILINE)
    return names - NOT_CONTEXTS


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return sorted(_dialplan_contexts(tmp_path_factory.mktemp("render")))


def test_the_dialplan_has_contexts(contexts: list[str]) -> None:
    assert "hotline-inbound" in contexts and "hotline-threeway-ring" in contexts, "the scan is broken"


def test_every_dialplan_context_is_in_the_hotline_namespace(contexts: list[str]) -> None:
    assert [c for c in contexts if not c.startswith(PREFIX)] == []


def test_every_simulated_phone_is_a_context_of_the_test_rig(contexts: list[str]) -> None:
    assert SIMULATED_PHONES <= set(contexts)


def test_no_remote_member_may_dial_into_a_call_flow_context(contexts: list[str]) -> None:
    flow = [c for c in contexts if c not in SIMULATED_PHONES]
    assert flow and all(is_call_flow(c) for c in flow)
    for context in flow:
        with pytest.raises(UnsafeValue):
            parse_member(f"Local/9001@{context}", 0, CENTRES)


@pytest.mark.parametrize("context", sorted(SIMULATED_PHONES))
def test_a_simulated_phone_is_not_call_flow(context: str) -> None:
    assert not is_call_flow(context)
    assert parse_member(f"Local/9001@{context}", 0, CENTRES).interface == f"Local/9001@{context}/n"
