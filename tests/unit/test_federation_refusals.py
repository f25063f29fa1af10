"""Refused federation requests: the first ones per client address and in all
are written down, the rest only counted (app.federation.refusals, on the
real `limits` library)."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from app.federation import refusals
from app.federation.refusals import RefusalAudit, reason_of
from core.federation import check_nonce, check_timestamp


def _counted(reason: str) -> float:
    return REGISTRY.get_sample_value("hotline_federation_refused_total", {"reason": reason}) or 0.0


def test_when_one_address_is_refused_again_and_again_then_only_its_first_refusals_are_written() -> None:
    bad_signatures, unknown = _counted("bad_signature"), _counted("unknown_peer")
    audit = RefusalAudit(per_address="3/minute", in_all="100/minute")
    admitted = [audit.admit("203.0.113.9", "bad signature") for _ in range(10)]
    assert admitted == [0, 0, 0] + [None] * 7
    assert audit.unwritten == 7
    assert _counted("bad_signature") == bad_signatures + 10  # every one counted
    # another address has its own share
    assert audit.admit("198.51.100.4", "unknown peer") == 0
    assert _counted("unknown_peer") == unknown + 1


def test_when_many_addresses_are_refused_then_the_lines_in_all_are_capped_too() -> None:
    audit = RefusalAudit(per_address="3/minute", in_all="4/minute")
    admitted = [audit.admit(f"192.0.2.{n}", "unsigned request") for n in range(10)]
    assert admitted == [0, 0, 0, 0] + [None] * 6
    assert audit.unwritten == 6


def test_when_the_unwritten_are_counted_for_too_many_addresses_then_the_rest_are_counted_together(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refusals, "MAX_ADDRESSES", 2)
    audit = RefusalAudit(per_address="1/minute", in_all="1/minute")
    assert audit.admit("192.0.2.1", "bad signature") == 0
    for n in range(2, 7):
        assert audit.admit(f"192.0.2.{n}", "bad signature") is None
    assert audit.unwritten == 5  # two addresses apart, three together


@pytest.mark.parametrize("why, reason", [
    ("unknown peer", "unknown_peer"),
    ("unsigned request: X-Hotline-Peer, X-Hotline-Timestamp, X-Hotline-Nonce and X-Hotline-Signature are required",
     "unsigned"),
    (check_timestamp("yesterday", 1_800_000_000.0, 300), "timestamp"),
    (check_timestamp("1", 1_800_000_000.0, 300), "timestamp"),
    (check_nonce("short"), "nonce"),
    ("nonce already used (replayed request)", "replayed"),
    ("bad signature", "bad_signature"),
])
def test_each_refusal_text_has_its_reason_label(why: str | None, reason: str) -> None:
    assert why is not None
    assert reason_of(why) == reason
    assert reason in refusals.REASONS
