"""Request ids, structured (JSON) access logs and Prometheus metrics."""

from __future__ import annotations

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


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("hatchery")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def install_observability(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Counter("hatchery_http_requests_total", "HTTP requests",
                       ["method", "route", "status"], registry=registry)
    latency = Histogram("hatchery_http_request_seconds", "HTTP request latency",
                        ["method", "route"], registry=registry)
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def _observe(request: Request, call_next) -> Response:
        request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        request.state.request_id = request_id
        started = time.perf_counter()
        response = await call_next(request)
        seconds = time.perf_counter() - started
        route = getattr(request.scope.get("route"), "path", "unmatched")
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(request.method, route).observe(seconds)
        response.headers[REQUEST_ID_HEADER] = request_id
        access_log.info("request", extra={"fields": {
            "request_id": request_id, "method": request.method, "route": route,
            "status": response.status_code, "ms": round(seconds * 1000, 2)}})
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
