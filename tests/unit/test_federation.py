"""Rules of orders across platforms (core/federation.py) and their settings."""
from __future__ import annotations

from typing import Any

import pytest

from core.federation import (
    DocumentError,
    PeerError,
    check_order_document,
    check_status_document,
    check_timestamp,
    is_division_code,
    is_org_code,
    parse_peers,
    pushed_status,
    retry_delay,
    seq_verdict,
    sign,
    signature_matches,
    uscc_check_char,
)
from core.settings import FederationSettings, Settings, SettingsError

ORG = "91350100M000100Y43"  # a published example 统一社会信用代码


@pytest.mark.parametrize("code, ok", [("450700", True), ("620800", True), ("450702001", True),
                                      ("450702001001", True), ("45070", False), ("4507000", False),
                                      ("050700", False), ("45070a", False)])
def test_division_codes_are_6_9_or_12_digits(code: str, ok: bool) -> None:
    assert is_division_code(code) is ok


def test_org_code_check_character_is_verified() -> None:
    assert is_org_code(ORG)
    assert uscc_check_char(ORG[:17]) == ORG[17]
    assert not is_org_code(ORG[:17] + ("0" if ORG[17] != "0" else "1"))
    assert not is_org_code(ORG.lower()) and not is_org_code(ORG[:17])


def test_peers_parse_and_bad_declarations_name_the_peer() -> None:
    [peer] = parse_peers("police-110=https://110.example:8443/ centres=110,122 secret_env=PEER_110_SECRET")
    assert (peer.name, peer.url, peer.centres, peer.secret_env) == (
        "police-110", "https://110.example:8443", ("110", "122"), "PEER_110_SECRET")
    for text, words in (("police-110=ftp://x centres=110 secret_env=S", "base URL"),
                        ("police-110=http://x secret_env=S", "centres"),
                        ("police-110=http://x centres=110", "secret_env"),
                        ("a=http://x centres=110 secret_env=S; b=http://y centres=110 secret_env=T", "another peer"),
                        ("a=http://x centres=110 secret_env=S colour=red", "colour")):
        with pytest.raises(PeerError, match=words):
            parse_peers(text)


def test_retry_delays_follow_the_schedule_with_jitter_then_stop() -> None:
    schedule = (5.0, 300.0)
    assert retry_delay(1, schedule, 0.2, 0.5) == 5.0
    assert retry_delay(2, schedule, 0.2, 0.0) == pytest.approx(240.0)
    assert retry_delay(2, schedule, 0.2, 0.999999) == pytest.approx(360.0, rel=1e-3)
    assert retry_delay(3, schedule, 0.2, 0.5) is None


@pytest.mark.parametrize("seq, last, verdict", [(1, None, "apply"), (2, 1, "apply"), (1, 1, "duplicate"),
                                                (1, 3, "duplicate"), (3, 1, "gap"), (2, None, "gap")])
def test_documents_apply_only_in_sequence(seq: int, last: int | None, verdict: str) -> None:
    assert seq_verdict(seq, last) == verdict


def test_the_receiver_reports_sign_for_return_feedback_close_and_the_sender_redispatch_and_withdrawal() -> None:
    assert [s for s in ("signed", "on_site", "feedback", "returned", "closed", "dispatched", "voided")
            if pushed_status("in", s)] == ["signed", "on_site", "feedback", "returned", "closed"]
    assert [s for s in ("signed", "dispatched", "voided", "accepted") if pushed_status("out", s)] == [
        "dispatched", "voided"]


def test_signature_covers_method_path_timestamp_nonce_and_body() -> None:
    args = ("POST", "/api/federation/orders", "1764043200", "n" * 20, b'{"a":1}')
    signature = sign("secret-0123456789", *args)
    assert signature_matches("secret-0123456789", signature, *args)
    for i, other in enumerate(("PUT", "/api/federation/orders/x/status", "1764043201", "m" * 20, b'{"a":2}')):
        changed: list[Any] = list(args)
        changed[i] = other
        assert not signature_matches("secret-0123456789", signature, *changed)
    assert not signature_matches("another-secret-xx", signature, *args)
    assert check_timestamp("1764043200", 1764043200 + 299, 300) is None
    assert check_timestamp("1764043200", 1764043200 + 301, 300) is not None
    assert check_timestamp("-5", 0, 300) is not None


def _order_doc(**order: object) -> dict:
    return {"version": 1, "kind": "order", "seq": 1, "sender": {"platform": "gov-12345", "org_code": ORG},
            "order": {"id": "a1b2", "number": "12345-20261125-0001", "mode": "online", "citizen_number": "13800138000",
                      "source_centre": "12345", "target_centre": "110", "created_at": "2026-11-25T09:30:00+08:00",
                      **order}}


def test_order_documents_are_checked_field_by_field() -> None:
    assert check_order_document(_order_doc())
    for doc, field in ((_order_doc(citizen_number="138\n0"), "order.citizen_number"),
                       (_order_doc(division_code="4507"), "order.division_code"),
                       (_order_doc(created_at="2026-11-25T09:30:00"), "order.created_at"),
                       (_order_doc(emergency="yes"), "order.emergency"),
                       ({**_order_doc(), "seq": 2}, "seq"),
                       ({**_order_doc(), "sender": {"platform": "x", "org_code": "123"}}, "sender.org_code")):
        with pytest.raises(DocumentError) as caught:
            check_order_document(doc)
        assert caught.value.field == field


def test_an_order_without_a_number_crosses_as_an_empty_one_never_as_another() -> None:
    assert check_order_document(_order_doc(citizen_number=""))["order"]["citizen_number"] == ""
    for value in (None, "1380013|8000", "0" * 33):
        with pytest.raises(DocumentError) as caught:
            check_order_document(_order_doc(citizen_number=value))
        assert caught.value.field == "order.citizen_number"


def test_a_return_needs_a_reason_and_feedback_a_result() -> None:
    base = {"version": 1, "kind": "status", "seq": 1, "at": "2026-11-25T10:00:00+08:00",
            "sender": {"platform": "police-110"}, "order": {"id": "b1"}, "your_order": {"id": "a1"}, "by": {}}
    assert check_status_document({**base, "status": "signed"})
    for status, field in (("returned", "reason"), ("feedback", "result"), ("lost", "status")):
        with pytest.raises(DocumentError) as caught:
            check_status_document({**base, "status": status})
        assert caught.value.field == field


def test_federation_settings_read_peers_secrets_and_codes_and_name_bad_variables() -> None:
    env = {"HOTLINE_CENTRES": "12345:1001", "HOTLINE_FEDERATION_NAME": "gov-12345",
           "HOTLINE_PEERS": "police-110=http://10.0.0.2:8080 centres=110 secret_env=PEER_SECRET",
           "PEER_SECRET": "0123456789abcdef", "HOTLINE_DIVISION_CODE": "450700", "HOTLINE_ORG_CODE": ORG,
           "HOTLINE_FEDERATION_RETRY": "1,2,3"}
    fed = Settings.from_env(env).federation
    assert fed.peer_of_centre("110").name == "police-110" and fed.retry_s == (1.0, 2.0, 3.0)  # type: ignore[union-attr]
    assert "0123456789abcdef" not in repr(fed)
    for change, variable in (({"PEER_SECRET": "short"}, "PEER_SECRET"),
                             ({"HOTLINE_FEDERATION_NAME": ""}, "HOTLINE_FEDERATION_NAME"),
                             ({"HOTLINE_DIVISION_CODE": "4507"}, "HOTLINE_DIVISION_CODE"),
                             ({"HOTLINE_ORG_CODE": ORG[:17] + "0"}, "HOTLINE_ORG_CODE"),
                             ({"HOTLINE_FEDERATION_RETRY": "5,x"}, "HOTLINE_FEDERATION_RETRY"),
                             ({"HOTLINE_PEERS": "police-110=http://x centres=110"}, "HOTLINE_PEERS"),
                             ({"HOTLINE_CENTRES": "12345:1001;110:2001"}, "HOTLINE_PEERS")):
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({**env, **change})
        assert caught.value.name == variable
    assert FederationSettings.from_env({}).peers == ()


# --- foreign peers: the mapping as data (core/federation_mapping.py) -------

def _ga110():
    import json

    from core.federation_mapping import parse_mapping
    from core.settings import MAPPINGS_DIR
    return parse_mapping(json.loads((MAPPINGS_DIR / "ga-110.json").read_text("utf-8")), "ga-110")


def test_shipped_ga110_mapping_turns_a_jjd_into_an_order_document_naming_its_fields():
    from core.federation import check_order_document
    from core.federation_mapping import jjd_to_order_document

    mapping = _ga110()
    jjd = {"JJDBH": "J1", "BJDH": "13900000000", "BJSJ": "2026-11-30 08:00:00", "BJNR": "求助", "XZQHDM": "450702",
           "SFBM": "1", "GXDWMC": "文峰派出所"}
    doc, extra = jjd_to_order_document(jjd, mapping, platform="qz-110", source_centre="110", target_centre="12345")
    checked = check_order_document(doc)
    assert checked["order"]["id"] == checked["order"]["number"] == "J1"
    assert (checked["order"]["citizen_number"], checked["order"]["created_at"]) == (
        "13900000000", "2026-11-30T08:00:00+08:00")
    assert extra["confidential"] is True and extra["unit_name"] == "文峰派出所"
    with pytest.raises(DocumentError) as caught:
        jjd_to_order_document({k: v for k, v in jjd.items() if k != "BJDH"}, mapping, platform="p",
                              source_centre="110", target_centre="12345")
    assert caught.value.field == "BJDH"
    with pytest.raises(DocumentError) as caught:
        jjd_to_order_document({**jjd, "BJSJ": "yesterday"}, mapping, platform="p", source_centre="110",
                              target_centre="12345")
    assert caught.value.field == "BJSJ"


def test_status_documents_go_out_in_the_peers_names_codes_and_time_format():
    from core.federation_mapping import status_to_foreign

    mapping = _ga110()
    doc = {"status": "returned", "at": "2026-11-30T01:02:03+00:00", "order": {"id": "o1", "number": "12345-1"},
           "your_order": {"id": "J1"}, "by": {"name": "seat:a", "unit": "U"}, "reason": "不属于本单位"}
    sent = status_to_foreign(doc, mapping)
    assert sent is not None
    path, body = sent
    assert path == "/api/jjd/return"
    assert body["JJDBH"] == "J1" and body["ZTDM"] == "02" and body["HANDLEOPINION"] == "不属于本单位"
    assert body["HANDLETIME"] == "2026-11-30 09:02:03" and body["HANDLEBMDM"] == ""
    assert status_to_foreign({**doc, "status": "on_site"}, mapping) is None  # not a status it takes


def test_a_peer_declares_its_mapping_by_name():
    peers = parse_peers("qz-110=https://110.example:8443 centres=110 secret_env=S110 mapping=ga-110")
    assert peers[0].mapping == "ga-110"
    with pytest.raises(PeerError, match="mapping"):
        parse_peers("qz-110=https://110.example centres=110 secret_env=S110 mapping=../etc/passwd")


def test_a_peer_handoff_call_is_believed_only_from_the_trunk_of_its_source_centre():
    from app.federation.agi import NAMES, peer_call
    from core.centres import parse_centres
    from core.settings import SiteSettings, TrunkSettings
    from core.trunks import parse_remote_centres, parse_trunks

    trunks = parse_trunks("peer-12345=sip:10.0.0.1:5060;match=10.0.0.1:5060", {})
    settings = Settings(site=SiteSettings(centres=parse_centres("110:2001-2002")),
                        trunks=TrunkSettings(trunks=trunks, remote_centres=parse_remote_centres("12345=peer-12345",
                                                                                                  trunks)))
    good = dict(zip(NAMES, ("a1b2-c3", "12345", "1001", "12345-20261130-0001", "110", "13800138000", "peer-12345",
                            "1764500000.12"), strict=True))
    call = peer_call(good, "PJSIP/peer-12345-00000001", settings)
    assert not isinstance(call, str)
    assert (call.handoff_id, call.source_centre, call.seat, call.order_number, call.trunk) == (
        "a1b2-c3", "12345", "1001", "12345-20261130-0001", "peer-12345")
    for key, value, why in (("CHANNEL(endpoint)", "carrier", "trunk"), ("HOTLINE_FIRST_CENTRE", "119", "trunk"),
                            ("HOTLINE_CENTRE", "12345", "not served"), ("HOTLINE_PEER_ORDER", "x;y", "order"),
                            ("HOTLINE_PEER_HANDOFF", "-bad", "malformed"), ("HOTLINE_CITIZEN", "1380'--", "phone")):
        refused = peer_call({**good, key: value}, "PJSIP/x", settings)
        assert isinstance(refused, str) and why in refused, (key, refused)
