"""Fixtures for the API's integration tests: real Postgres + SeaweedFS, or SQLite + a folder.

Each session migrates one fresh Postgres database with Alembic and starts one SeaweedFS; each
test gets a new app on them and makes its own organizations (tenancy keeps tests apart).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.kit.db import create_db_engine, make_session_factory
from api.kit.dispatch import Dispatcher, RecordingDispatcher
from api.kit.settings import Settings
from api.main import create_app
from api.migrate import migrate_database
from api.models.projects import Project
from api.models.tenants import Organization
from tests.integration.servers import S3Server, postgres_database, seaweedfs

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        migrate_database(url)
        yield url


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'hatchery.db'}"
    migrate_database(url)
    return url


def production_settings(postgres_url: str, s3: S3Server, **overrides) -> Settings:
    return Settings(environment="test", database_url=postgres_url,
                    storage_url=f"s3://hatchery-{uuid.uuid4().hex[:8]}",
                    s3_endpoint=s3.endpoint, s3_access_key=s3.access_key,
                    s3_secret_key=s3.secret_key, login_failures_per_window=1000, **overrides)


@dataclass
class Api:
    """A TestClient on one app, plus what the tests need to look behind it."""

    client: TestClient
    settings: Settings
    dispatcher: Dispatcher
    users: list[Member] = field(default_factory=list)

    @property
    def app(self):
        return self.client.app

    @property
    def store(self):
        return self.client.app.state.store

    def session(self):
        return self.client.app.state.session_factory()

    def signup(self, organization: str = "Acme Castings") -> Member:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        response = self.client.post("/api/v1/auth/signup", json={
            "email": email, "password": PASSWORD, "organization_name": organization})
        assert response.status_code == 201, response.text
        member = Member(self, email, response.json()["access_token"])
        member.organization_id = self.client.get(
            "/api/v1/organization", headers=member.headers).json()["id"]
        return member


@dataclass
class Member:
    api: Api
    email: str
    token: str
    organization_id: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}",
                "X-Hatchery-Organization": self.organization_id} if self.organization_id \
            else {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.api.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs) -> dict:
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json() if response.content else {}


def make_api(settings: Settings, dispatcher: Dispatcher | None = None) -> Iterator[Api]:
    """The app on ``settings``; jobs are only recorded unless a real dispatcher is given."""
    dispatcher = dispatcher or RecordingDispatcher()
    app = create_app(settings, dispatcher=dispatcher)
    with TestClient(app) as client:
        yield Api(client, settings, dispatcher)


@pytest.fixture
def api(postgres_url, s3_server) -> Iterator[Api]:
    """The API on Postgres and SeaweedFS (production wiring)."""
    yield from make_api(production_settings(postgres_url, s3_server))


@pytest.fixture(params=["postgres+s3", "sqlite+folder"])
def any_api(request, tmp_path) -> Iterator[Api]:
    """The same API in production wiring and in embedded mode."""
    if request.param == "postgres+s3":
        settings = production_settings(request.getfixturevalue("postgres_url"),
                                       request.getfixturevalue("s3_server"))
    else:
        settings = Settings(environment="test", database_url=request.getfixturevalue(
            "sqlite_url"), storage_url=f"file://{tmp_path / 'objects'}",
            login_failures_per_window=1000)
    yield from make_api(settings)


@pytest.fixture(params=["postgres", "sqlite"])
def factory(request, tmp_path):
    """Sessions on a fresh, migrated database: Postgres, then SQLite."""
    if request.param == "postgres":
        with postgres_database() as url:
            migrate_database(url)
            engine = create_db_engine(url)
            yield make_session_factory(engine)
            engine.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'scheduler.db'}"
        migrate_database(url)
        engine = create_db_engine(url)
        yield make_session_factory(engine)
        engine.dispose()


def organization(factory, concurrent_jobs: int = 4) -> tuple[uuid.UUID, uuid.UUID]:
    with factory() as session:
        org = Organization(name="o", slug=uuid.uuid4().hex, storage_bytes_quota=10**9,
                           images_per_dataset_quota=100, concurrent_jobs_quota=concurrent_jobs,
                           gpu_hours_per_month_quota=10)
        session.add(org)
        session.flush()
        project = Project(organization_id=org.id, name="p")
        session.add(project)
        session.commit()
        return org.id, project.id


NEU_IMAGES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "neu-det"
