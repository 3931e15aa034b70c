"""The browser app's typed client is generated from frontend/openapi.json: it must be the live
app's document, so a renamed field breaks the frontend's build (``tsc``), not the user."""

from __future__ import annotations

from pathlib import Path

from api.openapi_document import openapi_text

COMMITTED = Path(__file__).resolve().parents[2] / "frontend" / "openapi.json"


def test_the_committed_openapi_document_is_the_live_apps():
    assert COMMITTED.read_text() == openapi_text(), (
        "frontend/openapi.json is stale: run `make frontend` (it regenerates the document "
        "and the typed client) and commit both")
