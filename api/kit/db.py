"""Database engine, session factory and the declarative base every table derives from.

Sessions commit once per request (``session_scope``); repositories only flush. SQLite (the
embedded mode) gets foreign keys switched on so it enforces what Postgres enforces.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import JSON, DateTime, Engine, ForeignKey, MetaData, Uuid, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


POOL_CONNECTIONS, POOL_OVERFLOW = 40, 10


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use api.kit.db.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {dict: JSON, list: JSON, datetime: UTCDateTime}


class RecordMixin:
    """A UUID primary key and a creation time."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantMixin(RecordMixin):
    """Every tenant-owned row carries its organization; api/tenancy filters on it."""

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )


def create_db_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _write_lock_before_savepoint(connection, _name) -> None:
            # pysqlite opens a transaction only before INSERT/UPDATE/DELETE, which then waits
            # (up to the timeout) for the write lock. A SAVEPOINT outside a transaction opens
            # a deferred one instead: its first SELECT pins a snapshot, and if another
            # process commits before the INSERT that follows, SQLite answers "database is
            # locked" at once, without waiting. Taking the write lock first makes the
            # read-then-insert inside ``begin_nested()`` wait its turn like any other write.
            if not connection.connection.dbapi_connection.in_transaction:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # As many pooled connections as request threads (FastAPI's pool: 40): under load a pool
    # smaller than the threads would close and reopen connections all the time.
    return create_engine(url, pool_size=POOL_CONNECTIONS, max_overflow=POOL_OVERFLOW,
                         pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for safe (GET/HEAD) requests: autocommit connections, so a request that only
    read ends without a COMMIT round trip and hands its connection back without I/O."""
    return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"),
                        expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit at the end, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
