"""The FastAPI application: ``uvicorn api.main:app`` (settings from HATCHERY_* variables)."""

from __future__ import annotations

import contextlib
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.admin.router import router as admin_router
from api.auth.router import router as auth_router
from api.datasets.router import router as datasets_router
from api.datasets.uploads_router import router as uploads_router
from api.datasets.versions_router import router as versions_router
from api.health_router import router as health_router
from api.jobs.router import router as jobs_router
from api.kit.auth_cache import AuthCache
from api.kit.db import create_db_engine, make_read_session_factory, make_session_factory
from api.kit.deps import SESSION_EXIT_THREADS
from api.kit.dispatch import CeleryDispatcher, Dispatcher
from api.kit.docs_pages import install_docs_pages
from api.kit.frontend import install_frontend
from api.kit.gc_tuning import tune_for_serving
from api.kit.limits import BodySizeLimit
from api.kit.observability import configure_logging, install_observability
from api.kit.problems import install_problem_handlers
from api.kit.settings import Settings, get_settings
from api.kit.storage import ObjectStore, build_store
from api.objects_router import router as objects_router
from api.predictions.router import router as predictions_router
from api.projects.router import router as projects_router
from api.registry.router import router as registry_router
from api.tenants.router import router as tenants_router

API_DESCRIPTION = """
Hatchery's REST API. Authenticate with `Authorization: Bearer <token>`, where the token is an
access token from `/api/v1/auth/login` or an organization API key (`hk_...`). A user who
belongs to several organizations names one in `X-Hatchery-Organization`. Every error is an
RFC 9457 `application/problem+json` document.
"""

# Requests are matched against the routes in this order, one route at a time (measured: 11% of
# a job submit's CPU went to matching it when the jobs routes came eighth), so the routers
# that serve the most requests come first. Order never changes which route a path reaches:
# tests/unit/test_routes.py checks that no route can catch another router's paths.
ROUTERS = (jobs_router, datasets_router, uploads_router, versions_router, registry_router,
           predictions_router, projects_router, objects_router, auth_router, tenants_router,
           admin_router, health_router)


def create_app(settings: Settings | None = None, dispatcher: Dispatcher | None = None,
               store: ObjectStore | None = None, tune_gc: bool = False) -> FastAPI:
    """The API. ``tune_gc``: the process serves only this app from now on, so its garbage
    collector is set for serving once startup is done (``api.kit.gc_tuning``); ``api.main:app``
    is made so, apps that tests make and drop are not."""
    settings = settings or get_settings()
    engine = create_db_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        with contextlib.suppress(Exception):  # /readyz reports it; the API serves what it can
            app.state.store.ensure_ready()
        if tune_gc:
            tune_for_serving()  # last: after startup made what it keeps
        yield
        app.state.dispatcher.close()
        engine.dispose()

    # FastAPI's own OpenTelemetry hooks are off: the service exports Prometheus metrics and
    # JSON logs (api/kit/observability.py), and the hooks look up a tracer on every request.
    # /docs and /redoc come from local assets (api/kit/docs_pages.py), not FastAPI's CDN pages.
    app = FastAPI(title="Hatchery", version="1.0.0", description=API_DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False,
                             "operation_spans": False})
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.read_session_factory = make_read_session_factory(engine)
    app.state.session_exit = anyio.CapacityLimiter(SESSION_EXIT_THREADS)
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
    app.state.store = store or build_store(settings)
    app.state.dispatcher = dispatcher or CeleryDispatcher(
        settings.broker_url, settings.message_expires_seconds, separate_process=True)

    configure_logging(settings.log_level)
    install_problem_handlers(app)
    install_observability(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"],
                           expose_headers=["X-Request-ID"])
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    for router in ROUTERS:
        app.include_router(router)
    install_docs_pages(app)
    install_frontend(app)  # last: its fallback serves the browser app's pages
    return app


def __getattr__(name: str):
    """``api.main:app`` builds the app on first use, so importing this module is cheap."""
    if name == "app":
        application = create_app(tune_gc=True)
        globals()["app"] = application
        return application
    raise AttributeError(name)
