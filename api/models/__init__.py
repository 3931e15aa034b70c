"""Every table of every domain, in one package: domains import the tables they need from
here (no two domains import each other for a table), and importing this package tells
``Base.metadata`` the whole schema (Alembic, tests, workers)."""

from api.kit.db import Base
from api.models.auth import ApiKey, LoginFailure, RefreshToken, User
from api.models.datasets import (
    Blob,
    Dataset,
    DatasetItem,
    DatasetVersion,
    StagedUpload,
    VersionItem,
)
from api.models.jobs import Job, JobEvent, JobStatus, Worker
from api.models.projects import Project
from api.models.registry import ModelAlias, ModelVersion, RegisteredModel
from api.models.tenants import AuditEvent, Invitation, Membership, Organization, Role

metadata = Base.metadata

__all__ = ["ApiKey", "AuditEvent", "Blob", "Dataset", "DatasetItem", "DatasetVersion",
           "Invitation", "Job", "JobEvent", "JobStatus", "LoginFailure", "Membership",
           "ModelAlias", "ModelVersion", "Organization", "Project", "RefreshToken",
           "RegisteredModel", "Role", "StagedUpload", "User", "VersionItem", "Worker",
           "metadata"]
