"""Alembic environment (persistence layer): runs migrations on a given connection.

`app.runtime.db.migrate` opens the connection (async engine, `run_sync`) and passes
it in `config.attributes["connection"]`; this file never reads alembic.ini,
never opens its own engine and never configures logging.
"""
from __future__ import annotations

from alembic import context

from app.runtime.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.runtime.db.migrate(database_url)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER needs batch mode
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
