"""The API's OpenAPI document as the browser app's typed client is generated from it.

    python -m api.openapi_document frontend/openapi.json

writes it (sorted keys, 2-space indent, a final newline) when it changed; ``make frontend``
runs it before ``openapi-typescript``, and ``tests/unit/test_openapi_document.py`` checks
that the committed file is the live app's.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from api.kit.dispatch import RecordingDispatcher
from api.kit.settings import Settings
from api.kit.storage.local import LocalStore
from api.main import create_app


def openapi_text() -> str:
    """The document of an app built with test settings (no database or broker is touched)."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(environment="test", database_url=f"sqlite:///{folder}/x.db",
                            storage_url=f"file://{folder}/objects")
        app = create_app(settings, dispatcher=RecordingDispatcher(),
                         store=LocalStore(Path(folder) / "objects"))
        return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m api.openapi_document OUT.json", file=sys.stderr)
        return 2
    out = Path(argv[0])
    text = openapi_text()
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
