"""Object storage: one interface, two backends.

``S3Store`` talks to any S3 server through the ``minio`` client (MinIO, SeaweedFS, AWS);
``LocalStore`` keeps objects in a folder (the embedded mode). Keys always start with the
owning organization's id: ``<org>/blobs/<sha256>``, ``<org>/thumbnails/<sha256>.jpg``, ...
"""

from __future__ import annotations

from api.kit.settings import Settings
from api.kit.storage.base import ObjectStore, StoredObject
from api.kit.storage.local import LocalStore
from api.kit.storage.s3 import S3Store


def build_store(settings: Settings) -> ObjectStore:
    url = settings.storage_url
    if url.startswith("file://"):
        return LocalStore(url.removeprefix("file://"), settings.secret_key.get_secret_value(),
                          settings.public_url)
    if url.startswith("s3://"):
        return S3Store(
            bucket=url.removeprefix("s3://").strip("/"),
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
            secure=settings.s3_secure,
        )
    raise ValueError(f"HATCHERY_STORAGE_URL must start with file:// or s3://, got {url!r}")


__all__ = ["LocalStore", "ObjectStore", "S3Store", "StoredObject", "build_store"]
