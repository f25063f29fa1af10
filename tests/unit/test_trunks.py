"""Trunks between platforms (core/trunks.py, TrunkSettings) and the handoff to a
remote centre (core.handoff.plan_handoff) — pure, table-tested; plus what is
rendered from them (pjsip.conf, the receiving dialplan, manager.conf)."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from app.runtime.render import render
from app.runtime.secrets import load_or_create
from core import channel_vars as cv
from core.centres import parse_centres
from core.handoff import (
    HandoffPlan,
    HandoffRequest,
    partner_id,
    plan_handoff,
    return_reason,
)
from core.refusals import Refusal
from core.settings import Settings, SettingsError
from core.threeway import ThreeWayPlan, ThreeWayRequest, plan_start
from core.trunks import HANDOFF_HEADER_PATTERN, handoff_header, is_handoff_header
from tests.support.dialplan import rendered_dialplan

A_CENTRES = parse_centres("12345:1001-1002")
SEAT_1001 = "Local/1001@hotline-seat-phones-0000000d;1"
CITIZEN_LEG = "Local/12345@hotline-inbound-0000000c;2"
PEER = "peer-110=sip:10.0.0.2:5060;match=10.0.0.2:5060"


def settings(**env: str) -> Settings:
    return Settings.from_env({"HOTLINE_CENTRES": "12345:1001-1002", **env})


def test_a_peer_trunk_and_a_remote_centre_are_read() -> None:
    s = settings(HOTLINE_TRUNKS=PEER + ";transport=tcp;qualify=5,carrier=sip:192.0.2.1:5060;match=192.0.2.1;"
                                      "kind=carrier;auth=acme:CARRIER_SECRET",
                 CARRIER_SECRET="a-long-secret-1", HOTLINE_REMOTE_CENTRES="110=peer-110")
    peer, carrier = s.trunks.trunks
    assert (peer.name, peer.host, peer.port, peer.match, peer.transport, peer.kind, peer.qualify_s) == \
        ("peer-110", "10.0.0.2", 5060, "10.0.0.2:5060", "tcp", "peer", 5)
    assert peer.contact == "sip:10.0.0.2:5060;transport=tcp"
    assert (carrier.kind, carrier.username, carrier.password) == ("carrier", "acme", "a-long-secret-1")
    assert "a-long-secret-1" not in repr(carrier)
    assert s.trunks.trunk_of_centre("110") == peer


@pytest.mark.parametrize(("env", "variable", "says"), [
    ({"HOTLINE_TRUNKS": "peer-110=sip:10.0.0.2:5060"}, "HOTLINE_TRUNKS", "match"),
    ({"HOTLINE_TRUNKS": "peer-110=sip:10.0.0.2;match=10.0.0.2"}, "HOTLINE_TRUNKS", "sip:HOST:PORT"),
    ({"HOTLINE_TRUNKS": PEER + ";transport=tls"}, "HOTLINE_TRUNKS", "udp or tcp"),
    ({"HOTLINE_TRUNKS": PEER + ";kind=friend"}, "HOTLINE_TRUNKS", "peer or carrier"),
    ({"HOTLINE_TRUNKS": PEER + ";qualify=0"}, "HOTLINE_TRUNKS", "watched"),
    ({"HOTLINE_TRUNKS": "peer-110=sip:10.0.0.2:5060;match=host.example"}, "HOTLINE_TRUNKS", "IPv4"),
    ({"HOTLINE_TRUNKS": PEER + "," + PEER}, "HOTLINE_TRUNKS", "twice"),
    ({"HOTLINE_TRUNKS": PEER + ";max=0"}, "HOTLINE_TRUNKS", "1 to 1000"),
    ({"HOTLINE_TRUNKS": PEER + ";max=1001"}, "HOTLINE_TRUNKS", "1 to 1000"),
    ({"HOTLINE_TRUNKS": PEER + ";max=two"}, "HOTLINE_TRUNKS", "max='two'"),
    ({"HOTLINE_TRUNKS": PEER + ";max=2;max=3"}, "HOTLINE_TRUNKS", "each once"),
    ({"HOTLINE_TRUNKS": "Peer=sip:10.0.0.2:5060;match=10.0.0.2"}, "HOTLINE_TRUNKS", "NAME"),
    ({"HOTLINE_TRUNKS": PEER + ";auth=u:MISSING_SECRET"}, "MISSING_SECRET", "password"),
    ({"HOTLINE_TRUNKS": PEER, "HOTLINE_REMOTE_CENTRES": "110=nowhere"}, "HOTLINE_REMOTE_CENTRES", "not declared"),
    ({"HOTLINE_TRUNKS": "c=sip:10.0.0.2:5060;match=10.0.0.2;kind=carrier", "HOTLINE_REMOTE_CENTRES": "110=c"},
     "HOTLINE_REMOTE_CENTRES", "carrier"),
    ({"HOTLINE_TRUNKS": PEER, "HOTLINE_REMOTE_CENTRES": "12345=peer-110"}, "HOTLINE_REMOTE_CENTRES",
     "served here"),
])
def test_a_bad_trunk_or_remote_centre_names_its_variable(env: dict[str, str], variable: str, says: str) -> None:
    with pytest.raises(SettingsError) as err:
        settings(**env)
    assert err.value.name == variable and says in err.value.reason


def plan(target: str | None = None, **kw: object) -> HandoffPlan | Refusal:
    return plan_handoff(HandoffRequest(SEAT_1001, CITIZEN_LEG, "13800138000", "12345", target=target),
                        centres=A_CENTRES, seat_mode="simulated", routes={}, release_modes={}, timeout_s=30,
                        **kw)  # type: ignore[arg-type]


def test_the_key_on_a_12345_only_platform_hands_to_110_over_its_peer_trunk() -> None:
    p = plan(remote={"110": "peer-110"})
    assert isinstance(p, HandoffPlan)
    assert (p.target_centre, p.dial, p.queue, p.trunk) == ("110", "PJSIP/110@peer-110", None, "peer-110")
    variables = p.citizen_variables("e935893e-63a8-47ed-81c3-6851f3ba7728")
    assert variables[cv.HANDOFF_HEADER] == "e935893e-63a8-47ed-81c3-6851f3ba7728;src=12345;seat=1001"
    assert variables[cv.HANDOFF_DIAL] == "PJSIP/110@peer-110"
    assert f"__{cv.CENTRE}" not in variables  # the centre is the far platform's


def test_once_the_order_is_numbered_the_header_carries_its_number() -> None:
    p = plan(remote={"110": "peer-110"})
    assert isinstance(p, HandoffPlan)
    numbered = replace(p, order_number="12345-20261130-0007")
    assert numbered.citizen_variables("1796065443.2")[cv.HANDOFF_HEADER] == \
        "1796065443.2;src=12345;seat=1001;order=12345-20261130-0007"
    for bad in ("", "12345 20261130", "x" * 41, "12345;src=1", "工单-1"):  # never sent: the header goes without it
        header = replace(p, order_number=bad).citizen_variables("1796065443.2")[cv.HANDOFF_HEADER]
        assert header == "1796065443.2;src=12345;seat=1001"


def test_a_three_way_call_over_the_trunk_carries_the_order_number_too() -> None:
    p = plan_start(ThreeWayRequest(SEAT_1001, CITIZEN_LEG, "13800138000", "12345", "12345"),
                   centres=A_CENTRES, timeout_s=30, remote={"110": "peer-110"})
    assert isinstance(p, ThreeWayPlan)
    ring = replace(p, order_number="12345-20261130-0008").ring_variables("e935893e-63a8-47ed-81c3-6851f3ba7728")
    assert ring[f"__{cv.THREEWAY_HEADER}"] == \
        "e935893e-63a8-47ed-81c3-6851f3ba7728;src=12345;seat=1001;order=12345-20261130-0008"


def test_the_destination_key_reaches_a_remote_centre_too() -> None:
    p = plan("110", remote={"110": "peer-110"})
    assert isinstance(p, HandoffPlan) and p.dial == "PJSIP/110@peer-110"


def test_without_a_remote_centre_the_key_is_refused_as_before() -> None:
    assert plan() == Refusal("unknown_target")
    assert partner_id(A_CENTRES, {}, "12345") is None
    assert partner_id(parse_centres("12345:1001;110:2001"), {"119": "t"}, "12345") == "110"  # local first


@pytest.mark.parametrize(("status", "reason"), [("NOANSWER", "no_answer"), ("REJECTED", "rejected"),
                                                ("UNREACHABLE", "unreachable")])
def test_a_trunk_handoff_returns_with_its_reason(status: str, reason: str) -> None:
    assert return_reason(status) == reason


@pytest.mark.parametrize("value", [
    "", "x;src=12345", "id;src=12345;seat=1001;extra=1", "id;src=12345;seat=1001\r\nX: y",
    "${SHELL(id)};src=12345;seat=1001", "id;src=12345;seat=10,01", "a" * 70 + ";src=12345;seat=1",
    'id";src=12345;seat=1001',
])
def test_a_bad_handoff_header_is_refused(value: str) -> None:
    assert not is_handoff_header(value)


def test_a_good_handoff_header_is_accepted_in_python_and_in_the_dialplan_alike() -> None:
    value = handoff_header("1796065443.2", "12345", "1001", "GD-20261130-0001")
    assert is_handoff_header(value)
    assert re.fullmatch(HANDOFF_HEADER_PATTERN, value)


def test_trunks_are_rendered_per_kind_and_ami_binds_where_clients_connect(tmp_path: Path) -> None:
    s = settings(HOTLINE_STATE_DIR=str(tmp_path), HOTLINE_BIND_HOST="127.0.0.2", HOTLINE_SEAT_MODE="simulated",
                 HOTLINE_TRUNKS=PEER + ",carrier=sip:192.0.2.1:5060;match=192.0.2.1;kind=carrier",
                 HOTLINE_REMOTE_CENTRES="110=peer-110")
    render(s, load_or_create(s), test_rig=False)
    etc = s.paths.run_dir / "etc"
    pjsip = (etc / "pjsip.conf").read_text()
    assert "[peer-110](trunk-peer-endpoint)" in pjsip and "[carrier](trunk-carrier-endpoint)" in pjsip
    carrier_template = pjsip.split("[trunk-carrier-endpoint](!)")[1].split("\n\n")[0]
    for line in ("send_pai = no", "trust_id_outbound = no", "trust_id_inbound = no", "send_connected_line = no"):
        assert line in carrier_template
    peer_template = pjsip.split("[trunk-peer-endpoint](!)")[1].split("\n\n")[0]
    assert "allow_transfer = no" in carrier_template and "allow_transfer = no" in peer_template  # REFER declined
    aor = pjsip.split("[peer-110](trunk-aor)")[1]
    assert aor.index("qualify_frequency = 30") < aor.index("contact = sip:10.0.0.2:5060")
    assert f"#tryinclude {tmp_path}/site/pjsip.conf" in pjsip
    assert f"#tryinclude {tmp_path}/site/extensions.conf" in (etc / "extensions.conf").read_text()
    assert f"#tryinclude {tmp_path}/site/queues.conf" in (etc / "queues.conf").read_text()
    assert "bindaddr = 127.0.0.1" in (etc / "manager.conf").read_text()
    assert s.ami.host == "127.0.0.1"
    trunks = (etc / "hotline-trunks.conf").read_text()
    assert "hotline-trunk-capture" not in trunks  # the test rig's capture only in the rig


def test_the_three_way_key_on_a_12345_only_platform_rings_110_over_its_peer_trunk() -> None:
    request = ThreeWayRequest(seat_channel=SEAT_1001, citizen_channel=CITIZEN_LEG, citizen_number="13800138000",
                              centre="12345", first_centre="12345")
    assert plan_start(request, centres=A_CENTRES, timeout_s=30) == Refusal("unknown_target")
    p = plan_start(request, centres=A_CENTRES, timeout_s=30, remote={"110": "peer-110"})
    assert isinstance(p, ThreeWayPlan) and (p.target_centre, p.queue, p.trunk) == ("110", "", "peer-110")
    ring = p.ring_variables("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    assert ring[f"__{cv.THREEWAY_DIAL}"] == "PJSIP/110@peer-110"
    assert ring[f"__{cv.THREEWAY_HEADER}"] == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0;src=12345;seat=1001"


def test_a_trunk_s_overflow_limit_is_read_and_renders_its_hold_in_the_dialplan(tmp_path: Path) -> None:
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SEAT_MODE": "simulated",
                           "HOTLINE_CENTRES": "12345:1001-1002",
                           "HOTLINE_TRUNKS": PEER + ";max=4,peer-b=sip:10.0.0.3:5060;match=10.0.0.3"})
    limited, plain = s.trunks.trunks
    assert (limited.max_calls, plain.max_calls) == (4, None)
    render(s, load_or_create(s))
    conf = rendered_dialplan(s)
    legs = conf["hotline-seats.conf"]
    assert 'GotoIf(${REGEX("^PJSIP/(peer-110)-[0-9a-f]+$" ${CHANNEL(name)})}?trunk)' in legs  # only limited trunks
    trunks = conf["hotline-trunks.conf"]
    assert "exten => peer-110,1,Set(GROUP(hotline-trunk-overflow)=peer-110)" in trunks
    assert "${GROUP_COUNT(peer-110@hotline-trunk-overflow)} > 4]?full)" in trunks
    assert "exten => peer-b," not in trunks


def test_without_a_limited_trunk_a_seat_s_leg_takes_no_extra_step(tmp_path: Path) -> None:
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SEAT_MODE": "simulated",
                           "HOTLINE_TRUNKS": PEER})
    render(s, load_or_create(s))
    conf = rendered_dialplan(s)
    assert "exten => s,1,MSet(DYNAMIC_FEATURES=" in conf["hotline-seats.conf"]
    assert "hotline-trunk-seat" not in conf["hotline-trunks.conf"]
