"""Objects as files under one folder (embedded mode).

Presigned URLs point at the API's own ``/api/v1/objects/{token}`` route: the token is the key,
the method and an expiry, signed with the service secret (see api/objects).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from api.kit.storage.base import StoredObject
from api.kit.storage.signing import sign_object_token

DEFAULT_CONTENT_TYPE = "application/octet-stream"
CHUNK = 1024 * 1024


class LocalStore:
    def __init__(self, root: str | Path, secret: str = "", public_base: str = "") -> None:
        self.root = Path(root).resolve()
        self.secret = secret
        self.public_base = public_base.rstrip("/")

    def path_of(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"object key {key!r} leaves the store")
        return path

    def ensure_ready(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def put_file(self, key: str, stream: BinaryIO, size: int, content_type: str) -> None:
        """The object, and beside it (as S3 keeps it) the content type it was stored with."""
        path = self.path_of(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._type_path(path).write_text(content_type or DEFAULT_CONTENT_TYPE)

    @staticmethod
    def _type_path(path: Path) -> Path:
        return path.with_name(f".{path.name}.content-type")

    def content_type(self, key: str) -> str:
        """The content type the object was stored with."""
        kept = self._type_path(self.path_of(key))
        return kept.read_text() if kept.is_file() else DEFAULT_CONTENT_TYPE

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        import io

        self.put_file(key, io.BytesIO(data), len(data), content_type)

    def get_bytes(self, key: str) -> bytes:
        return self.path_of(key).read_bytes()

    def open(self, key: str) -> BinaryIO:
        return self.path_of(key).open("rb")

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def size(self, key: str) -> int:
        return self.path_of(key).stat().st_size

    def delete(self, key: str) -> None:
        path = self.path_of(key)
        path.unlink(missing_ok=True)
        self._type_path(path).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        base = self.root / prefix
        folder = base if base.is_dir() else base.parent
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.startswith("."):
                yield StoredObject(key, path.stat().st_size)

    def presigned_get(self, key: str, seconds: int, filename: str | None = None) -> str:
        token = sign_object_token(self.secret, key, "GET", seconds, filename)
        return f"{self.public_base}/api/v1/objects/{token}"

    def presigned_put(self, key: str, seconds: int) -> str:
        token = sign_object_token(self.secret, key, "PUT", seconds)
        return f"{self.public_base}/api/v1/objects/{token}"
