"""/api/v1: jobs — submit, list, get, cancel, retry, events, metrics, logs, live stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import PlainTextResponse, StreamingResponse

from api.jobs import service
from api.jobs.repository import Jobs
from api.jobs.schemas import JobCreate, JobEventOut, JobOut, MetricSeries, SuggestionsOut
from api.jobs.suggestions import suggestions_of
from api.kit.db import session_scope
from api.kit.deps import SessionDep, SettingsDep, StoreDep
from api.kit.pagination import Page, PageDep
from api.kit.problems import NotFound
from api.kit.responses import json_response
from api.models.jobs import TERMINAL, Job, JobStatus
from api.projects.repository import Projects
from api.tenancy import TenantDep, WriterDep
from engine.schemas.kinds import KINDS

router = APIRouter(prefix="/api/v1", tags=["jobs"])
STREAM_POLL_SECONDS = 0.5


def dispatcher(request: Request):
    return request.app.state.dispatcher


@router.get("/job-kinds")
def job_kinds(_: TenantDep) -> dict[str, dict]:
    """Each job kind with its inputs and the JSON schema of its config."""
    return {name: {"description": kind.description,
                   "inputs": sorted(name for name, ref in kind.inputs.items() if ref.required),
                   "optional_inputs": sorted(name for name, ref in kind.inputs.items()
                                             if not ref.required),
                   "references": [{"field": ref.field, "scheme": ref.scheme,
                                   "input": ref.input, "required": ref.required,
                                   "labeled": ref.labeled}
                                  for ref in kind.references if not ref.filled_by_pipeline],
                   "config_schema": kind.schema.model_json_schema()}
            for name, kind in KINDS.items()}


@router.post("/projects/{project_id}/jobs", status_code=status.HTTP_201_CREATED,
             response_model=JobOut)
def submit(project_id: uuid.UUID, body: JobCreate, tenant: WriterDep, session: SessionDep,
           settings: SettingsDep, request: Request) -> Response:
    job = service.submit(session, tenant, dispatcher(request), project_id, body, settings)
    return json_response(JobOut.model_validate(job), status.HTTP_201_CREATED)


@router.get("/projects/{project_id}/jobs", response_model=Page[JobOut])
def list_jobs(project_id: uuid.UUID, tenant: TenantDep, session: SessionDep, page: PageDep,
              status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
              kind: Annotated[str | None, Query(max_length=32)] = None,
              model_job_id: Annotated[uuid.UUID | None, Query(
                  description="only jobs that read this job's model (export, predict)")] = None,
              ) -> Page[JobOut]:
    Projects(session, tenant).require(project_id)
    return Jobs(session, tenant).in_project(project_id, page, status_filter, kind, model_job_id)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> Response:
    return json_response(JobOut.model_validate(Jobs(session, tenant).get(job_id)))


@router.get("/jobs/{job_id}/stages", response_model=list[JobOut])
def stages(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> list[Job]:
    """A pipeline's stage jobs (pretrain, finetune, evaluate) in the order they started, for
    its progress page; an empty list for a job of another kind."""
    jobs = Jobs(session, tenant)
    jobs.require(job_id)
    return jobs.stages_of(job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel(job_id: uuid.UUID, tenant: WriterDep, session: SessionDep) -> Job:
    return service.cancel(session, tenant, job_id)


@router.post("/jobs/{job_id}/retry", response_model=JobOut)
def retry(job_id: uuid.UUID, tenant: WriterDep, session: SessionDep, settings: SettingsDep,
          request: Request) -> Job:
    return service.retry(session, tenant, dispatcher(request), job_id, settings.max_queued_jobs)


@router.get("/jobs/{job_id}/events", response_model=list[JobEventOut])
def events(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep,
           kind: Annotated[str | None, Query(max_length=16)] = None,
           limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> list:
    return service.events(session, tenant, job_id, kind, limit)


@router.get("/jobs/{job_id}/metrics", response_model=MetricSeries)
def metrics(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep) -> MetricSeries:
    """Every numeric value the job reported, as a series over steps (for plots)."""
    return MetricSeries(series=service.metric_series(session, tenant, job_id))


@router.get("/jobs/{job_id}/logs", response_class=PlainTextResponse)
def logs(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep, store: StoreDep) -> str:
    """The job's log so far; a pipeline's is the logs of its stages, one after the other."""
    jobs = Jobs(session, tenant)
    job = jobs.get(job_id)

    def log_of(row: Job) -> str:
        key = f"{row.organization_id}/jobs/{row.id}/log.txt"
        return store.get_bytes(key).decode(errors="replace") if store.exists(key) else ""

    if not (job.kind in KINDS and KINDS[job.kind].orchestrates):
        return log_of(job)
    return "".join(f"===== stage {stage.kind} (job {stage.id}, {stage.status.value})\n"
                   f"{log_of(stage)}" for stage in jobs.stages_of(job.id))


@router.get("/jobs/{job_id}/artifacts/{name}")
def artifact(job_id: uuid.UUID, name: Annotated[str, Path(max_length=64)], tenant: TenantDep,
             session: SessionDep, store: StoreDep, settings: SettingsDep) -> dict[str, str]:
    """A presigned download URL of one of the job's artifacts (``checkpoint``, ``config``,
    ``metrics``, ...)."""
    job = Jobs(session, tenant).get(job_id)
    value = job.artifacts.get(name)
    if value is None:
        raise NotFound(f"job {job_id} has no artifact {name!r}; it has "
                       f"{', '.join(sorted(job.artifacts)) or 'none'}")
    key = value["key"] if isinstance(value, dict) else value
    return {"url": store.presigned_get(key, settings.presign_seconds,
                                       filename=key.rsplit("/", 1)[-1])}


@router.get("/jobs/{job_id}/suggestions", response_model=SuggestionsOut)
def suggestions(job_id: uuid.UUID, tenant: TenantDep, session: SessionDep, store: StoreDep,
                settings: SettingsDep) -> SuggestionsOut:
    """A succeeded suggest job's images to label next, suspect labels and near duplicates,
    each tied to its dataset item and thumbnail."""
    job = Jobs(session, tenant).get(job_id)
    return suggestions_of(session, tenant, job, store, settings.presign_seconds)


@router.get("/jobs/{job_id}/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def stream(job_id: uuid.UUID, tenant: TenantDep, request: Request) -> StreamingResponse:
    """Server-Sent Events: ``status`` and ``progress`` as they change, until the job ends."""
    factory = request.app.state.session_factory
    with session_scope(factory) as session:
        Jobs(session, tenant).require(job_id)

    async def updates() -> AsyncIterator[str]:
        last: tuple | None = None
        while not await request.is_disconnected():
            with session_scope(factory) as session:
                job = Jobs(session, tenant).get(job_id)
                snapshot = (job.status.value, json.dumps(job.progress, sort_keys=True))
                terminal = job.status in TERMINAL
            if snapshot != last:
                if last is None or snapshot[0] != last[0]:
                    yield f"event: status\ndata: {json.dumps({'status': snapshot[0]})}\n\n"
                if snapshot[1] != "{}" and (last is None or snapshot[1] != last[1]):
                    yield f"event: progress\ndata: {snapshot[1]}\n\n"
                last = snapshot
            if terminal:
                yield "event: end\ndata: {}\n\n"
                return
            await asyncio.sleep(STREAM_POLL_SECONDS)

    return StreamingResponse(updates(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
