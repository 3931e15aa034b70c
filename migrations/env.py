"""Alembic environment: the database URL comes from HATCHERY_DATABASE_URL (or the caller's
``config.attributes["connection"]``, as the tests and ``api.migrate`` pass it)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from api.kit.settings import Settings
from api.models import metadata

config = context.config


def run_offline() -> None:
    context.configure(url=Settings().database_url, target_metadata=metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = engine_from_config({"sqlalchemy.url": Settings().database_url}, prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as connection:
        _migrate(connection)


def _migrate(connection) -> None:
    # render_as_batch: SQLite alters tables by copy; Postgres ignores the batch mode.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
