"""The browser app (frontend/, built into frontend/dist) served by the API at ``/``.

- ``/assets/*``: Vite's content-hashed files, cached for good (``immutable``);
- any other GET that is not the API's (``/api/``, ``/docs``, ``/redoc``, ``/openapi.json``,
  ``/static/``, ``/metrics``, ``/healthz``, ``/readyz``): ``index.html``, never cached, so
  the app's own router shows the page (a reload of ``/projects/<id>`` works);
- an unknown API path stays a problem+json 404 (405 where another method would match).

Installed after every router, so the API's routes always match first. Without a build
(``make frontend`` not run), ``/`` says how to make one.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Scope

DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# Paths the API answers itself: never the app's index.html.
API_PREFIXES = ("api/", "docs", "redoc", "openapi.json", "static/", "metrics", "healthz",
                "readyz")
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hatchery</title>
</head><body><main><h1>Hatchery</h1><p>The browser app is not built: run <code>make frontend
</code> (or <code>make run</code>). The API is at <a href="/docs">/docs</a>.</p></main></body>
</html>"""


class HashedAssets(StaticFiles):
    """Static files whose names carry their content hash: cached forever by browsers."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = IMMUTABLE
        return response


def _other_method_matches(app: FastAPI, scope: Scope, fallback) -> bool:
    """Whether an API route matches this path with another method (answer 405, not 404)."""
    return any(route is not fallback and route.matches(scope)[0] == Match.PARTIAL
               for route in app.router.routes)


def install_frontend(app: FastAPI, dist: Path = DIST) -> None:
    """Serve the built app from ``dist`` at ``/`` (call after including every router)."""
    assets = dist / "assets"
    if assets.is_dir():
        app.mount("/assets", HashedAssets(directory=assets), name="frontend-assets")

    @app.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def browser_app(path: str, request: Request) -> Response:
        if path.startswith(API_PREFIXES):
            route = next(r for r in app.router.routes if getattr(r, "name", "") == "browser_app")
            if _other_method_matches(app, request.scope, route):
                raise HTTPException(405, "method not allowed on this path")
            raise HTTPException(404, f"no such path: /{path}")
        file = dist / path
        if path and file.is_file() and file.resolve().is_relative_to(dist.resolve()):
            return FileResponse(file, headers={"Cache-Control": NO_CACHE})
        index = dist / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, headers={"Cache-Control": NO_CACHE})
        return FileResponse(index, headers={"Cache-Control": NO_CACHE})
