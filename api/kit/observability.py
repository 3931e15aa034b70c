"""Request ids, structured (JSON) access logs and Prometheus metrics."""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.kit.problems import NotFound, Unauthorized

REQUEST_ID_HEADER = "X-Request-ID"
access_log = logging.getLogger("hatchery.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: int | str = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("hatchery")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class ObservabilityMiddleware:
    """Pure ASGI middleware: a request id (kept from ``X-Request-ID`` or made), one JSON
    access-log line and the Prometheus counters for every HTTP request."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(scope["method"], route).observe(seconds)
            access_log.info("request", extra={"fields": {
                "request_id": request_id, "method": scope["method"], "route": route,
                "status": status, "ms": round(seconds * 1000, 2)}})


def install_observability(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Counter("hatchery_http_requests_total", "HTTP requests",
                       ["method", "route", "status"], registry=registry)
    latency = Histogram("hatchery_http_request_seconds", "HTTP request latency",
                        ["method", "route"], registry=registry)
    app.state.metrics_registry = registry
    app.add_middleware(ObservabilityMiddleware, requests=requests, latency=latency)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus metrics: open outside production; in production only with
        ``Authorization: Bearer <HATCHERY_METRICS_TOKEN>`` (and off without that token)."""
        settings = request.app.state.settings
        if settings.environment == "production":
            token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
            if not token:
                raise NotFound("metrics are off: set HATCHERY_METRICS_TOKEN to scrape them")
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise Unauthorized("send 'Authorization: Bearer <metrics token>'")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
