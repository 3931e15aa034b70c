"""Login, tokens, rate limits, API keys, roles, invitations and the audit log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from api.kit.settings import Settings
from api.models.auth import LoginFailure
from tests.integration.conftest import PASSWORD, Member, make_api, production_settings
from worker.embedded import secret_beside


def login(api, email: str, password: str = PASSWORD, client=None):
    return (client or api.client).post("/api/v1/auth/login",
                                       json={"email": email, "password": password})


def test_login_refresh_rotation_and_logout(api):
    member = api.signup()
    tokens = login(api, member.email.upper()).json()  # e-mail is case-insensitive
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 15 * 60
    renewed = api.client.post("/api/v1/auth/refresh",
                              json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    reused = api.client.post("/api/v1/auth/refresh",
                             json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401  # rotated: the old one is dead
    assert reused.headers["content-type"] == "application/problem+json"
    new_refresh = renewed.json()["refresh_token"]
    new_access = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert api.client.get("/api/v1/auth/me", headers=new_access).status_code == 200
    assert api.client.post("/api/v1/auth/logout",
                           json={"refresh_token": new_refresh}).status_code == 204
    assert api.client.post("/api/v1/auth/refresh",
                           json={"refresh_token": new_refresh}).status_code == 401
    # Logging out ends the login's access tokens too, not only its refresh token.
    logged_out = api.client.get("/api/v1/auth/me", headers=new_access)
    assert logged_out.status_code == 401 and "logged out" in logged_out.json()["detail"]
    assert login(api, member.email).status_code == 200  # a new login works
    bad = api.client.get("/api/v1/projects", headers={"Authorization": "Bearer forged.token"})
    assert bad.status_code == 401 and bad.json()["title"] == "Unauthorized"


def _age_failures(api, seconds: float) -> None:
    """As if ``seconds`` had passed since every recorded failure (no test waits)."""
    with api.session() as session:
        for failure in session.scalars(select(LoginFailure)):
            failure.created_at -= timedelta(seconds=seconds)
        session.commit()


def test_failed_logins_pause_the_account_with_backoff_not_its_neighbours(postgres_url,
                                                                         s3_server):
    settings = production_settings(postgres_url, s3_server)
    settings = settings.model_copy(update={"login_failures_per_window": 3})
    for api in make_api(settings):
        alice, bob = api.signup(), api.signup()
        address = f"10.0.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
        with TestClient(api.app, client=(address, 5000)) as client:
            statuses = [login(api, alice.email, "wrong password!", client).status_code
                        for _ in range(4)]
            assert statuses == [401, 401, 401, 429]
            limited = login(api, alice.email, client=client)  # even the right password
            assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
            assert limited.json()["retry_after"] == 1
            # Bob, behind the same address, is not held back by Alice's failures.
            assert login(api, bob.email, client=client).status_code == 200
            # The pause doubles with each further failure instead of locking her out.
            _age_failures(api, 1.5)
            assert login(api, alice.email, "wrong again!!", client).status_code == 401
            assert login(api, alice.email, client=client).headers["Retry-After"] == "2"
            _age_failures(api, 2.5)
            assert login(api, alice.email, client=client).status_code == 200


def test_failed_logins_from_one_address_pause_that_address(postgres_url, s3_server):
    settings = production_settings(postgres_url, s3_server)
    settings = settings.model_copy(update={"login_failures_per_address": 4})
    for api in make_api(settings):
        member = api.signup()
        address = f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
        with TestClient(api.app, client=(address, 5000)) as client:
            guesses = [login(api, f"{uuid.uuid4().hex}@example.com", "guess!!!!", client)
                       for _ in range(5)]
            assert [r.status_code for r in guesses] == [401, 401, 401, 401, 429]
            assert login(api, member.email, client=client).status_code == 429
        with TestClient(api.app, client=("10.2.0.1", 5000)) as elsewhere:
            assert login(api, member.email, client=elsewhere).status_code == 200


def test_api_keys_scopes_expiry_revocation(api):
    owner = api.signup()
    read_key = owner.ok("POST", "/api/v1/api-keys", 201,
                        json={"name": "reader", "scopes": ["read"]})
    write_key = owner.ok("POST", "/api/v1/api-keys", 201,
                         json={"name": "writer", "scopes": ["write"]})
    assert read_key["key"].startswith(f"hk_{read_key['prefix']}_")
    listed = owner.ok("GET", "/api/v1/api-keys")
    assert all("key" not in row for row in listed)  # the secret is shown once

    reader = {"Authorization": f"Bearer {read_key['key']}"}
    writer = {"Authorization": f"Bearer {write_key['key']}"}
    assert api.client.get("/api/v1/projects", headers=reader).status_code == 200
    refused = api.client.post("/api/v1/projects", headers=reader, json={"name": "x"})
    assert refused.status_code == 403 and "member role" in refused.json()["detail"]
    assert api.client.post("/api/v1/projects", headers=writer,
                           json={"name": "x"}).status_code == 201
    assert api.client.post("/api/v1/api-keys", headers=writer,
                           json={"name": "y"}).status_code == 403  # keys need admin

    owner.ok("DELETE", f"/api/v1/api-keys/{read_key['id']}")
    assert api.client.get("/api/v1/projects", headers=reader).status_code == 401
    wrong_secret = read_key["key"][:-3] + "abc"
    assert api.client.get("/api/v1/projects",
                          headers={"Authorization": f"Bearer {wrong_secret}"}).status_code == 401
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert owner.post("/api/v1/api-keys", json={"name": "old", "expires_at": past}
                      ).status_code == 422
    used = owner.ok("GET", "/api/v1/api-keys")
    assert any(row["last_used_at"] for row in used if row["id"] == write_key["id"])


def test_roles_invitations_and_audit(api):
    owner = api.signup()
    invitee_api_member = api.signup("Invitee's own org")
    invitation = owner.ok("POST", "/api/v1/invitations", 201,
                          json={"email": invitee_api_member.email, "role": "viewer"})
    joined = invitee_api_member.ok("POST", "/api/v1/invitations/accept",
                                   json={"token": invitation["token"]},
                                   headers={"X-Hatchery-Organization":
                                            invitee_api_member.organization_id})
    assert joined["id"] == owner.organization_id
    viewer = Member(api, invitee_api_member.email, invitee_api_member.token,
                    owner.organization_id)
    assert viewer.get("/api/v1/projects").status_code == 200
    assert viewer.post("/api/v1/projects", json={"name": "nope"}).status_code == 403
    # A user in two organizations must say which one.
    both = viewer.api.client.get("/api/v1/projects",
                                 headers={"Authorization": f"Bearer {viewer.token}"})
    assert both.status_code == 400 and "X-Hatchery-Organization" in both.json()["detail"]

    viewer_id = viewer.ok("GET", "/api/v1/auth/me")["id"]
    owner.ok("PATCH", f"/api/v1/members/{viewer_id}", json={"role": "admin"})
    # An admin may not make owners, nor demote the last owner.
    owner_id = owner.ok("GET", "/api/v1/auth/me")["id"]
    assert viewer.patch(f"/api/v1/members/{owner_id}",
                        json={"role": "member"}).status_code == 403
    assert owner.patch(f"/api/v1/members/{owner_id}",
                       json={"role": "admin"}).status_code == 409
    project = owner.ok("POST", "/api/v1/projects", 201, json={"name": "to delete"})
    owner.ok("DELETE", f"/api/v1/projects/{project['id']}", 204)
    login(api, owner.email)

    actions = {event["action"] for event in owner.ok("GET", "/api/v1/audit-events")}
    assert {"login", "invitation.created", "member.role_changed",
            "project.deleted"} <= actions


def test_secret_key_is_refused_at_a_default_or_short_in_production():
    for published in (None, "change-me", "short but private"):
        with pytest.raises(ValidationError, match="HATCHERY_SECRET_KEY"):
            Settings(environment="production",
                     **({"secret_key": published} if published else {}))
    Settings(environment="production", secret_key="a real secret of 32 characters or more")


def test_the_embedded_secret_is_random_private_and_kept(tmp_path):
    database = f"sqlite:///{tmp_path / 'runs' / 'hatchery.db'}"
    first = secret_beside(database)
    assert len(first) >= 48 and first == secret_beside(database)
    assert (tmp_path / "runs" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert secret_beside(f"sqlite:///{tmp_path / 'other' / 'h.db'}") != first
    (tmp_path / "runs" / "secret_key").write_text("")  # cut short by a crash
    assert len(secret_beside(database)) >= 48


def test_health_metrics_and_request_ids(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz").json()
    assert ready["checks"]["database"] == "ok" and ready["checks"]["storage"] == "ok"
    response = api.client.get("/api/v1/projects", headers={"X-Request-ID": "trace-123"})
    assert response.headers["X-Request-ID"] == "trace-123"
    assert response.json()["request_id"] == "trace-123"
    metrics = api.client.get("/metrics").text
    assert 'hatchery_http_requests_total{method="GET",route="/api/v1/projects",status="401"}' \
        in metrics
    document = api.client.get("/openapi.json").json()
    assert document["info"]["title"] == "Hatchery"
    assert "examples" in str(document["components"]["schemas"]["SignupRequest"])
