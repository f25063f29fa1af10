"""Fixtures of the `asterisk` tier: one real Asterisk for the session.

Every test in this folder is marked `asterisk`.  A missing Asterisk build is
an error here, never a skip: run `scripts/install-asterisk` (the README's test
command does it for you).
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.pbx import Pbx


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/asterisk/" in str(item.fspath):
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture(scope="session")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pbx]:
    pbx = await Pbx.start(tmp_path_factory.mktemp("pbx"))
    try:
        yield pbx
    finally:
        await pbx.stop()


