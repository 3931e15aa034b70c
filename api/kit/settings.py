"""Service settings from ``HATCHERY_*`` environment variables (pydantic-settings).

The defaults are the embedded mode: SQLite, a local folder as object store, Celery over
SQLite. Production points the same fields at Postgres, an S3 server and Redis. The secret key
signs access tokens and object links: production refuses to start with a published default
or one shorter than ``MIN_SECRET_LENGTH``; ``make run`` makes a random one on first start
and keeps it beside its database (worker/embedded.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "hatchery-development-secret-change-me"
PUBLISHED_SECRETS = frozenset({DEVELOPMENT_SECRET, "change-me", "changeme", "secret"})
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HATCHERY_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///runs/hatchery.db"
    # file:///abs/path or file://relative/path for a folder; s3://bucket for an S3 server.
    storage_url: str = "file://runs/objects"
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    s3_region: str = "us-east-1"
    s3_secure: bool = False
    broker_url: str = "sqla+sqlite:///runs/broker.db"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    # Bearer token Prometheus scrapes /metrics with in production (off without one).
    metrics_token: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    # Where browsers reach the API; prefixes the local store's presigned URLs.
    public_url: str = "http://127.0.0.1:8000"

    access_token_minutes: int = Field(15, ge=1)
    refresh_token_days: int = Field(30, ge=1)
    invitation_days: int = Field(7, ge=1)
    # Failed logins before the pause (1 s, doubling, at most the window): per account, and
    # per client address over all accounts (one office behind one address has many users).
    login_failures_per_window: int = Field(5, ge=1)
    login_failures_per_address: int = Field(50, ge=1)
    login_window_seconds: int = Field(300, ge=1)
    # How long one API process reuses an authorization decision (0 turns the cache off).
    auth_cache_seconds: float = Field(5.0, ge=0, le=60)

    # Uploads: one request, one image, one archive (uncompressed) and its expansion ratio.
    max_request_bytes: int = Field(2 * 1024**3, ge=1)
    max_image_bytes: int = Field(64 * 1024**2, ge=1)
    max_image_pixels: int = Field(100_000_000, ge=1)
    max_archive_bytes: int = Field(8 * 1024**3, ge=1)
    max_archive_ratio: float = Field(200.0, gt=1)
    thumbnail_size: int = Field(256, ge=16)
    presign_seconds: int = Field(3600, ge=60)

    # Per-organization quotas given to new organizations.
    default_storage_bytes: int = 50 * 1024**3
    default_images_per_dataset: int = 500_000
    default_concurrent_jobs: int = 4
    default_gpu_hours_per_month: float = 200.0
    # Jobs one organization may have waiting; how many run at once is its concurrent_jobs quota.
    max_queued_jobs: int = Field(1000, ge=1)
    # Every broker message expires; a job whose message expired is re-announced by a worker.
    message_expires_seconds: int = Field(3600, ge=10)

    # Whether this installation runs GPU workers: when not (``make run`` on a machine without
    # a GPU), jobs run on the CPU by default and a job asking for a GPU is refused.
    gpu_workers: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Workers (worker/): a lease that heartbeats renew, the local dataset cache, cancel grace.
    worker_queues: list[str] = Field(default_factory=lambda: ["gpu.any"])
    worker_name: str = ""
    worker_work_dir: str = "runs/work"
    worker_cache_dir: str = "runs/cache"
    worker_cache_bytes: int = Field(50 * 1024**3, ge=0)
    lease_seconds: float = Field(30.0, gt=0)
    heartbeat_seconds: float = Field(5.0, gt=0)
    housekeeping_seconds: float = Field(10.0, gt=0)
    cancel_grace_seconds: float = Field(8.0, ge=0)
    progress_flush_seconds: float = Field(1.0, ge=0)
    # A job that loses its worker this many times ends failed instead of going round again.
    max_job_attempts: int = Field(5, ge=1)

    # Synchronous predictions (POST /model-versions/{id}/predict): images per request (more
    # become a predict job), how long the API waits for a prediction server's answer, and
    # the models a prediction server keeps loaded (least recently used go first).
    predict_max_images: int = Field(16, ge=1, le=1000)
    predict_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    serving_models: int = Field(4, ge=1, le=64)
    # How long a synchronous request's heat maps (and an answer nobody collected) stay in the
    # store; workers sweep older ones (worker/retention.py). At least presign_seconds, so a
    # heat-map URL never outlives its picture.
    prediction_retention_seconds: int = Field(7200, ge=60)

    @model_validator(mode="after")
    def _retention_outlives_urls(self) -> Settings:
        if self.prediction_retention_seconds < self.presign_seconds:
            raise ValueError(f"prediction_retention_seconds ({self.prediction_retention_seconds}"
                             f") must be at least presign_seconds ({self.presign_seconds}): "
                             "a heat-map URL would outlive its picture")
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment != "production":
            return self
        secret = self.secret_key.get_secret_value()
        if secret in PUBLISHED_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"HATCHERY_SECRET_KEY must be a private random string of {MIN_SECRET_LENGTH} "
                "characters or more in production (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'); a default or short one lets anyone "
                "forge tokens")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
