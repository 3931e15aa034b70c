"""Apply migrations programmatically: ``python -m api.migrate [upgrade head|downgrade base]``."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parents[1]


def alembic_config() -> Config:
    return Config(str(ROOT / "alembic.ini"))


def migrate_database(url: str, action: str = "upgrade", revision: str = "head") -> None:
    """Run ``alembic <action> <revision>`` on the database at ``url`` (tests, benchmarks)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


def upgrade(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str = "base") -> None:
    command.downgrade(alembic_config(), revision)


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "upgrade"
    target = sys.argv[2] if len(sys.argv) > 2 else ("head" if action == "upgrade" else "base")
    {"upgrade": upgrade, "downgrade": downgrade}[action](target)
