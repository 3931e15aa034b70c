"""GET /jobs/{id}/stages: a pipeline's stage jobs for the browser app's job page, in the order
they started, within the caller's organization only."""

from __future__ import annotations

import uuid
from datetime import timedelta

from api.kit.db import utcnow
from api.models.jobs import Job
from tests.integration.test_jobs_api import submitted_job


def add_stages(api, parent_id: str, kinds: tuple[str, ...]) -> list[str]:
    """Stage jobs as the worker's pipeline writes them (children of ``parent_id``)."""
    ids = []
    with api.session() as session:
        parent = session.get(Job, uuid.UUID(parent_id))
        for offset, kind in enumerate(kinds):
            when = utcnow() + timedelta(seconds=offset)
            child = Job(organization_id=parent.organization_id, project_id=parent.project_id,
                        kind=kind, name=f"p / {kind}", queue="cpu", config={}, inputs={},
                        parent_id=parent.id, queued_at=when, created_at=when, updated_at=when)
            session.add(child)
            session.flush()
            ids.append(str(child.id))
        session.commit()
    return ids


def test_a_jobs_stages_in_order_and_only_for_its_organization(api):
    member = api.signup()
    _, job = submitted_job(member)
    assert member.ok("GET", f"/api/v1/jobs/{job['id']}/stages") == []
    ids = add_stages(api, job["id"], ("pretrain", "finetune"))
    stages = member.ok("GET", f"/api/v1/jobs/{job['id']}/stages")
    assert [stage["id"] for stage in stages] == ids
    assert [stage["kind"] for stage in stages] == ["pretrain", "finetune"]
    assert all(stage["parent_id"] == job["id"] for stage in stages)

    other = api.signup("Other Works")
    assert other.get(f"/api/v1/jobs/{job['id']}/stages").status_code == 404
    assert other.get(f"/api/v1/jobs/{uuid.uuid4()}/stages").status_code == 404
