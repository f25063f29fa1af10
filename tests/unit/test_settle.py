"""A started service's start-up objects are left out of the collector's passes (app.runtime.cli.settle)."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.runtime.cli import settle


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as before


def test_what_existed_when_the_service_started_is_frozen_and_what_comes_later_is_not(unfrozen: None) -> None:
    tracked_before = len(gc.get_objects())
    settle()
    assert gc.get_freeze_count() >= tracked_before * 0.9  # the start-up garbage was collected first
    later = [object() for _ in range(10)], {"a": [1]}
    assert gc.is_tracked(later)
    assert any(o is later for o in gc.get_objects())  # new objects are still the collector's
    assert all(len(gc.get_objects(generation)) < tracked_before / 2 for generation in range(3))
