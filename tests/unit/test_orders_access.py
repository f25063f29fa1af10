"""`core.privacy` and `core.roles`: number masking and role order; the settings that choose them."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.privacy import mask_number, shown_number
from core.roles import allows
from core.settings import Settings, SettingsError


@pytest.mark.parametrize("number,masked", [
    ("13800138000", "138****8000"),
    ("07772345678", "077****5678"),
    ("+8613800138000", "+86*******8000"),
    ("88123456", "88****56"),
    ("1234567", "12***67"),
    ("12345", "1****"),
    ("", ""),
    (None, None),
])
def test_when_a_role_lacks_the_privilege_then_it_sees_the_number_masked(number: str | None,
                                                                          masked: str | None) -> None:
    assert mask_number(number) == masked


def test_when_the_role_is_privileged_then_it_sees_the_number_in_full() -> None:
    privileged = frozenset({"seat", "supervisor"})
    assert shown_number("13800138000", "seat", privileged) == "13800138000"
    assert shown_number("13800138000", "admin", privileged) == "138****8000"


@pytest.mark.parametrize("role,needed,ok", [
    ("seat", "seat", True), ("seat", "supervisor", False), ("seat", "admin", False),
    ("supervisor", "seat", True), ("supervisor", "supervisor", True), ("supervisor", "admin", False),
    ("admin", "seat", True), ("admin", "supervisor", True), ("admin", "admin", True),
    ("guest", "seat", False),
])
def test_when_a_route_needs_a_role_then_higher_roles_pass(role: str, needed: str, ok: bool) -> None:
    assert allows(role, needed) is ok


def test_when_order_settings_are_unset_then_defaults_follow_the_seeds() -> None:
    settings = Settings.from_env({})
    assert settings.orders.jurisdiction == "qinzhou"
    assert settings.orders.time_limits.sign == {"urgent": timedelta(minutes=30), "major": timedelta(minutes=30)}
    assert settings.orders.time_limits.on_site == {"urgent": timedelta(hours=2), "major": timedelta(hours=2)}
    assert settings.orders.unmasked_roles == {"seat", "supervisor"}
    assert settings.orders.overdue_check_s == 30


def test_when_order_settings_are_given_then_they_are_used() -> None:
    settings = Settings.from_env({"HOTLINE_JURISDICTION": "pingliang", "HOTLINE_SIGN_LIMITS": "general=1440",
                                  "HOTLINE_ON_SITE_LIMITS": "", "HOTLINE_UNMASKED_ROLES": "",
                                  "HOTLINE_OVERDUE_CHECK_INTERVAL": "5"})
    assert settings.orders.jurisdiction == "pingliang"
    assert settings.orders.time_limits.sign == {"general": timedelta(days=1)}
    assert settings.orders.time_limits.on_site == {}
    assert settings.orders.unmasked_roles == frozenset()
    assert settings.orders.overdue_check_s == 5


@pytest.mark.parametrize("name,value", [
    ("HOTLINE_JURISDICTION", "beijing"),
    ("HOTLINE_SIGN_LIMITS", "urgent=soon"),
    ("HOTLINE_ON_SITE_LIMITS", "critical=120"),
    ("HOTLINE_UNMASKED_ROLES", "seat,citizen"),
    ("HOTLINE_OVERDUE_CHECK_INTERVAL", "0"),
])
def test_when_an_order_setting_is_bad_then_it_fails_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert error.value.name == name
