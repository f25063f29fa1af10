"""Settings: read once from env, each part its own variables; a bad value fails naming the variable."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.centres import centres_spec, extension_patterns, extension_runs, parse_centres
from core.feature_keys import (
    BUILTIN_FEATURE_KEYS,
    THREE_WAY_KEYS,
    FeatureKeyError,
    check_feature_keys,
)
from core.settings import (
    PROJECT_ROOT,
    RENAMED_VARIABLES,
    AmiSettings,
    DatabaseSettings,
    HandoffSettings,
    LogSettings,
    NetworkSettings,
    OrderSettings,
    OverflowSettings,
    PathSettings,
    RedisSettings,
    Settings,
    SettingsError,
    SiteSettings,
    ThreeWaySettings,
    deprecated_variables,
)

CENTRE_IDS = ("12345", "110")


def read(part: type, env: Mapping[str, str]) -> Any:
    """One part's from_env (the handoff part also needs the site's centres)."""
    if part is HandoffSettings:
        return HandoffSettings.from_env(env, centre_ids=CENTRE_IDS)
    return part.from_env(env)  # type: ignore[attr-defined]


def test_when_env_is_empty_then_defaults_give_two_centres_with_their_seats() -> None:
    s = Settings.from_env({})
    assert [c.id for c in s.site.centres] == ["12345", "110"]
    assert [seat.extension for seat in s.site.centres[0].seats] == ["1001", "1002", "1003", "1004"]
    assert s.ami.secret is None  # generated per installation, never a default
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")


def test_when_env_is_empty_then_every_part_is_its_default() -> None:
    """The dataclass defaults and the documented defaults are the same values."""
    s = Settings.from_env({})
    assert s == Settings()
    for part in (SiteSettings, PathSettings, NetworkSettings, AmiSettings, RedisSettings, DatabaseSettings,
                 HandoffSettings, ThreeWaySettings, OrderSettings, OverflowSettings, LogSettings):
        assert read(part, {}) == part(), part.__name__


def test_settings_from_env_is_the_parts_from_env() -> None:
    env = {"HOTLINE_CENTRES": "12345:1001;110:2001", "HOTLINE_REDIS_PREFIX": "site1:", "HOTLINE_HANDOFF_KEY": "*5",
           "HOTLINE_THREEWAY_TIMEOUT": "9", "HOTLINE_OVERFLOW_CHECK_INTERVAL": "0.5", "HOTLINE_LOG_LEVEL": "debug"}
    s = Settings.from_env(env)
    assert s.site == SiteSettings.from_env(env)
    assert s.redis == RedisSettings(prefix="site1:")
    assert s.handoff == HandoffSettings.from_env(env, centre_ids=CENTRE_IDS) == HandoffSettings(key="*5")
    assert s.threeway == ThreeWaySettings(timeout_s=9)
    assert s.overflow == OverflowSettings(check_s=0.5)
    assert s.logging == LogSettings(level="DEBUG")


# part, env, what it reads: each part parses its own variables
GOOD = [
    (SiteSettings, {"HOTLINE_SEAT_MODE": "simulated", "HOTLINE_QUEUE_TIMEOUT": "60"},
     {"seat_mode": "simulated", "queue_timeout_s": 60}),
    (PathSettings, {"HOTLINE_STATE_DIR": "/srv/hotline", "HOTLINE_ASTERISK_PREFIX": "/opt/asterisk"},
     {"state_dir": Path("/srv/hotline"), "asterisk_prefix": Path("/opt/asterisk"),
      "run_dir": Path("/srv/hotline/asterisk")}),
    (NetworkSettings, {"HOTLINE_BIND_HOST": "0.0.0.0", "HOTLINE_SIP_PORT": "5070", "HOTLINE_RTP_PORTS": "20000-20099",
                       "HOTLINE_AGI_HOST": "10.0.0.5", "HOTLINE_AGI_PORT": "4600", "HOTLINE_HTTP_PORT": "8081"},
     {"bind_host": "0.0.0.0", "sip_port": 5070, "rtp_start": 20000, "rtp_end": 20099, "agi_port": 4600,
      "agi_url": "agi://10.0.0.5:4600", "http_host": "127.0.0.1", "http_port": 8081}),
    (AmiSettings, {"HOTLINE_AMI_PORT": "5039", "HOTLINE_AMI_USER": "pbx", "HOTLINE_AMI_SECRET": "twelve-chars"},
     {"port": 5039, "user": "pbx", "secret": "twelve-chars"}),
    (AmiSettings, {"HOTLINE_AMI_SECRET": ""}, {"secret": None}),
    (AmiSettings, {}, {"disabled_events": ("Newexten", "VarSet")}),
    (AmiSettings, {"HOTLINE_AMI_DISABLED_EVENTS": " Cdr , Newexten "}, {"disabled_events": ("Cdr", "Newexten")}),
    (AmiSettings, {"HOTLINE_AMI_DISABLED_EVENTS": ""}, {"disabled_events": ()}),
    (RedisSettings, {"HOTLINE_REDIS_URL": "unix:///run/redis.sock", "HOTLINE_REDIS_PREFIX": "a:"},
     {"url": "unix:///run/redis.sock", "prefix": "a:"}),
    (DatabaseSettings, {"HOTLINE_DATABASE_URL": "postgresql+asyncpg://h@db/orders"},
     {"url": "postgresql+asyncpg://h@db/orders"}),
    (DatabaseSettings, {"HOTLINE_DATABASE_URL": ""}, {"url": None}),
    (HandoffSettings, {"HOTLINE_HANDOFF_KEY": "*5", "HOTLINE_HANDOFF_TO_KEY": "*6", "HOTLINE_HANDOFF_TIMEOUT": "45",
                       "HOTLINE_HANDOFF_FAST_PATH": "no", "HOTLINE_RELEASE_MODES": "110:immediate",
                       "HOTLINE_DESTINATION_ROUTES": "120=PJSIP/120@trunk", "HOTLINE_HANDOFF_YIELD_MS": "0"},
     {"key": "*5", "to_key": "*6", "timeout_s": 45, "fast_path": False, "release_modes": {"110": "immediate"},
      "destination_routes": {"120": "PJSIP/120@trunk"}, "keys": {"handoff": "*5", "handoff_to": "*6"},
      "yield_ms": 0}),
    (ThreeWaySettings, {"HOTLINE_THREEWAY_START_KEY": "*4", "HOTLINE_THREEWAY_LEAVE_KEY": "*5",
                        "HOTLINE_THREEWAY_CANCEL_KEY": "*6", "HOTLINE_EMERGENCY_KEY": "*7",
                        "HOTLINE_THREEWAY_TIMEOUT": "5"},
     {"timeout_s": 5, "keys": {"three_way_start": "*4", "three_way_leave": "*5", "three_way_cancel": "*6",
                               "emergency_mark": "*7"}}),
    (OrderSettings, {"HOTLINE_JURISDICTION": "pingliang", "HOTLINE_SIGN_LIMITS": "general=1440",
                     "HOTLINE_ON_SITE_LIMITS": "", "HOTLINE_OVERDUE_CHECK_INTERVAL": "5",
                     "HOTLINE_UNMASKED_ROLES": "", "HOTLINE_TIMEZONE": "Asia/Urumqi"},
     {"jurisdiction": "pingliang", "overdue_check_s": 5, "unmasked_roles": frozenset(), "timezone": "Asia/Urumqi"}),
    (OverflowSettings, {"HOTLINE_OVERFLOW_CHECK_INTERVAL": "0.05", "HOTLINE_OVERFLOW_OPEN_AFTER": "0",
                        "HOTLINE_OVERFLOW_CLEAR_AFTER": "3600"},
     {"check_s": 0.05, "open_after_s": 0, "clear_after_s": 3600}),
    (LogSettings, {"HOTLINE_LOG_LEVEL": "warning"}, {"level": "WARNING"}),
]


@pytest.mark.parametrize("part, env, expected", GOOD, ids=lambda x: x.__name__ if isinstance(x, type) else "")
def test_when_a_part_reads_good_values_then_it_holds_them(part: type, env: dict[str, str],
                                                          expected: dict[str, object]) -> None:
    parsed = read(part, env)
    assert {name: getattr(parsed, name) for name in expected} == expected


def test_when_order_limits_are_set_then_minutes_per_class_and_empty_means_no_limit() -> None:
    orders = OrderSettings.from_env({"HOTLINE_SIGN_LIMITS": "general=1440", "HOTLINE_ON_SITE_LIMITS": ""})
    assert orders.time_limits.sign == {"general": timedelta(days=1)} and orders.time_limits.on_site == {}


@pytest.mark.parametrize("part", [RedisSettings, OverflowSettings, LogSettings, PathSettings])
def test_a_part_reads_only_its_own_variables(part: type) -> None:
    """Another part's bad value is not this part's concern."""
    assert read(part, {"HOTLINE_SIP_PORT": "70000", "HOTLINE_HANDOFF_KEY": "x"}) == part()


BAD = [
    (SiteSettings, "HOTLINE_CENTRES", "12345"),
    (SiteSettings, "HOTLINE_CENTRES", "12345:1001;110:1001"),
    (SiteSettings, "HOTLINE_CENTRES", "12345:x-y"),
    (SiteSettings, "HOTLINE_SEAT_MODE", "magic"),
    (SiteSettings, "HOTLINE_QUEUE_TIMEOUT", "0"),
    (SiteSettings, "HOTLINE_QUEUE_TIMEOUT", "3601"),
    (PathSettings, "HOTLINE_STATE_DIR", "/srv\n/x"),
    (NetworkSettings, "HOTLINE_SIP_PORT", "70000"),
    (NetworkSettings, "HOTLINE_AGI_PORT", "0"),
    (NetworkSettings, "HOTLINE_HTTP_PORT", "http"),
    (NetworkSettings, "HOTLINE_RTP_PORTS", "20000-10000"),
    (NetworkSettings, "HOTLINE_RTP_PORTS", "80-90"),
    (NetworkSettings, "HOTLINE_BIND_HOST", "0.0.0.0\r\nx"),
    (AmiSettings, "HOTLINE_AMI_PORT", "abc"),
    (AmiSettings, "HOTLINE_AMI_SECRET", "short"),
    (AmiSettings, "HOTLINE_AMI_USER", "bad user"),
    (AmiSettings, "HOTLINE_AMI_SECRET", "a-long-enough-secret\r\nAction: Originate"),
    (AmiSettings, "HOTLINE_AMI_DISABLED_EVENTS", "Newexten,Var Set"),
    (AmiSettings, "HOTLINE_AMI_DISABLED_EVENTS", "Newexten\r\ndisabledevents = Hangup"),
    (AmiSettings, "HOTLINE_AMI_DISABLED_EVENTS", "New*"),
    (RedisSettings, "HOTLINE_REDIS_URL", "http://x"),
    (DatabaseSettings, "HOTLINE_DATABASE_URL", "mysql://x"),
    (HandoffSettings, "HOTLINE_HANDOFF_KEY", "*1x"),
    (HandoffSettings, "HOTLINE_HANDOFF_KEY", "#"),  # a prefix of Asterisk's blind transfer #1
    (HandoffSettings, "HOTLINE_HANDOFF_TO_KEY", "*1"),  # the handoff key
    (HandoffSettings, "HOTLINE_HANDOFF_TIMEOUT", "601"),
    (HandoffSettings, "HOTLINE_HANDOFF_FAST_PATH", "sometimes"),
    (HandoffSettings, "HOTLINE_RELEASE_MODES", "119:immediate"),  # not a centre
    (HandoffSettings, "HOTLINE_DESTINATION_ROUTES", "110=PJSIP/110@t"),  # a centre needs no route
    (ThreeWaySettings, "HOTLINE_THREEWAY_LEAVE_KEY", "3a"),
    (ThreeWaySettings, "HOTLINE_EMERGENCY_KEY", "*3"),  # the leave key
    (ThreeWaySettings, "HOTLINE_THREEWAY_START_KEY", "#2"),  # Asterisk's attended transfer
    (ThreeWaySettings, "HOTLINE_THREEWAY_TIMEOUT", "0"),
    (OrderSettings, "HOTLINE_JURISDICTION", "atlantis"),
    (OrderSettings, "HOTLINE_SIGN_LIMITS", "urgent=soon"),
    (OrderSettings, "HOTLINE_UNMASKED_ROLES", "seat,everyone"),
    (OrderSettings, "HOTLINE_OVERDUE_CHECK_INTERVAL", "3601"),
    (OrderSettings, "HOTLINE_TIMEZONE", "Beijing"),
    (OrderSettings, "HOTLINE_TIMEZONE", "Asia"),            # a directory of zones
    (OrderSettings, "HOTLINE_TIMEZONE", "../../etc/passwd"),
    (OverflowSettings, "HOTLINE_OVERFLOW_CHECK_INTERVAL", "0.01"),
    (OverflowSettings, "HOTLINE_OVERFLOW_OPEN_AFTER", "nan"),
    (OverflowSettings, "HOTLINE_OVERFLOW_CLEAR_AFTER", "soon"),
    (LogSettings, "HOTLINE_LOG_LEVEL", "LOUD"),
]


@pytest.mark.parametrize("part, name, value", BAD, ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_when_a_setting_is_malformed_then_its_part_and_settings_fail_naming_it(part: type, name: str,
                                                                               value: str) -> None:
    for parse in (lambda env: read(part, env), Settings.from_env):
        with pytest.raises(SettingsError) as err:
            parse({name: value})
        assert err.value.name == name
        assert name in str(err.value)


def test_when_centres_use_ranges_and_lists_then_all_seats_are_known() -> None:
    s = Settings.from_env({"HOTLINE_CENTRES": "12345:1001-1003,1010;110:2001"})
    assert [x.extension for x in s.site.centres[0].seats] == ["1001", "1002", "1003", "1010"]
    assert s.site.centres[1].queue == "hotline-110" and s.site.centres[1].linkage_queue == "hotline-110-linkage"


def test_when_release_modes_name_a_centre_of_the_site_then_they_are_read_against_its_centres() -> None:
    env = {"HOTLINE_CENTRES": "12345:1001;120:2001", "HOTLINE_RELEASE_MODES": "120:immediate"}
    assert Settings.from_env(env).handoff.release_modes == {"120": "immediate"}
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**env, "HOTLINE_RELEASE_MODES": "110:immediate"})  # 110 is not a centre here
    assert err.value.name == "HOTLINE_RELEASE_MODES"


# --- the old names of the handoff variables ---------------------------------------------------------

def test_rename_table_maps_each_transfer_variable_to_its_handoff_name() -> None:
    assert RENAMED_VARIABLES == {
        "HOTLINE_TRANSFER_KEY": "HOTLINE_HANDOFF_KEY",
        "HOTLINE_TRANSFER_TO_KEY": "HOTLINE_HANDOFF_TO_KEY",
        "HOTLINE_TRANSFER_TIMEOUT": "HOTLINE_HANDOFF_TIMEOUT",
        "HOTLINE_TRANSFER_FAST_PATH": "HOTLINE_HANDOFF_FAST_PATH",
    }


def test_when_only_old_names_are_set_then_they_still_work_with_one_notice_each() -> None:
    env = {"HOTLINE_TRANSFER_KEY": "*5", "HOTLINE_TRANSFER_TO_KEY": "*6", "HOTLINE_TRANSFER_TIMEOUT": "3",
           "HOTLINE_TRANSFER_FAST_PATH": "no"}
    assert Settings.from_env(env).handoff == HandoffSettings(key="*5", to_key="*6", timeout_s=3, fast_path=False)
    assert deprecated_variables(env) == [f"{old} is deprecated: use {new}" for old, new in RENAMED_VARIABLES.items()]


def test_when_new_names_are_set_then_there_is_no_notice() -> None:
    env = {new: value for new, value in zip(RENAMED_VARIABLES.values(), ("*5", "*6", "3", "no"), strict=True)}
    assert Settings.from_env(env).handoff == HandoffSettings(key="*5", to_key="*6", timeout_s=3, fast_path=False)
    assert deprecated_variables(env) == []
    assert deprecated_variables({"HOTLINE_TRANSFER_KEY": ""}) == []  # empty is unset


def test_when_old_and_new_name_agree_then_the_value_is_used() -> None:
    env = {"HOTLINE_TRANSFER_TIMEOUT": "12", "HOTLINE_HANDOFF_TIMEOUT": "12"}
    assert Settings.from_env(env).handoff.timeout_s == 12


def test_when_old_and_new_name_differ_then_the_error_names_both() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"HOTLINE_TRANSFER_TIMEOUT": "12", "HOTLINE_HANDOFF_TIMEOUT": "20"})
    assert err.value.name == "HOTLINE_HANDOFF_TIMEOUT"
    assert "HOTLINE_TRANSFER_TIMEOUT" in str(err.value)


@pytest.mark.parametrize("old, value", [("HOTLINE_TRANSFER_KEY", "*1x"), ("HOTLINE_TRANSFER_TO_KEY", "*12"),
                                        ("HOTLINE_TRANSFER_TIMEOUT", "0"), ("HOTLINE_TRANSFER_FAST_PATH", "maybe"),
                                        ("HOTLINE_TRANSFER_KEY", "*2")])  # clashes with the three-way start key
def test_when_an_old_name_holds_a_bad_value_then_the_error_names_the_variable_that_was_set(old: str,
                                                                                           value: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({old: value})
    assert err.value.name == old


# --- the feature keys: one check --------------------------------------------------------------------

def test_when_keys_are_the_defaults_then_every_one_can_fire() -> None:
    check_feature_keys({**BUILTIN_FEATURE_KEYS, **THREE_WAY_KEYS, "handoff": "*1", "handoff_to": "*8"})
    assert Settings().feature_keys == {**BUILTIN_FEATURE_KEYS, **THREE_WAY_KEYS, "handoff": "*1", "handoff_to": "*8"}


@pytest.mark.parametrize("keys, feature, reason", [
    ({"a": "*1", "b": "*1"}, "b", "clashes with the a key '*1'"),  # equal
    ({"a": "*1", "b": "*12"}, "b", "clashes with the a key '*1'"),  # b could never fire
    ({"a": "*12", "b": "*1"}, "b", "clashes with the a key '*12'"),  # a could never fire
    ({"a": "*1", "b": "*2", "c": "*"}, "c", "clashes with the a key '*1'"),
    ({"a": "*1", "b": ""}, "b", "expected 1-4 of 0-9 * #"),
    ({"a": "*1234"}, "a", "expected 1-4 of 0-9 * #"),
    ({"a": "*a"}, "a", "expected 1-4 of 0-9 * #"),
])
def test_when_a_key_is_invalid_or_clashes_with_an_earlier_one_then_that_key_is_blamed(
        keys: dict[str, str], feature: str, reason: str) -> None:
    with pytest.raises(FeatureKeyError) as err:
        check_feature_keys(keys)
    assert err.value.feature == feature and reason in err.value.reason


def test_when_keys_are_prefix_free_then_the_check_passes() -> None:
    check_feature_keys({"a": "*1", "b": "*21", "c": "*22", "d": "#3", "e": "1234"})


@pytest.mark.parametrize("env, name", [
    ({"HOTLINE_THREEWAY_START_KEY": "*1"}, "HOTLINE_THREEWAY_START_KEY"),  # the handoff key, left at its default
    ({"HOTLINE_HANDOFF_KEY": "*2"}, "HOTLINE_HANDOFF_KEY"),  # the three-way start key
    ({"HOTLINE_HANDOFF_TO_KEY": "*91"}, "HOTLINE_HANDOFF_TO_KEY"),  # the emergency key *9
    ({"HOTLINE_THREEWAY_LEAVE_KEY": "*9"}, "HOTLINE_THREEWAY_LEAVE_KEY"),  # the emergency key
    ({"HOTLINE_EMERGENCY_KEY": "*8"}, "HOTLINE_EMERGENCY_KEY"),  # the handoff-to key
])
def test_when_a_set_key_clashes_across_features_then_settings_blame_the_variable_set(env: dict[str, str],
                                                                                     name: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert err.value.name == name


def test_when_two_features_swap_keys_consistently_then_settings_accept_them() -> None:
    s = Settings.from_env({"HOTLINE_HANDOFF_KEY": "*2", "HOTLINE_THREEWAY_START_KEY": "*1"})
    assert s.feature_keys["handoff"] == "*2" and s.feature_keys["three_way_start"] == "*1"


# --- with_ ------------------------------------------------------------------------------------------

def test_with_changes_fields_of_a_part_or_replaces_a_whole_part() -> None:
    s = Settings()
    changed = s.with_(redis={"prefix": "t:"}, paths=PathSettings(state_dir=Path("/tmp/x")))
    assert changed.redis == RedisSettings(prefix="t:") and changed.paths.state_dir == Path("/tmp/x")
    assert (changed.handoff, changed.site) == (s.handoff, s.site)
    assert s.redis.prefix == "hotline:"  # the original is unchanged
    assert changed.effective_database_url == "sqlite+aiosqlite:////tmp/x/hotline.db"


def test_with_refuses_an_unknown_part_or_field() -> None:
    with pytest.raises(TypeError):
        Settings().with_(redis_prefix="t:")
    with pytest.raises(TypeError):
        Settings().with_(redis={"prefixx": "t:"})


# --- documentation ----------------------------------------------------------------------------------

class RecordingEnv(dict[str, str]):
    """An empty environment that notes every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def test_every_variable_settings_read_is_documented_in_env_example_under_its_current_name() -> None:
    env = RecordingEnv()
    Settings.from_env(env)
    read_names = {name for name in env.asked if name.startswith("HOTLINE_")} - set(RENAMED_VARIABLES)
    example = set(re.findall(r"^# (HOTLINE_[A-Z_]+)=", (PROJECT_ROOT / ".env.example").read_text(), re.M))
    assert read_names == example
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert [new for new in RENAMED_VARIABLES.values() if new not in readme] == []


# ------------------------------------------------------------------ paths, NAT, the address phones use

def test_when_state_dir_is_relative_then_it_is_taken_from_the_project_root_not_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    paths = PathSettings.from_env({"HOTLINE_STATE_DIR": "./var", "HOTLINE_ASTERISK_PREFIX": "build/ast"})
    assert paths.state_dir == PROJECT_ROOT / "var" and paths.state_dir.is_absolute()
    assert paths.asterisk_prefix == PROJECT_ROOT / "build" / "ast"
    assert PathSettings(state_dir=Path("state")).run_dir == PROJECT_ROOT / "state" / "asterisk"
    assert PathSettings.from_env({"HOTLINE_STATE_DIR": "~/x"}).state_dir == Path.home() / "x"


def test_when_an_external_address_is_set_then_phones_are_told_it_first() -> None:
    net = NetworkSettings.from_env({"HOTLINE_EXTERNAL_ADDRESS": "pbx.example.gov.cn",
                                    "HOTLINE_LOCAL_NETS": "192.168.10.0/24, 10.1.2.3/8"})
    assert net.external_address == "pbx.example.gov.cn"
    assert net.local_nets == ("192.168.10.0/24", "10.0.0.0/8")
    assert net.sip_hosts() == ["pbx.example.gov.cn", "127.0.0.1"]
    assert NetworkSettings().external_address is None


def test_when_sip_binds_every_interface_then_phones_are_told_the_hosts_addresses_never_0_0_0_0() -> None:
    net = NetworkSettings.from_env({"HOTLINE_BIND_HOST": "0.0.0.0"})
    assert net.sip_hosts(["127.0.0.1", "192.0.2.7"]) == ["192.0.2.7", "127.0.0.1"]
    assert NetworkSettings(bind_host="192.0.2.7").sip_hosts(["10.0.0.1"]) == ["192.0.2.7"]


@pytest.mark.parametrize("name,value", [("HOTLINE_EXTERNAL_ADDRESS", "pbx example"),
                                        ("HOTLINE_EXTERNAL_ADDRESS", "-pbx"),
                                        ("HOTLINE_LOCAL_NETS", "10.0.0.0/33"),
                                        ("HOTLINE_LOCAL_NETS", "lan")])
def test_when_a_nat_setting_is_malformed_then_it_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as exc:
        NetworkSettings.from_env({name: value})
    assert exc.value.name == name


# ------------------------------------------------------------------ scale: thousands of seats

def test_when_a_provincial_platform_lists_2000_seats_as_ranges_then_they_are_read_in_order() -> None:
    s = Settings.from_env({"HOTLINE_CENTRES": "12345:10001-11800;110:20001-20200"})
    assert [len(c.seats) for c in s.site.centres] == [1800, 200]
    assert s.site.centres[0].seats[-1].extension == "11800"
    assert centres_spec(s.site.centres) == "12345:10001-11800;110:20001-20200"


def test_when_seats_are_listed_one_by_one_then_no_line_length_caps_them() -> None:
    one_by_one = ",".join(str(n) for n in range(1001, 3001, 2))  # 1,000 seats, ~5,000 characters
    s = Settings.from_env({"HOTLINE_CENTRES": f"12345:{one_by_one};110:2-3"})
    assert len(s.site.centres[0].seats) == 1000
    assert parse_centres(centres_spec(s.site.centres)) == s.site.centres


def test_extension_runs_join_only_consecutive_numbers_of_one_length() -> None:
    assert extension_runs(["1001", "1002", "1003", "1010", "998", "999", "1000"]) == [
        ("1001", "1003"), ("1010", "1010"), ("998", "999"), ("1000", "1000")]


@pytest.mark.parametrize("spec,reason", [
    ("12345:1-20000", "more than 10000 seats"),
    ("12345:1-6000;110:7000-13000", "more than 10000 seats"),
    ("12345:1001-1004;110:12345", "collides with centre number"),
    ("12345:1200-1001", "bad seat range"),
    ("12345:1001-x", "bad seat range"),
    ("12345:" + "1" * 21, "bad seat"),
])
def test_when_seats_are_malformed_or_too_many_then_hotline_centres_is_refused(spec: str, reason: str) -> None:
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"HOTLINE_CENTRES": spec})
    assert exc.value.name == "HOTLINE_CENTRES" and reason in exc.value.reason


def _pattern_matches(pattern: str, number: str) -> bool:
    if not pattern.startswith("_"):
        return pattern == number
    as_re = re.sub(r"X", "[0-9]", pattern[1:])
    return re.fullmatch(as_re, number) is not None


@pytest.mark.parametrize("first,last", [(1001, 1200), (10000, 11999), (998, 1005), (1, 9), (1005, 1005), (1019, 1021)])
def test_extension_patterns_match_exactly_the_seats(first: int, last: int) -> None:
    seats = [str(n) for n in range(first, last + 1)]
    patterns = extension_patterns(seats)
    assert len(patterns) <= 12
    for n in range(max(0, first - 300), last + 300):
        assert any(_pattern_matches(p, str(n)) for p in patterns) == (first <= n <= last), n
    assert extension_patterns([str(n) for n in range(1001, 1201)]) == ["_100[1-9]", "_10[1-9]X", "_11XX", "1200"]


def test_when_the_sqlite_file_is_relative_then_it_is_taken_from_the_project_root_too() -> None:
    read = DatabaseSettings.from_env
    assert read({"HOTLINE_DATABASE_URL": "sqlite+aiosqlite:///var/orders.db"}).url == \
        f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'orders.db'}"
    assert read({"HOTLINE_DATABASE_URL": "sqlite+aiosqlite:////srv/orders.db"}).url == \
        "sqlite+aiosqlite:////srv/orders.db"
    assert read({"HOTLINE_DATABASE_URL": "postgresql+asyncpg://u@h/db"}).url == "postgresql+asyncpg://u@h/db"
def test_when_no_time_zone_is_set_then_days_are_china_standard_time() -> None:
    from datetime import datetime

    zone = Settings.from_env({}).orders.tz
    assert datetime(2026, 11, 25, 16, 30, tzinfo=UTC).astimezone(zone).date().isoformat() == "2026-11-26"
