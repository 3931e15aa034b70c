"""platform hardening: model-version notes, one version per job and model, artifact bytes,
login sessions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A job registered twice in one model: the later versions keep their numbers, metrics and
    # artifacts but no longer claim the job (one version per job and model from now on).
    op.execute("""
        UPDATE model_versions SET job_id = NULL
        WHERE job_id IS NOT NULL AND version > (
            SELECT MIN(first.version) FROM model_versions AS first
            WHERE first.model_id = model_versions.model_id
              AND first.job_id = model_versions.job_id)
    """)
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch_op.create_unique_constraint("uq_model_versions_model_id_job_id",
                                          ["model_id", "job_id"])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artifact_bytes", sa.BigInteger(), nullable=False,
                                      server_default="0"))
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_refresh_tokens_session_id", ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_tokens_session_id")
        batch_op.drop_column("session_id")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("artifact_bytes")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_model_versions_model_id_job_id", type_="unique")
        batch_op.drop_column("notes")
