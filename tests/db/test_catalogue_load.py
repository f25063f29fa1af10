"""The shipped catalogues are loaded at every start of the web service: several
`hotline web` (or `hotline catalogue load`) starting together on a new
database must each succeed and leave each entry once."""
from __future__ import annotations

from sqlalchemy import func, select

from app.catalogue import store
from app.runtime import db
from app.runtime.models import CatalogueEntry
from core.catalogue import JURISDICTIONS
from tests.support.together import assert_all_succeed_together


async def test_when_several_processes_load_the_shipped_catalogues_at_once_then_each_succeeds_and_each_entry_is_once(
        database_url: str) -> None:
    await db.migrate(database_url)       # the units migrate one at a time first (tested beside)
    await assert_all_succeed_together(database_url, "catalogue", "load")
    engine = db.create_engine(database_url)
    try:
        async with db.session_factory(engine)() as session:
            for jurisdiction in JURISDICTIONS:
                shipped = {item.code for item in store.read_shipped(jurisdiction)}
                rows = (await session.execute(
                    select(CatalogueEntry.code, func.count()).where(CatalogueEntry.jurisdiction == jurisdiction)
                    .group_by(CatalogueEntry.code))).all()
                assert {code for code, _ in rows} == shipped
                assert all(n == 1 for _, n in rows), [r for r in rows if r[1] != 1]
    finally:
        await engine.dispose()
