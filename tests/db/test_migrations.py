"""Schema migrations and the order repository, on SQLite and PostgreSQL."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.orders import repository
from app.runtime import db
from app.runtime.models import Base, Order
from app.web.errors import BadInput, NotFound
from tests.conftest import POSTGRES_URL
from tests.support.together import assert_all_succeed_together

BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await db.migrate(database_url)
    engine = db.create_engine(database_url)
    yield engine
    await engine.dispose()


def make_order(**overrides: object) -> Order:
    fields: dict[str, object] = dict(
        number="12345-20261125-0001",
        direction="12345->110",
        mode="transfer",
        status="accepted",
        citizen_number="13800138000",
        source_centre="12345",
        target_centre="110",
        source_seat="1001",
        target_seat="2001",
        category="交通事故",
        note="市民反映路口有车辆相撞，有人受伤",
        linkedid="1764043200.17",
        channel="PJSIP/1001-00000011",
        created_at=datetime(2026, 11, 25, 9, 30, 1, 123456, tzinfo=BEIJING),
        accepted_at=datetime(2026, 11, 25, 1, 30, 5, 654321, tzinfo=UTC),
        closed_at=datetime(2026, 11, 25, 11, 0, 0, tzinfo=BEIJING),
        updated_at=datetime(2026, 11, 25, 3, 0, 0, 1, tzinfo=UTC),
    )
    fields.update(overrides)
    return Order(**fields)


ORDER_COLUMNS = [c.key for c in Order.__table__.columns]


async def test_when_migrated_from_empty_then_database_is_at_head_with_order_tables(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        assert await db.current_revision(engine) is None
        await db.migrate(database_url)
        assert await db.current_revision(engine) == db.head_revision()
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"orders", "order_events", "alembic_version"} <= tables
    finally:
        await engine.dispose()


async def test_when_migrated_then_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
        )
    assert diff == []


async def test_when_order_and_events_are_written_then_they_read_back_with_every_field_and_utc_datetimes(
    engine: AsyncEngine,
) -> None:
    written = make_order()
    async with db.session_factory(engine).begin() as session:
        await repository.add_order(session, written)
        order_id = written.id
        await repository.add_event(session, order_id, actor="seat:1001", kind="created",
                                   to_status="accepted", detail={"reason": "一键转接", "key": "*1"},
                                   at=datetime(2026, 11, 25, 9, 30, 1, tzinfo=BEIJING))
        await repository.add_event(session, order_id, actor="seat:2001", kind="transition",
                                   from_status="accepted", to_status="signed")
    expected = {c: getattr(written, c) for c in ORDER_COLUMNS}

    # A fresh engine: nothing can come from the first session's identity map.
    reader = db.create_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with db.session_factory(reader)() as session:
            read = await repository.get_order(session, order_id)
            events = await repository.list_events(session, order_id)
    finally:
        await reader.dispose()

    assert len(order_id) == 36
    assert {c: getattr(read, c) for c in ORDER_COLUMNS} == expected
    for column in ("created_at", "accepted_at", "closed_at", "updated_at"):
        assert getattr(read, column).utcoffset() == timedelta(0), column
    assert read.created_at == datetime(2026, 11, 25, 1, 30, 1, 123456, tzinfo=UTC)

    assert [(e.actor, e.kind, e.from_status, e.to_status, e.detail) for e in events] == [
        ("seat:1001", "created", None, "accepted", {"reason": "一键转接", "key": "*1"}),
        ("seat:2001", "transition", "accepted", "signed", {}),
    ]
    assert events[0].at == datetime(2026, 11, 25, 1, 30, 1, tzinfo=UTC)
    assert events[0].at.utcoffset() == timedelta(0)
    assert events[1].at.tzinfo is not None
    assert events[0].id < events[1].id


async def test_when_several_processes_migrate_a_new_database_at_once_then_each_succeeds_and_it_is_at_head(
        database_url: str) -> None:
    """The service units start together on a new database (`hotline agi`,
    `ami-bridge` and `web` each migrate at start): one used to fail with
    "table orders already exists"."""
    await assert_all_succeed_together(database_url, "db", "upgrade")
    engine = db.create_engine(database_url)
    try:
        assert await db.current_revision(engine) == db.head_revision()
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [db.head_revision()]
    finally:
        await engine.dispose()


async def test_when_migrated_twice_then_the_second_run_changes_nothing(database_url: str, engine: AsyncEngine) -> None:
    async with db.session_factory(engine).begin() as session:
        await repository.add_order(session, make_order())

    await db.migrate(database_url)

    assert await db.current_revision(engine) == db.head_revision()
    async with engine.connect() as conn:
        versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        numbers = (await conn.execute(select(Order.number))).scalars().all()
    assert versions == [db.head_revision()]
    assert numbers == ["12345-20261125-0001"]


async def test_when_an_order_number_is_reused_then_the_insert_is_refused(engine: AsyncEngine) -> None:
    async with db.session_factory(engine).begin() as session:
        await repository.add_order(session, make_order())
    with pytest.raises(IntegrityError):
        async with db.session_factory(engine).begin() as session:
            await repository.add_order(session, make_order(linkedid="other"))


async def test_when_order_is_unknown_then_repository_raises_not_found(engine: AsyncEngine) -> None:
    async with db.session_factory(engine)() as session:
        with pytest.raises(NotFound) as get_error:
            await repository.get_order(session, "no-such-order")
        with pytest.raises(NotFound):
            await repository.add_event(session, "no-such-order", actor="system", kind="note")
        assert await repository.list_events(session, "no-such-order") == []
    assert (get_error.value.kind, get_error.value.key) == ("order", "no-such-order")


async def test_when_mode_is_not_a_known_handoff_mode_then_add_order_raises_bad_input(engine: AsyncEngine) -> None:
    async with db.session_factory(engine)() as session:
        with pytest.raises(BadInput) as error:
            await repository.add_order(session, make_order(mode="fax"))
    assert error.value.field == "mode"


async def test_when_a_datetime_is_naive_then_it_is_refused_instead_of_guessed(engine: AsyncEngine) -> None:
    async with db.session_factory(engine)() as session:
        with pytest.raises(StatementError, match="naive datetime"):
            await repository.add_order(session, make_order(created_at=datetime(2026, 11, 25, 9, 30)))


async def test_when_sqlite_is_used_then_it_runs_in_wal_mode_with_foreign_keys_enforced(sqlite_url: str) -> None:
    await db.migrate(sqlite_url)
    engine = db.create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            with pytest.raises(IntegrityError):
                await conn.execute(text(
                    "INSERT INTO order_events (order_id, at, actor, kind, detail)"
                    " VALUES ('missing', '2026-11-25 00:00:00', 'system', 'note', '{}')"
                ))
    finally:
        await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(pid: int) -> None:
    admin = db.create_engine(POSTGRES_URL)
    try:
        async with admin.connect() as conn:
            assert (await conn.execute(text(f"SELECT pg_terminate_backend({pid})"))).scalar_one()
    finally:
        await admin.dispose()


@pytest.mark.postgres
async def test_when_a_pooled_connection_sat_idle_and_the_server_dropped_it_then_the_next_use_gets_a_new_one(
        postgres_url: str) -> None:
    # the ping after idle finds the dead connection, not the handoff that takes it
    engine = db.create_engine(postgres_url, ping_after_idle_s=0.0)
    try:
        before = await _backend_pid(engine)
        await _terminate(before)
        after = await _backend_pid(engine)   # no error: the pool opened a new connection
        assert after != before
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_when_a_pooled_connection_is_taken_again_at_once_then_it_is_not_pinged(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # a ping is three round trips (BEGIN, an empty query, ROLLBACK): not before every transaction
    engine = db.create_engine(postgres_url)
    pings: list[object] = []
    real_ping = engine.sync_engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)
    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counted_ping)
    try:
        first = await _backend_pid(engine)
        for _ in range(20):
            assert await _backend_pid(engine) == first  # the same pooled connection each time
        assert pings == []
    finally:
        await engine.dispose()
