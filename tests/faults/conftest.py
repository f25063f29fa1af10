"""The `faults` tier: load through the real stack while something dies.

Every test in this folder is marked `faults` (and needs the real Asterisk:
a missing build fails, never skips).  Each test starts its own Asterisk (a
fault must not reach the other tiers' session rig), drives citizens, seats
and handoff keys through it with the simulation pieces, injects one fault,
and asserts the tier's promise: no caller dropped while Asterisk is up, no
order lost, none left pending, no channel, conference or AstDB entry left.

Each test adds one row of figures (`figures`); the table is printed at the
end of the run and written to var/faults-figures.md for the notes.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from tests.faults.rig import FaultRig, Figures

ROWS: list[Figures] = []
REPORT = PROJECT_ROOT / "var" / "faults-figures.md"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.asterisk)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    row = Figures(fault=request.node.name)
    ROWS.append(row)
    return row


@pytest.fixture
async def fault_rig(tmp_path: Path, figures: Figures) -> AsyncIterator[FaultRig]:
    """A rig of its own (Asterisk, FastAGI, the AMI link with the handoff journal
    and its reconciler), orders in a SQLite file; after the test nothing may be
    left on it."""
    rig = await FaultRig.start(tmp_path, figures)
    try:
        yield rig
        await rig.assert_clean()
    finally:
        await rig.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    rows = [r for r in ROWS if r.filled]
    if not rows:
        return
    table = Figures.table(rows)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(table + "\n", encoding="utf-8")
    terminalreporter.write_sep("=", "faults: figures per fault")
    terminalreporter.write_line(table)
    terminalreporter.write_line(f"(also in {REPORT.relative_to(PROJECT_ROOT)})")
