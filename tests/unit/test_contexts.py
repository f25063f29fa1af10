"""The product's dialplan contexts as one namespace (core/contexts.py), checked against the templates."""
from __future__ import annotations

import re

import pytest

from core.centres import parse_centres
from core.contexts import PREFIX, SIMULATED_PHONES, is_call_flow
from core.overflow import parse_member
from core.safety import UnsafeValue
from core.settings import PROJECT_ROOT

CENTRES = parse_centres("12345:1001-1002;110:2001")
NOT_CONTEXTS = {"general", "globals"}


def _dialplan_contexts() -> set[str]:
    names: set[str] = set()
    for path in sorted((PROJECT_ROOT / "dialplan").rglob("*.j2")):
        names |= set(re.findall(r"^\[([^\]]+)\]", path.read_text(), re.MULTILINE))
    return names - NOT_CONTEXTS


CONTEXTS = sorted(_dialplan_contexts())


def test_the_templates_define_contexts() -> None:
    assert "hotline-inbound" in CONTEXTS and "hotline-threeway-ring" in CONTEXTS, "the scan is broken"


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_dialplan_context_is_in_the_hotline_namespace(context: str) -> None:
    assert context.startswith(PREFIX)


def test_every_simulated_phone_is_a_context_of_the_templates() -> None:
    assert SIMULATED_PHONES <= set(CONTEXTS)


@pytest.mark.parametrize("context", [c for c in CONTEXTS if c not in SIMULATED_PHONES and "{" not in c])
def test_no_remote_member_may_dial_into_a_call_flow_context(context: str) -> None:
    assert is_call_flow(context)
    with pytest.raises(UnsafeValue):
        parse_member(f"Local/9001@{context}", 0, CENTRES)


@pytest.mark.parametrize("context", sorted(SIMULATED_PHONES))
def test_a_simulated_phone_is_not_call_flow(context: str) -> None:
    assert not is_call_flow(context)
