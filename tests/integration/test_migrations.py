"""Alembic is the only way a schema is made: it round-trips and matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from api.migrate import migrate_database
from api.models import metadata
from tests.integration.servers import postgres_database


@pytest.fixture(params=["postgres", "sqlite"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        with postgres_database() as url:
            yield url


def test_upgrade_downgrade_round_trip_matches_the_models(empty_database):
    migrate_database(empty_database, "upgrade", "head")
    engine = create_engine(empty_database)
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    engine.dispose()

    migrate_database(empty_database, "downgrade", "base")
    engine = create_engine(empty_database)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate_database(empty_database, "upgrade", "head")
