"""Settings: read once from env, a bad value fails naming the variable."""
from __future__ import annotations

import pytest

from core.settings import Settings, SettingsError


def test_when_env_is_empty_then_defaults_give_two_centres_with_their_seats() -> None:
    s = Settings.from_env({})
    assert [c.id for c in s.site.centres] == ["12345", "110"]
    assert [seat.extension for seat in s.site.centres[0].seats] == ["1001", "1002", "1003", "1004"]
    assert s.ami.secret is None  # generated per installation, never a default
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")


@pytest.mark.parametrize("name, value", [
    ("HOTLINE_SIP_PORT", "70000"),
    ("HOTLINE_AMI_PORT", "abc"),
    ("HOTLINE_CENTRES", "12345"),
    ("HOTLINE_CENTRES", "12345:1001;110:1001"),
    ("HOTLINE_CENTRES", "12345:x-y"),
    ("HOTLINE_SEAT_MODE", "magic"),
    ("HOTLINE_RTP_PORTS", "20000-10000"),
    ("HOTLINE_REDIS_URL", "http://x"),
    ("HOTLINE_DATABASE_URL", "mysql://x"),
    ("HOTLINE_AMI_SECRET", "short"),
    ("HOTLINE_AMI_USER", "bad user"),
    ("HOTLINE_AMI_SECRET", "a-long-enough-secret\r\nAction: Originate"),
    ("HOTLINE_HANDOFF_KEY", "*1x"),
    ("HOTLINE_QUEUE_TIMEOUT", "0"),
    ("HOTLINE_LOG_LEVEL", "LOUD"),
])
def test_when_a_setting_is_malformed_then_error_names_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({name: value})
    assert err.value.name == name
    assert name in str(err.value)


def test_when_centres_use_ranges_and_lists_then_all_seats_are_known() -> None:
    s = Settings.from_env({"HOTLINE_CENTRES": "12345:1001-1003,1010;110:2001"})
    assert [x.extension for x in s.site.centres[0].seats] == ["1001", "1002", "1003", "1010"]
    assert s.site.centres[1].queue == "hotline-110" and s.site.centres[1].linkage_queue == "hotline-110-linkage"
