"""The embedded SQLite database under two writers: the API process and a worker process."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.kit.db import create_db_engine


def test_an_insert_after_a_read_inside_a_savepoint_waits_for_another_writer_instead_of_failing(
        tmp_path: Path):
    """register_version reads the next version number and inserts it inside
    ``begin_nested()``. If a worker commits between that read and the insert, SQLite refuses
    the insert at once ("database is locked") unless the savepoint holds the write lock."""
    url = f"sqlite:///{tmp_path / 'two-writers.db'}"
    api, worker = create_db_engine(url), create_db_engine(url)
    with api.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE versions (number INTEGER)")
        connection.exec_driver_sql("CREATE TABLE heartbeats (beat INTEGER)")

    worker_done = threading.Event()
    worker_errors: list[BaseException] = []

    def heartbeat() -> None:
        try:
            with worker.begin() as connection:
                connection.exec_driver_sql("INSERT INTO heartbeats VALUES (1)")
        except BaseException as error:  # reported on the main thread
            worker_errors.append(error)
        finally:
            worker_done.set()

    with Session(api) as session:
        with session.begin_nested():
            following = session.scalar(text("SELECT count(*) FROM versions")) + 1
            beating = threading.Thread(target=heartbeat)
            beating.start()
            # The worker's commit lands here unless the savepoint already holds the lock.
            worker_done.wait(timeout=2)
            session.execute(text("INSERT INTO versions VALUES (:n)"), {"n": following})
        session.commit()
    beating.join()

    assert worker_errors == []
    with worker.connect() as connection:
        assert connection.exec_driver_sql("SELECT number FROM versions").scalars().all() == [1]
        assert connection.exec_driver_sql("SELECT count(*) FROM heartbeats").scalar() == 1
    api.dispose()
    worker.dispose()


def test_a_savepoint_inside_a_writing_transaction_nests_and_rolls_back_alone(tmp_path: Path):
    """The write lock is taken only when the savepoint opens the transaction; inside one that
    already writes, it is an ordinary savepoint."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nested.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE rows (x INTEGER)")
    with Session(engine) as session:
        session.execute(text("INSERT INTO rows VALUES (1)"))
        try:
            with session.begin_nested():
                session.execute(text("INSERT INTO rows VALUES (2)"))
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        session.commit()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM rows").scalars().all() == [1]
    engine.dispose()
