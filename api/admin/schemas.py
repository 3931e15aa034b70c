from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class QueueOut(BaseModel):
    queue: str
    queued: int
    running: int
    oldest_wait_seconds: float | None  # how long its oldest queued job has waited


class DeviceOut(BaseModel):
    kind: str  # cuda | cpu
    index: int
    name: str
    memory_used_bytes: int
    memory_total_bytes: int
    utilization: float | None


class WorkerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    hostname: str
    pid: int
    queues: list[str]
    devices: list[DeviceOut]
    current_job_id: uuid.UUID | None
    started_at: datetime
    last_seen_at: datetime
    online: bool


class OrganizationUsageOut(BaseModel):
    organization_id: uuid.UUID
    name: str
    gpu_hours_this_month: float
    running_jobs: int
    queued_jobs: int
