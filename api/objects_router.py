"""/api/v1/objects/{token}: the local store's presigned GET and PUT (embedded mode)."""

from __future__ import annotations

import tempfile

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from api.kit.problems import Forbidden, NotFound, Problem, TooLarge
from api.kit.storage.local import LocalStore
from api.kit.storage.signing import read_object_token

router = APIRouter(prefix="/api/v1/objects", tags=["objects"], include_in_schema=False)


def _claims(request: Request, token: str, method: str) -> tuple[LocalStore, dict]:
    store = request.app.state.store
    if not isinstance(store, LocalStore):
        raise NotFound("presigned object URLs are served by the S3 server in this deployment")
    claims = read_object_token(request.app.state.settings.secret_key.get_secret_value(), token)
    if claims is None or claims["m"] != method:
        raise Forbidden("the object URL is invalid or expired")
    return store, claims


@router.get("/{token}")
def get_object(token: str, request: Request) -> Response:
    store, claims = _claims(request, token, "GET")
    path = store.path_of(claims["k"])
    if not path.is_file():
        raise NotFound("object not found")
    return FileResponse(path, filename=claims.get("f"), media_type=store.content_type(claims["k"]))


@router.put("/{token}", status_code=200)
async def put_object(token: str, request: Request) -> dict[str, int]:
    store, claims = _claims(request, token, "PUT")
    limit = request.app.state.settings.max_image_bytes
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as buffer:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"one object is limited to {limit} bytes")
            buffer.write(chunk)
        if size == 0:
            raise Problem("empty body")
        buffer.seek(0)
        store.put_file(claims["k"], buffer, size, request.headers.get("content-type", ""))
    return {"size": size}
