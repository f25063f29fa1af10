"""PostgreSQL stopped under load: a cluster of this test's own (initdb/pg_ctl from
Debian's postgresql package, on its own port) — the shared server on 5432 is
never stopped.  Orders wait in Asterisk's outbox or are settled by the
reconciler once the database is back."""
from __future__ import annotations

import asyncio
import glob
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.rig import FaultRig, Figures
from tests.support.pbx import free_port

CALLS = 6
DOWN_S = 6.0


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, f"{name} not found: Debian's postgresql package is needed for the faults tier"
    return found[-1]


class Cluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-faults-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = free_port()

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def init(self) -> None:
        self._as_postgres(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                          "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                          f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = Cluster()
    await asyncio.to_thread(c.init)
    await asyncio.to_thread(c.start)
    try:
        yield c
    finally:
        try:
            c.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(c.dir, ignore_errors=True)


async def test_when_postgresql_is_stopped_then_orders_wait_and_all_end_final_once_it_is_back(
        cluster: Cluster, tmp_path: Path, figures: Figures) -> None:
    rig = await FaultRig.start(tmp_path, figures, url=cluster.url)
    try:
        calls = await rig.answered_calls(CALLS)
        await asyncio.to_thread(cluster.stop)
        down = time.monotonic()
        ids = await rig.press_handoff_keys(calls)          # the dialplan path needs no database
        await rig.answered_in_110(CALLS, timeout=20, what="every handoff answered by a 110 seat")
        dropped = await rig.count_dropped()
        await rig.hang_up_all()
        # the fault's length, not a wait for something
        await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - down)))
        await asyncio.to_thread(cluster.start)
        outage_s = round(time.monotonic() - down, 2)
        out = await rig.settled_outcome(timeout=40)         # the next sweep / reconciler run
        figures.done(dropped=dropped, outage_s=outage_s, note="own PostgreSQL cluster stopped (pg_ctl -m fast)")
        assert dropped == 0 and len(ids) == CALLS
        assert out["lost"] == [] and out["pending"] == [] and out["not_final"] == []
        await rig.assert_clean()
    finally:
        await rig.stop()
