"""The model registry: named models, their numbered versions, movable aliases."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.kit.db import Base, TenantMixin


class RegisteredModel(TenantMixin, Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                                  index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")


class ModelVersion(TenantMixin, Base):
    """One trained model: where it came from (job, data, config) and how well it does."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),
                      UniqueConstraint("model_id", "job_id",
                                       name="uq_model_versions_model_id_job_id"))

    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"),
                                                index=True)
    version: Mapped[int]
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"),
                                                     default=None)
    dataset_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(32), default="")
    config: Mapped[dict] = mapped_column(default=dict)
    # measured by the platform (the job and its evaluations), never typed by a user
    metrics: Mapped[dict] = mapped_column(default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")  # the user's, never ranked
    artifacts: Mapped[dict] = mapped_column(default=dict)  # name -> object key


class ModelAlias(TenantMixin, Base):
    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("model_id", "alias"),)

    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"),
                                                index=True)
    alias: Mapped[str] = mapped_column(String(64))
    model_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"))
