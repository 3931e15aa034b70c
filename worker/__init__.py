"""Hatchery's Celery workers: claim jobs fairly, run them in fresh processes, keep leases."""

# Every table's mapper must be known before a worker's first flush (foreign keys between
# domains), whichever worker module is imported first.
import api.models  # noqa: F401
