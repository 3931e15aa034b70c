"""The object-store interface the API and the workers use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class ObjectStore(Protocol):
    def ensure_ready(self) -> None:
        """Create the bucket/folder if needed; raise if the store is unreachable."""

    def put_file(self, key: str, stream: BinaryIO, size: int, content_type: str) -> None:
        """Store ``size`` bytes read from ``stream`` under ``key`` (streamed, not buffered)."""

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object; the caller closes it."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str) -> Iterator[StoredObject]: ...

    def presigned_get(self, key: str, seconds: int, filename: str | None = None) -> str:
        """A URL that downloads the object without credentials, valid for ``seconds``."""

    def presigned_put(self, key: str, seconds: int) -> str:
        """A URL that accepts one PUT of the object's bytes, valid for ``seconds``."""
