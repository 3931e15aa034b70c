from __future__ import annotations

from pydantic import BaseModel


class QuotaOut(BaseModel):
    """An organization's usage beside its quotas."""

    storage_bytes: int  # its images and its jobs' artifacts
    storage_bytes_quota: int
    images_per_dataset_quota: int
    running_jobs: int
    queued_jobs: int
    concurrent_jobs_quota: int
    gpu_hours_this_month: float
    gpu_hours_per_month_quota: float
