"""RFC 9457 problem details for every error the API returns.

Raise ``Problem`` (or a subclass) anywhere below a router; the handlers installed by
``install_problem_handlers`` turn it, FastAPI's validation errors and any HTTP error into an
``application/problem+json`` body: type, title, status, detail, instance, plus extra members.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://hatchery.dev/problems/"
log = logging.getLogger("hatchery.api")


class Problem(Exception):
    """An error with an HTTP status that the client can act on."""

    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, *, status: int | None = None, title: str | None = None,
                 slug: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status or self.status
        self.title = title or self.title
        self.slug = slug or self.slug
        self.extra = extra


class NotFound(Problem):
    status, title, slug = 404, "Not found", "not-found"


class Forbidden(Problem):
    status, title, slug = 403, "Forbidden", "forbidden"


class Unauthorized(Problem):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Conflict(Problem):
    status, title, slug = 409, "Conflict", "conflict"


class Unprocessable(Problem):
    status, title, slug = 422, "Unprocessable content", "validation-error"


class TooLarge(Problem):
    status, title, slug = 413, "Content too large", "too-large"


class QuotaExceeded(Problem):
    status, title, slug = 429, "Quota exceeded", "quota-exceeded"


class RateLimited(Problem):
    status, title, slug = 429, "Too many requests", "rate-limited"


def problem_response(request: Request, status: int, title: str, detail: str, slug: str,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
            "instance": request.url.path, **extra}
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE,
                        headers=headers)


def _field_path(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(part) for part in location)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
        if "retry_after" in error.extra:
            headers["Retry-After"] = str(error.extra["retry_after"])
        return problem_response(request, error.status, error.title, error.detail, error.slug,
                                headers, **error.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field_path(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
                  for e in error.errors()]
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        return problem_response(request, 422, "Unprocessable content",
                                f"{first['field']}: {first['message']}", "validation-error",
                                errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}.get(
            error.status_code, "HTTP error")
        return problem_response(request, error.status_code, title, str(error.detail),
                                title.lower().replace(" ", "-"))

    @app.exception_handler(IntegrityError)
    async def _raced(request: Request, error: IntegrityError) -> JSONResponse:
        """Two requests that made the same unique thing at the same moment: the later one
        is told so instead of a 500 (each path checks before it writes; this is the race)."""
        log.warning("integrity conflict on %s %s: %s", request.method, request.url.path,
                    str(error.orig).splitlines()[0] if error.orig else error)
        return problem_response(request, 409, "Conflict", "the request conflicts with data "
                                "saved at the same moment; try again", "conflict")

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, error: DataError) -> JSONResponse:
        """A value the database cannot hold (a NUL in text, a number out of range): 422."""
        reason = str(error.orig).splitlines()[0] if error.orig else "invalid value"
        if "NUL" in reason:
            reason = "text must not contain NUL (\\u0000) characters"
        log.warning("refused unstorable value on %s %s: %s", request.method, request.url.path,
                    reason)
        return problem_response(request, 422, "Unprocessable content",
                                f"a value cannot be stored: {reason}", "validation-error")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "Internal server error",
                                "an unexpected error occurred; the request id identifies it "
                                "in the logs", "internal-error")
