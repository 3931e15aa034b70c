"""The worker's dataset cache: content-addressed blobs, LRU eviction by size."""

from __future__ import annotations

import hashlib
import os

from api.kit.storage import LocalStore
from worker.cache import DatasetCache


def put(store: LocalStore, data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    key = f"org/blobs/{sha}"
    store.put_bytes(key, data, "application/octet-stream")
    return sha, key


def test_blobs_download_once_and_the_least_recently_used_go_first(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    cache = DatasetCache(tmp_path / "cache", store, max_bytes=2500)
    blobs = [put(store, bytes([i]) * 1000) for i in range(3)]
    assert cache.fetch_blob(*blobs[0]) == 1000
    assert cache.fetch_blob(*blobs[0]) == 0  # a hit downloads nothing
    cache.fetch_blob(*blobs[1])
    os.utime(cache.blob_path(blobs[0][0]), (1, 1))  # blob 0: least recently used
    cache.fetch_blob(*blobs[2])
    assert cache.evict() == 1000
    assert not cache.blob_path(blobs[0][0]).exists()
    assert cache.blob_path(blobs[1][0]).exists() and cache.blob_path(blobs[2][0]).exists()
    assert cache.blob_path(blobs[2][0]).read_bytes() == bytes([2]) * 1000


def test_a_view_keeps_its_files_when_their_blobs_are_evicted(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    cache = DatasetCache(tmp_path / "cache", store, max_bytes=0)
    sha, key = put(store, b"image bytes")
    cache.fetch_blob(sha, key)

    class Row:
        path, class_name, sha256, storage_key, format = "a/b.png", None, sha, key, "PNG"

    view = tmp_path / "cache" / "views" / "v-files"
    cache._build_view(view, [Row()], "files")
    cache.evict(keep=view)
    assert not cache.blob_path(sha).exists()
    assert (view / "a" / "b.png").read_bytes() == b"image bytes"


def test_a_view_in_use_by_another_process_is_not_evicted(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.ensure_ready()
    sha, key = put(store, b"image bytes")

    class Row:
        path, class_name, sha256, storage_key, format = "x.png", None, sha, key, "PNG"

    reader = DatasetCache(tmp_path / "cache", store, max_bytes=0)
    used, unused = (tmp_path / "cache" / "views" / name for name in ("used", "unused"))
    for view in (used, unused):
        reader._build_view(view, [Row()], "files")
    reader.fetch_blob(sha, key)
    reader._hold(used)  # a job of this process reads it
    other_worker = DatasetCache(tmp_path / "cache", store, max_bytes=0)
    other_worker.evict()
    assert (used / "x.png").exists() and not unused.exists()
