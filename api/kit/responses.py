"""JSON responses serialized inside the endpoint.

A sync endpoint that returns a model makes FastAPI validate it against the response model
in one more thread-pool hop, after the endpoint's own: under load every request then waits
for a pool thread twice. Hot endpoints return ``json_response(model)`` instead (pydantic's
Rust serializer, no second hop) and keep ``response_model`` for the OpenAPI document.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code,
                    media_type="application/json")
