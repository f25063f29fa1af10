"""The rendered Asterisk configuration: ports, secrets, seats, no defaults."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.runtime.render import render
from app.runtime.secrets import load_or_create
from core.settings import Settings
from tests.support.dialplan import rendered_dialplan


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SIP_PORT": "15060",
                              "HOTLINE_AMI_PORT": "15038", **env})


def test_when_rendered_then_ami_secret_is_generated_and_kept(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    first = load_or_create(s)
    render(s, first)
    manager = (s.paths.run_dir / "etc" / "manager.conf").read_text()
    assert f"secret = {first.ami_secret}" in manager and len(first.ami_secret) >= 20
    assert "port = 15038" in manager
    assert (s.paths.run_dir / "etc" / "manager.conf").stat().st_mode & 0o077 == 0
    assert load_or_create(s) == first  # a second start keeps the secrets
    assert load_or_create(_settings(tmp_path / "other")).ami_secret != first.ami_secret


def test_when_rendered_then_every_seat_is_a_pjsip_endpoint_signed_in_at_start(tmp_path: Path) -> None:
    s = _settings(tmp_path, HOTLINE_CENTRES="12345:1001-1002;110:2001")
    secrets = load_or_create(s)
    render(s, secrets)
    etc = s.paths.run_dir / "etc"
    pjsip = (etc / "pjsip.conf").read_text()
    queues = (etc / "queues.conf").read_text()
    seats = (etc / "hotline-seats.conf").read_text()
    for ext in ("1001", "1002", "2001"):
        assert f"[{ext}](seat-endpoint)" in pjsip
        assert f"password = {secrets.seat_passwords[ext]}" in pjsip
        # seats are dynamic members (签入/签出): the boot context signs each in or out
        assert f"member => PJSIP/{ext}" not in queues
        assert f"Gosub(hotline-seat-state,boot,1({ext}))" in seats
    assert "persistentmembers = yes" in queues
    assert "AddQueueMember(hotline-${centre},PJSIP/${seat},0,,${seat},PJSIP/${seat})" in seats
    assert "channel originate Local/s@hotline-seats-boot application NoOp = yes" in (etc / "cli.conf").read_text()
    assert "bind = 127.0.0.1:15060" in pjsip
    for q in ("[hotline-12345]", "[hotline-12345-linkage]", "[hotline-110]", "[hotline-110-linkage]"):
        assert q in queues


def test_when_ami_secret_is_set_then_it_is_used(tmp_path: Path) -> None:
    s = _settings(tmp_path, HOTLINE_AMI_SECRET="site-chosen-secret-123")
    render(s, load_or_create(s))
    assert "secret = site-chosen-secret-123" in (s.paths.run_dir / "etc" / "manager.conf").read_text()


@pytest.mark.parametrize(("env", "line"), [
    ({}, "disabledevents = Newexten,VarSet"),
    ({"HOTLINE_AMI_DISABLED_EVENTS": "Newexten, VarSet,Cdr"}, "disabledevents = Newexten,VarSet,Cdr"),
    ({"HOTLINE_AMI_DISABLED_EVENTS": ""}, None),
])
def test_the_events_nothing_reads_are_disabled_in_asterisk_itself(tmp_path: Path, env: dict[str, str],
                                                                   line: str | None) -> None:
    s = _settings(tmp_path, **env)
    render(s, load_or_create(s))
    settings_lines = [x for x in (s.paths.run_dir / "etc" / "manager.conf").read_text().splitlines()
                      if x.startswith("disabledevents")]
    assert settings_lines == ([line] if line else [])


@pytest.mark.parametrize(("env", "declined"), [
    ({}, ["ast_channel_varset_type"]),
    ({"HOTLINE_AMI_DISABLED_EVENTS": "Newexten,Cdr"}, []),   # VarSet raised: its message must exist
    ({"HOTLINE_AMI_DISABLED_EVENTS": ""}, []),
])
def test_a_disabled_event_s_message_is_declined_in_stasis_when_nothing_else_reads_it(
        tmp_path: Path, env: dict[str, str], declined: list[str]) -> None:
    s = _settings(tmp_path, **env)
    render(s, load_or_create(s))
    stasis = (s.paths.run_dir / "etc" / "stasis.conf").read_text().splitlines()
    assert "[declined_message_types]" in stasis
    assert [x.split("=", 1)[1].strip() for x in stasis if x.startswith("decline")] == declined


def test_modules_conf_loads_only_modules_the_install_script_builds(tmp_path: Path) -> None:
    import re

    from core.settings import PROJECT_ROOT

    modules = re.findall(r"^load => (\S+)\.so", (PROJECT_ROOT / "asterisk-conf" / "modules.conf.j2").read_text(), re.M)
    script = (PROJECT_ROOT / "scripts" / "install-asterisk").read_text()
    built = set(script.split('MODULES="', 1)[1].split('"', 1)[0].split())
    missing = [m for m in modules if m not in built]
    assert not missing, f"modules.conf loads modules the build does not enable: {missing}"


def test_classic_agi_wrapper_carries_the_route_settings_without_exposing_secrets(tmp_path: Path) -> None:
    from agi.classic import read_env_file

    s = _settings(tmp_path, HOTLINE_DATABASE_URL="postgresql+asyncpg://hotline:s3cr'et $x@db.example/orders",
                  HOTLINE_REDIS_URL="redis://:r3dis'pw@127.0.0.1:6379/2", HOTLINE_REDIS_PREFIX="site1:",
                  HOTLINE_RELEASE_MODES="110:immediate", HOTLINE_HANDOFF_TIMEOUT="45",
                  HOTLINE_DESTINATION_ROUTES="120=PJSIP/120@city-trunk;water=Local/87654321@utility/n",
                  HOTLINE_SIGN_LIMITS="urgent=20", HOTLINE_ON_SITE_LIMITS="", HOTLINE_SEAT_MODE="simulated")
    render(s, load_or_create(s))
    wrapper = s.paths.run_dir / "agi-bin" / "hotline-agi"
    env_file = s.paths.run_dir / "etc" / "hotline-agi.env"
    assert wrapper.stat().st_mode & 0o777 == 0o700
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert "s3cr" not in wrapper.read_text() and "r3dis" not in wrapper.read_text()
    assert f"--env-file {env_file}" in wrapper.read_text()

    back = Settings.from_env(read_env_file(env_file))
    assert (back.site, back.redis, back.database, back.handoff, back.logging) == (s.site, s.redis, s.database,
                                                                                 s.handoff, s.logging)
    assert back.paths.state_dir == s.paths.state_dir
    assert (back.orders.jurisdiction, back.orders.time_limits) == (s.orders.jurisdiction, s.orders.time_limits)
    assert back.effective_database_url == s.effective_database_url


# ------------------------------------------------------------------ the dialplan's files

TEST_RIG_CONTEXTS = ("hotline-seat-phones", "hotline-destination-phone", "hotline-citizen-phone", "hotline-bench")


def _contexts(path: Path) -> set[str]:
    import re

    return set(re.findall(r"^\[([^\]]+)\]", path.read_text(), re.M))


def test_when_rendered_for_sip_seats_then_the_dialplan_has_no_test_rig_context(tmp_path: Path) -> None:
    from core.settings import PROJECT_ROOT

    rig = _contexts(PROJECT_ROOT / "dialplan" / "hotline-test-rig.conf.j2")
    assert set(TEST_RIG_CONTEXTS) <= rig
    s = _settings(tmp_path)  # `hotline render` with the default SIP seats
    assert s.site.seat_mode == "sip"
    render(s, load_or_create(s))
    files = rendered_dialplan(s)
    assert "hotline-test-rig.conf" not in files
    assert not (s.paths.run_dir / "etc" / "hotline-test-rig.conf").exists()
    text = "\n".join(files.values())
    for context in rig:
        assert f"[{context}]" not in text, context
    assert {"hotline-inbound.conf", "hotline-seats.conf", "hotline-handoff.conf", "hotline-threeway.conf"} <= set(files)


def test_when_rendered_for_the_rig_then_its_contexts_are_included(tmp_path: Path) -> None:
    simulated = _settings(tmp_path / "sim", HOTLINE_SEAT_MODE="simulated")
    render(simulated, load_or_create(simulated))  # simulated seats are the rig's phones
    assert "hotline-test-rig.conf" in rendered_dialplan(simulated)
    sip = _settings(tmp_path / "sip")
    render(sip, load_or_create(sip), test_rig=True)  # e.g. the SIP-seat tests' citizens
    assert set(TEST_RIG_CONTEXTS) <= _contexts(sip.paths.run_dir / "etc" / "hotline-test-rig.conf")
    render(sip, load_or_create(sip))  # rendered again for production: the rig's file goes
    assert not (sip.paths.run_dir / "etc" / "hotline-test-rig.conf").exists()


# The two lines rendered from core/fast_path.py, joined so the handoff key
# takes as few dialplan steps as before (each step is time on the citizen's
# way); every other line, and every template line, stays short.
# the key's guard and writes, and the phone's own transfer's (once per centre)
GENERATED = ("exten => key,1(checked),", " same => n(guard),", " same => n(fast),", " same => n(after),",
             " same => n(astdb),", " same => n(late_after),", " same => n(late_astdb),",
             " same => n(check_",  # the test rig's checks (hotline-rig-checks)
             "exten => _to-")  # the citizen's first step after the move: what it carries, and its own


@pytest.mark.parametrize("mode", ["sip", "simulated"])
def test_no_dialplan_line_is_longer_than_200_characters_but_the_generated_guard_and_writes(
        tmp_path: Path, mode: str) -> None:
    from core.settings import PROJECT_ROOT

    s = _settings(tmp_path, HOTLINE_SEAT_MODE=mode, HOTLINE_CENTRES="12345:1001-1004;110:2001-2002;12315:3001")
    render(s, load_or_create(s), test_rig=True)
    rendered = [(name, n, line) for name, text in rendered_dialplan(s).items()
                for n, line in enumerate(text.splitlines(), 1)]
    templates = [(path.name, n, line) for path in sorted((PROJECT_ROOT / "dialplan").glob("*.j2"))
                 for n, line in enumerate(path.read_text().splitlines(), 1)]
    long = [(name, n, len(line)) for name, n, line in rendered + templates
            if len(line) > 200 and not line.startswith(GENERATED)]
    assert not long, f"lines over 200 characters (file, line, length): {long}"
    # the key: its checked facts, its guard, its move and its two writes after it (and the same
    # two in its hangup handler); the phone's transfer: guard and writes per centre; the citizen's
    # first step after the move, per centre
    assert sum(line.startswith(GENERATED) for name, _, line in rendered if name != "hotline-test-rig.conf") \
        == 5 + 2 + 2 * 3 + 3


def test_when_behind_nat_then_both_transports_carry_the_external_address_outside_the_local_nets(
        tmp_path: Path) -> None:
    s = _settings(tmp_path, HOTLINE_BIND_HOST="0.0.0.0", HOTLINE_EXTERNAL_ADDRESS="198.51.100.5",
                  HOTLINE_LOCAL_NETS="192.168.1.0/24")
    render(s, load_or_create(s))
    pjsip = (s.paths.run_dir / "etc" / "pjsip.conf").read_text()
    for transport in ("udp", "tcp"):
        block = pjsip.split(f"[transport-{transport}]", 1)[1].split("\n[", 1)[0]
        assert "bind = 0.0.0.0:15060" in block
        assert "external_signaling_address = 198.51.100.5" in block
        assert "external_media_address = 198.51.100.5" in block
        assert "local_net = 192.168.1.0/24" in block
    plain = _settings(tmp_path / "plain")
    render(plain, load_or_create(plain))
    assert "external_" not in (plain.paths.run_dir / "etc" / "pjsip.conf").read_text()


def _sections(etc: Path) -> dict[str, str]:
    """Every dialplan context's text in the rendered files (by name)."""
    import re

    sections: dict[str, str] = {}
    for path in etc.glob("*.conf"):
        for name, body in re.findall(r"^\[([^\]]+)\]\n(.*?)(?=^\[|\Z)", path.read_text(), re.M | re.S):
            sections[name] = sections.get(name, "") + body
    return sections


def test_the_contexts_the_three_way_key_passes_through_are_those_its_move_waits_out(tmp_path: Path) -> None:
    # the move waits while the key's leg is in any of FEATURE_CONTEXTS: they
    # must be every context its feature's Gosub reaches, and nothing else
    import re

    from app.threeway.telephony import FEATURE_CONTEXT, FEATURE_CONTEXTS

    s = _settings(tmp_path)
    render(s, load_or_create(s))
    etc = s.paths.run_dir / "etc"
    features = (etc / "features.conf").read_text()
    assert re.search(rf"^hotline-threeway => .*,self,Gosub\({FEATURE_CONTEXT},", features, re.M), features
    sections = _sections(etc)
    reached, todo = set(), [FEATURE_CONTEXT]
    while todo:
        context = todo.pop()
        if context not in reached:
            reached.add(context)
            todo += re.findall(r"Gosub\(([a-z0-9-]+),", sections[context])
    assert reached == FEATURE_CONTEXTS
