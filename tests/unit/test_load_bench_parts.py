"""`hotline bench load`'s CPU accounting (pure parts and /proc)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from app.tools.load_bench import _local_postgresql, cpu_seconds, cpu_seconds_named


@pytest.mark.parametrize(("url", "local"), [
    (None, False),
    ("sqlite+aiosqlite:////var/lib/hotline/orders.db", False),
    ("postgresql+asyncpg://postgres@127.0.0.1:5432/orders", True),
    ("postgresql+asyncpg://hotline:pw@localhost/orders", True),
    ("postgresql+asyncpg://hotline@db.example.org/orders", False),
])
def test_the_postgresql_server_counts_as_the_products_cpu_only_when_it_runs_here(url: str | None,
                                                                                 local: bool) -> None:
    assert _local_postgresql(url) is local


def test_cpu_of_processes_by_name_sums_them_and_grows_with_work() -> None:
    with open(f"/proc/{os.getpid()}/comm", encoding="ascii") as f:
        name = f.read().strip()
    before = cpu_seconds_named(name)
    assert before >= cpu_seconds(os.getpid())  # this process is one of them
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    assert cpu_seconds_named(name) >= before + 0.15
    assert cpu_seconds_named("no-such-command-name") == 0.0


def test_cpu_of_processes_by_name_keeps_what_an_ended_child_used() -> None:
    """A PostgreSQL backend whose connection closes during a step: its CPU
    stays in the sum (in its parent's, which reaped it)."""
    with open(f"/proc/{os.getpid()}/comm", encoding="ascii") as f:
        name = f.read().strip()
    before = cpu_seconds_named(name)
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    subprocess.run([sys.executable, "-c", burn], check=True)  # a child of this process: ended, reaped
    assert cpu_seconds_named(name) >= before + 0.25
