"""The API serves the browser app at ``/``: hashed assets cached for good, index.html never,
app paths fall back to index.html, API paths stay problem+json."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.kit.frontend import IMMUTABLE, install_frontend


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    app = FastAPI()

    @app.get("/api/v1/things")
    def things() -> list[str]:
        return ["a"]

    @app.post("/api/v1/only-post")
    def only_post() -> None:
        return None

    install_frontend(app, tmp_path)
    return TestClient(app)


def test_hashed_assets_are_immutable_and_index_is_never_cached(client):
    asset = client.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.headers["cache-control"] == IMMUTABLE
    index = client.get("/")
    assert index.status_code == 200 and "id=root" in index.text
    assert index.headers["cache-control"] == "no-cache"
    assert client.head("/").status_code == 200
    assert client.get("/favicon.svg").text == "<svg/>"


def test_app_paths_fall_back_to_index_html(client):
    page = client.get("/projects/0b7e6f1e-3a4d-4f0e-9d55-2f1f4a1c0b7e/train")
    assert page.status_code == 200 and "id=root" in page.text
    assert page.headers["cache-control"] == "no-cache"


def test_api_paths_stay_the_apis(client):
    assert client.get("/api/v1/things").json() == ["a"]
    assert client.get("/api/v1/nothing-here").status_code == 404
    assert client.get("/api/v1/only-post").status_code == 405
    assert client.get("/assets/missing.js").status_code == 404
    assert client.get("/../pyproject.toml").status_code in (200, 404)
    assert "[project]" not in client.get("/..%2Fpyproject.toml").text


def test_without_a_build_the_page_says_how_to_make_one(tmp_path):
    app = FastAPI()
    install_frontend(app, tmp_path / "missing")
    page = TestClient(app).get("/")
    assert page.status_code == 200 and "make frontend" in page.text
