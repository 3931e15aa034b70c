from __future__ import annotations

import uuid

from api.jobs.models import Job, JobEvent
from api.tenancy import TenantRepository


class Jobs(TenantRepository[Job]):
    model, noun = Job, "job"

    def stages_of(self, pipeline_id: uuid.UUID) -> list[Job]:
        """A pipeline's stage jobs, in the order they started."""
        return list(self.session.scalars(self.select().where(Job.parent_id == pipeline_id)
                                         .order_by(Job.created_at)))


class JobEvents(TenantRepository[JobEvent]):
    model, noun = JobEvent, "job event"
