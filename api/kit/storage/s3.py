"""Objects in an S3 bucket through the ``minio`` client (MinIO, SeaweedFS, AWS S3)."""

from __future__ import annotations

import io
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import BinaryIO

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from api.kit.storage.base import StoredObject

PART_SIZE = 16 * 1024 * 1024
# Uploads write many objects concurrently (api/datasets/ingest.py); the minio client's own
# pool keeps only 10 connections and would reconnect for every write beyond them.
POOL_CONNECTIONS = 32
TIMEOUT_SECONDS = 300


def _connection_pool() -> urllib3.PoolManager:
    """The minio client's default pool (timeouts, retries of 5xx), with more connections."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=TIMEOUT_SECONDS, read=TIMEOUT_SECONDS),
        maxsize=POOL_CONNECTIONS,
        cert_reqs="CERT_REQUIRED", ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]))


class PresignedUrlCache:
    """Reuses a presigned GET URL while more than half of its lifetime is left.

    Listing a page of items signs one thumbnail URL per item (SigV4: four HMACs each); the
    same URL for the same object also lets browsers cache the image. Bounded, LRU order.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[tuple[str, int], tuple[str, float]] = OrderedDict()
        self.lock = threading.Lock()

    def get_or_sign(self, key: str, seconds: int, sign: Callable[[], str]) -> str:
        now = time.monotonic()
        with self.lock:
            hit = self.entries.get((key, seconds))
            if hit is not None and hit[1] > now:
                self.entries.move_to_end((key, seconds))
                return hit[0]
        url = sign()
        with self.lock:
            self.entries[(key, seconds)] = (url, now + seconds / 2)
            self.entries.move_to_end((key, seconds))
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)
        return url


class S3Store:
    def __init__(self, bucket: str, endpoint: str, access_key: str, secret_key: str,
                 region: str = "us-east-1", secure: bool = False) -> None:
        self.bucket = bucket
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key,
                            region=region, secure=secure, http_client=_connection_pool())
        self.presigned = PresignedUrlCache()

    def ensure_ready(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            self.client.make_bucket(self.bucket)

    def put_file(self, key: str, stream: BinaryIO, size: int, content_type: str) -> None:
        self.client.put_object(self.bucket, key, stream, length=size, part_size=PART_SIZE,
                               content_type=content_type)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.put_file(key, io.BytesIO(data), len(data), content_type)

    def get_bytes(self, key: str) -> bytes:
        response = self.client.get_object(self.bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def open(self, key: str) -> BinaryIO:
        return self.client.get_object(self.bucket, key)

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
            return True
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise

    def size(self, key: str) -> int:
        return int(self.client.stat_object(self.bucket, key).size)

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        for item in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            yield StoredObject(item.object_name, int(item.size or 0))

    def presigned_get(self, key: str, seconds: int, filename: str | None = None) -> str:
        if filename is None:
            return self.presigned.get_or_sign(key, seconds, lambda: self._sign_get(key, seconds))
        return self._sign_get(key, seconds, filename)

    def _sign_get(self, key: str, seconds: int, filename: str | None = None) -> str:
        headers = ({"response-content-disposition": f'attachment; filename="{filename}"'}
                   if filename else None)
        return self.client.presigned_get_object(self.bucket, key, timedelta(seconds=seconds),
                                                response_headers=headers)

    def presigned_put(self, key: str, seconds: int) -> str:
        return self.client.presigned_put_object(self.bucket, key, timedelta(seconds=seconds))
