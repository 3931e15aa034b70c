from __future__ import annotations

from api.jobs.models import Job, JobEvent
from api.tenancy import TenantRepository


class Jobs(TenantRepository[Job]):
    model, noun = Job, "job"


class JobEvents(TenantRepository[JobEvent]):
    model, noun = JobEvent, "job event"
