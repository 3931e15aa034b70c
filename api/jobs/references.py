"""The tenant resources a submitted job's config names, found within the caller's organization.

``engine.schemas.kinds.validate_job`` lists every reference a config holds (inputs and
references written in the config alike). Here each is looked up among the caller's own rows
— another organization's id is not found (404), exactly like an id in a URL — and a
referenced job must have left what the field reads (a checkpoint, a model directory). The
dataset versions' statistics (``DataFacts``) then let the engine's own checks
(``engine.schemas.runnable``: data sizes, class labels) refuse a config that cannot run on
that data, before a worker ever sees it.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from api.datasets.repository import VersionItems, Versions
from api.datasets.service import annotated_by_split, conditions_by_split
from api.jobs.repository import Jobs
from api.kit.problems import NotFound, Unprocessable
from api.models.datasets import DatasetVersion
from api.models.jobs import Job, JobStatus
from api.tenancy import Tenant
from engine.schemas.kinds import JOB_SCHEME, KINDS, VERSION_SCHEME, Artifact, ValidatedJob
from engine.schemas.runnable import DataFacts


def version_facts(session: Session, tenant: Tenant, version: DatasetVersion) -> DataFacts:
    stats = version.stats or {}
    split_classes = stats.get("classes_by_split")
    if split_classes is None:  # a version made before its statistics counted them
        split_classes = VersionItems(session, tenant).classes_by_split(version.id)
    split_conditions = stats.get("conditions_by_split")
    if split_conditions is None:
        split_conditions = conditions_by_split(
            VersionItems(session, tenant).label_rows(version.id))
    split_annotated = stats.get("annotated_by_split")
    if split_annotated is None:
        split_annotated = annotated_by_split(
            VersionItems(session, tenant).annotation_rows(version.id))
    return DataFacts(name=f"dataset version {version.id}", images=int(stats.get("items", 0)),
                     classes=dict(stats.get("classes", {})), split_classes=split_classes,
                     split_conditions=split_conditions, split_annotated=split_annotated)


def _check_job_left(field: str, job: Job, artifact: Artifact) -> None:
    """A succeeded job of a kind that leaves ``artifact``, and left it."""
    kind = KINDS.get(job.kind)
    noun = "checkpoint" if artifact == "checkpoint" else "model"
    if kind is None or not kind.leaves(artifact):
        makers = ", ".join(name for name, spec in KINDS.items() if spec.leaves(artifact))
        raise Unprocessable(f"{field}: job {job.id} is a {job.kind} job, which leaves no "
                            f"{noun}; name a {makers} job")
    if job.status != JobStatus.succeeded:
        raise Unprocessable(f"{field}: job {job.id} is {job.status.value}; only a succeeded "
                            f"{job.kind} job has a final {noun}")
    if artifact not in job.artifacts:
        raise Unprocessable(f"{field}: job {job.id} succeeded but kept no {noun}")


def resolve(session: Session, tenant: Tenant, job: ValidatedJob) -> dict[uuid.UUID, DataFacts]:
    """Check every reference of ``job`` (404 for what is not the caller's, 422 for what does
    not fit) and return the facts of each referenced dataset version, by id."""
    wanted = {scheme: {id_ for ref, id_ in job.references if ref.scheme == scheme}
              for scheme in (VERSION_SCHEME, JOB_SCHEME)}
    versions = Versions(session, tenant).by_ids(wanted[VERSION_SCHEME])
    jobs = Jobs(session, tenant).by_ids(wanted[JOB_SCHEME])
    for reference, id_ in job.references:
        field = job.where(reference)
        found = versions.get(id_) if reference.scheme == VERSION_SCHEME else jobs.get(id_)
        if found is None:
            raise NotFound(f"{reference.noun} {id_} not found", field=field)
        if reference.scheme == JOB_SCHEME:
            _check_job_left(field, found, reference.artifact)
    return {id_: version_facts(session, tenant, version) for id_, version in versions.items()}
